// Package redistest runs a real redis-server (the Debian package) on a
// loopback port for tests: its own configuration file, no persistence,
// its pid file and directory in the test's temporary directory, an
// optional ACL user, optional TLS, and Kill and Restart on the same port
// for failure tests. It is test support: no production package imports it.
package redistest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/daned/daned/internal/testcert"
)

// Binary is the redis-server program the tests run.
const Binary = "/usr/bin/redis-server"

// Config configures a server. The zero value is a server any client may
// use without a password.
type Config struct {
	// User and Password, when set, make an ACL user with the commands
	// and key and channel patterns of ACL (and turn the default user
	// off), so that a test connects as a deployment should.
	User, Password string
	// ACL is the user's rules after "on >password"; "" means
	// "~* &* +@all".
	ACL string
	// TLS makes the server speak TLS only, with a certificate for
	// 127.0.0.1 issued by a CA of its own (CAFile); URL is then
	// rediss://.
	TLS bool
}

// Server is a running redis-server.
type Server struct {
	t    testing.TB
	cfg  Config
	dir  string
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	exit chan struct{}
	log  *lockedWriter

	caFile string
	roots  *x509.CertPool
}

// Start runs a redis-server on a free loopback port until the test ends,
// and returns once it answers. It skips the test when redis-server is not
// installed (the Makefile's TEST_DEPS installs it).
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		t.Skipf("%s is not installed (Debian package redis-server; make test installs it)", Binary)
	}
	s := &Server{t: t, cfg: cfg, dir: t.TempDir()}
	conf := []string{
		"bind 127.0.0.1",
		"protected-mode yes",
		`save ""`,
		"appendonly no",
		"daemonize no",
		"dir " + s.dir,
		"pidfile " + filepath.Join(s.dir, "redis.pid"),
		`logfile ""`,
		"loglevel notice",
	}
	if cfg.User != "" {
		acl := cfg.ACL
		if acl == "" {
			acl = "~* &* +@all"
		}
		conf = append(conf, "user default off", fmt.Sprintf("user %s on >%s %s", cfg.User, cfg.Password, acl))
	}
	if cfg.TLS {
		now := time.Now()
		ca := testcert.New(t, testcert.Spec{CommonName: "redistest CA", CA: true, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)})
		leaf := testcert.New(t, testcert.Spec{CommonName: "127.0.0.1", IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), Parent: ca})
		s.caFile = filepath.Join(s.dir, "ca.pem")
		s.roots = x509.NewCertPool()
		s.roots.AddCert(ca.Cert)
		for name, b := range map[string][]byte{"ca.pem": ca.CertPEM, "cert.pem": leaf.CertPEM, "key.pem": leaf.KeyPEM} {
			if err := os.WriteFile(filepath.Join(s.dir, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		conf = append(conf, "tls-cert-file "+filepath.Join(s.dir, "cert.pem"), "tls-key-file "+filepath.Join(s.dir, "key.pem"),
			"tls-ca-cert-file "+s.caFile, "tls-auth-clients no")
	}
	if err := os.WriteFile(filepath.Join(s.dir, "redis.conf"), []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A free port: taken from the kernel, released, and given to
	// redis-server; another process taking it meanwhile makes start fail
	// clearly, and it is tried again with another.
	var err error
	for range 5 {
		if s.port, err = freePort(); err != nil {
			t.Fatal(err)
		}
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// start runs the server on s.port and waits until it answers.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	port := []string{"--port", strconv.Itoa(s.port)}
	if s.cfg.TLS {
		port = []string{"--port", "0", "--tls-port", strconv.Itoa(s.port)}
	}
	cmd := exec.Command(Binary, append([]string{filepath.Join(s.dir, "redis.conf")}, port...)...)
	log := &lockedWriter{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: %v", err)
	}
	exit := make(chan struct{})
	go func() { cmd.Wait(); close(exit) }()
	s.cmd, s.exit, s.log = cmd, exit, log
	// Readiness: the server answers PING (any reply, NOAUTH included).
	// Polled with backoff, bounded by a generous hang guard.
	deadline := time.Now().Add(30 * time.Second)
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		if s.ping() == nil {
			return nil
		}
		select {
		case <-exit:
			return fmt.Errorf("redistest: redis-server exited at start:\n%s", log.String())
		case <-time.After(delay):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exit
			return fmt.Errorf("redistest: redis-server did not answer within 30s:\n%s", log.String())
		}
	}
}

func (s *Server) ping() error {
	c, err := s.dial(context.Background())
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") && !strings.HasPrefix(line, "-NOAUTH") {
		return fmt.Errorf("redistest: PING answered %q", line)
	}
	return nil
}

// dial connects to the server, over TLS when it speaks TLS.
func (s *Server) dial(ctx context.Context) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if s.cfg.TLS {
		d := tls.Dialer{Config: &tls.Config{RootCAs: s.roots, ServerName: "127.0.0.1"}}
		return d.DialContext(ctx, "tcp", s.Addr())
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", s.Addr())
}

// CAFile returns the PEM file of the CA that issued a TLS server's
// certificate ("" without TLS).
func (s *Server) CAFile() string { return s.caFile }

// Addr returns the server's address, 127.0.0.1:port (the same after a
// Restart).
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL returns the redis:// URL of the server, with the ACL user and
// password when there is one.
func (s *Server) URL() string {
	scheme := "redis"
	if s.cfg.TLS {
		scheme = "rediss"
	}
	if s.cfg.User != "" {
		return fmt.Sprintf("%s://%s:%s@%s/0", scheme, s.cfg.User, s.cfg.Password, s.Addr())
	}
	return scheme + "://" + s.Addr() + "/0"
}

// Kill ends the server with SIGKILL (no shutdown, no goodbye to clients)
// and waits for it to exit. Its data is lost, as in a crash of a
// cache-only Redis.
func (s *Server) Kill() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exit
	s.cmd = nil
}

