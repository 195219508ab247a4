// Package testsmtp runs a real SMTP server for the project's tests:
// Debian's aiosmtpd (python3-aiosmtpd) with a handler that keeps every
// message as received, with its envelope and whether TLS was used, and
// refuses recipients by their local part (refuse-perm* with 550,
// refuse-temp* with 451), on a free loopback port, optionally offering
// STARTTLS with a certificate of a test CA.
package testsmtp

import (
	"bytes"
	"crypto/x509"
	_ "embed"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/daned/daned/internal/testca"
)

// Python is Debian's Python, which python3-aiosmtpd serves (a pyenv
// python3 may come first on PATH).
const Python = "/usr/bin/python3"

// Host is the name in the relay's certificate.
const Host = "relay.test"

//go:embed tlsrptsink.py
var sink []byte

// Relay is a running aiosmtpd.
type Relay struct {
	Addr string     // host:port
	Dir  string     // where it keeps messages (N.eml, N.json)
	Root *testca.CA // the root of its certificate; nil without STARTTLS
}

// Options configure a Relay.
type Options struct {
	STARTTLS bool // offer STARTTLS (and require it before MAIL)
	Size     int  // the SIZE limit; 0 for aiosmtpd's default
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Start runs a relay until the test ends. A missing aiosmtpd fails the
// test with what to install.
func Start(t testing.TB, o Options) *Relay {
	t.Helper()
	if out, err := exec.Command(Python, "-c", "import aiosmtpd").CombinedOutput(); err != nil {
		t.Fatalf("Debian's python3-aiosmtpd is missing (%s -c 'import aiosmtpd': %v %s); `make test` installs it "+
			"(make debian-tools), or run apt-get install python3-aiosmtpd", Python, err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rl := &Relay{Addr: addr, Dir: t.TempDir()}
	code := t.TempDir()
	write(t, filepath.Join(code, "tlsrptsink.py"), sink)
	args := []string{"-m", "aiosmtpd", "-n", "-l", rl.Addr, "-c", "tlsrptsink.Sink"}
	if o.STARTTLS {
		now := time.Now() // the client checks against the real clock
		rl.Root = testca.New(t, "Test Relay Root", now)
		chain, cert := rl.Root.Issue(t, testca.Leaf{DNSNames: []string{Host}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)})
		var certPEM []byte
		for _, c := range chain {
			certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
		if err != nil {
			t.Fatal(err)
		}
		certFile, keyFile := filepath.Join(code, "cert.pem"), filepath.Join(code, "key.pem")
		write(t, certFile, certPEM)
		write(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
		args = append(args, "--tlscert", certFile, "--tlskey", keyFile)
	}
	if o.Size > 0 {
		args = append(args, "-s", strconv.Itoa(o.Size))
	}
	args = append(args, rl.Dir)
	cmd := exec.Command(Python, args...)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+code, "PYTHONDONTWRITEBYTECODE=1")
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	// Ready when it accepts a connection.
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", rl.Addr, time.Second)
		if err == nil {
			c.Close()
			return rl
		}
		if time.Now().After(deadline) {
			t.Fatalf("aiosmtpd on %s did not accept connections within 20s: %v\n%s", rl.Addr, err, out)
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("aiosmtpd exited: %v\n%s", err, out)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func write(t testing.TB, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Message is one message the relay kept.
type Message struct {
	Raw  []byte
	Meta struct {
		MailFrom    string   `json:"mail_from"`
		MailOptions []string `json:"mail_options"`
		RcptTos     []string `json:"rcpt_tos"`
		Helo        string   `json:"helo"`
		TLS         bool     `json:"tls"`
	}
}

// Messages returns the messages kept so far, in order.
func (rl *Relay) Messages(t testing.TB) []Message {
	t.Helper()
	var out []Message
	for n := 1; ; n++ {
		raw, err := os.ReadFile(filepath.Join(rl.Dir, fmt.Sprintf("%d.eml", n)))
		if errors.Is(err, os.ErrNotExist) {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		k := Message{Raw: raw}
		meta, err := os.ReadFile(filepath.Join(rl.Dir, fmt.Sprintf("%d.json", n)))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(meta, &k.Meta); err != nil {
			t.Fatal(err)
		}
		out = append(out, k)
	}
}

// Only returns the one message the relay kept.
func (rl *Relay) Only(t testing.TB) Message {
	t.Helper()
	m := rl.Messages(t)
	if len(m) != 1 {
		t.Fatalf("the relay kept %d messages, want 1", len(m))
	}
	return m[0]
}