// Pause stops the server with SIGSTOP: connections stay open and
// nothing answers, as with a Redis hung or far too slow. Resume undoes it.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig os.Signal) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		s.t.Fatal("redistest: the server is not running")
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatal(err)
	}
}

// Restart starts the server again on the same port after Kill, and
// returns once it answers.
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
}

// Log returns what the server has logged so far.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return ""
	}
	return s.log.String()
}

func (s *Server) stop() {
	s.mu.Lock()
	cmd, exit := s.cmd, s.exit
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGCONT)
	cmd.Process.Signal(os.Interrupt)
	select {
	case <-exit:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-exit
	}
}

// Do sends one command to the server as a raw RESP request, as the
// configured user, and returns the reply's first line: a test's way to
// plant, read or delete keys behind daned's back (as an attacker with
// write access to Redis would).
func (s *Server) Do(ctx context.Context, args ...string) (string, error) {
	c, err := s.dial(ctx)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	} else {
		c.SetDeadline(time.Now().Add(10 * time.Second))
	}
	w := bufio.NewWriter(c)
	r := bufio.NewReader(c)
	send := func(args ...string) {
		fmt.Fprintf(w, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(w, "$%d\r\n%s\r\n", len(a), a)
		}
	}
	if s.cfg.User != "" {
		send("AUTH", s.cfg.User, s.cfg.Password)
	}
	send(args...)
	if err := w.Flush(); err != nil {
		return "", err
	}
	if s.cfg.User != "" {
		if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
			return "", fmt.Errorf("redistest: AUTH: %q %v", line, err)
		}
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if strings.HasPrefix(line, "$") {
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return "", nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return "", err
		}
		return string(b[:n]), nil
	}
	if strings.HasPrefix(line, "-") {
		return "", fmt.Errorf("redistest: %s", line[1:])
	}
	return line, nil
}

type lockedWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
