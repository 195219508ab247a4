package probe_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/daned/daned/internal/testcert"
)

// testPKI is a CA and a leaf it signed, made at test time.
type testPKI struct {
	ca, leaf *x509.Certificate
	cert     tls.Certificate // leaf first, then the CA
}

// fixedNow keeps certificate dates deterministic; the probe does not check
// them anyway.
var fixedNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// pki is made once and shared by every test of the package.
var pki = sync.OnceValues(func() (*testPKI, error) {
	ca, err := testcert.Make(testcert.Spec{CommonName: "daned test CA", CA: true,
		NotBefore: fixedNow.Add(-time.Hour), NotAfter: fixedNow.Add(10 * 365 * 24 * time.Hour)})
	if err != nil {
		return nil, err
	}
	leaf, err := testcert.Make(testcert.Spec{CommonName: "mx.example.net", DNSNames: []string{"mx.example.net"}, Parent: ca,
		NotBefore: fixedNow.Add(-time.Hour), NotAfter: fixedNow.Add(365 * 24 * time.Hour)})
	if err != nil {
		return nil, err
	}
	return &testPKI{ca: ca.Cert, leaf: leaf.Cert, cert: leaf.TLS(ca)}, nil
})

func mustPKI(t *testing.T) *testPKI {
	t.Helper()
	p, err := pki()
	if err != nil {
		t.Fatalf("making test certificates: %v", err)
	}
	return p
}

// testServer is a loopback TCP server. It listens before
// startServer returns, so a client may connect at once.
type testServer struct {
	addr  netip.AddrPort
	mu    sync.Mutex
	conns []net.Conn
}

// startServer listens on address ("127.0.0.1:0" or "[::1]:0") and runs
// handle for every connection. Cleanup closes the listener and every
// connection and waits for the handlers.
func startServer(t *testing.T, address string, handle func(net.Conn)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", address)
	if err != nil {
		t.Fatalf("listen %s: %v", address, err)
	}
	s := &testServer{addr: ln.Addr().(*net.TCPAddr).AddrPort()}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				handle(c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		wg.Wait()
	})
	return s
}

// script is an SMTP server's behaviour. Empty fields take the defaults
// of a well-behaved STARTTLS server.
type script struct {
	banner   []string // full reply lines, such as "220 ready"
	ehlo     []string
	helo     []string
	starttls []string
	// afterSTARTTLS replaces the TLS handshake after a 220 to STARTTLS.
	afterSTARTTLS func(c net.Conn)
	tls           *tls.Config
	quit          chan<- string // receives the QUIT command if non-nil
}

func (s script) handle(c net.Conn) {
	write := func(lines []string) bool {
		_, err := c.Write([]byte(strings.Join(lines, "\r\n") + "\r\n"))
		return err == nil
	}
	or := func(l []string, def ...string) []string {
		if l == nil {
			return def
		}
		return l
	}
	if !write(or(s.banner, "220 mx.example.net ESMTP test")) {
		return
	}
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		verb, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			write(or(s.ehlo, "250-mx.example.net hello", "250-PIPELINING", "250-STARTTLS", "250 8BITMIME"))
		case "HELO":
			write(or(s.helo, "250 mx.example.net"))
		case "STARTTLS":
			reply := or(s.starttls, "220 2.0.0 go ahead")
			write(reply)
			if !strings.HasPrefix(reply[len(reply)-1], "220") {
				continue
			}
			if s.afterSTARTTLS != nil {
				s.afterSTARTTLS(c)
				return
			}
			tc := tls.Server(c, s.tls)
			if tc.Handshake() != nil {
				return
			}
			c, br = tc, bufio.NewReader(tc)
		case "QUIT":
			if s.quit != nil {
				s.quit <- strings.TrimSpace(line)
			}
			write([]string{"221 2.0.0 bye"})
			return
		default:
			write([]string{"502 5.5.2 not implemented"})
		}
	}
}

// tlsConfig returns a server configuration presenting the test chain and
// reporting the SNI it sees on sni.
func tlsConfig(t *testing.T, sni chan<- string) *tls.Config {
	t.Helper()
	p := mustPKI(t)
	return &tls.Config{
		Certificates: []tls.Certificate{p.cert},
		GetConfigForClient: func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
			if sni != nil {
				select {
				case sni <- hi.ServerName:
				default:
				}
			}
			return nil, nil
		},
	}
}

// listenIPv6 reports whether [::1] can be used here.
func listenIPv6(t *testing.T) bool {
	t.Helper()
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}
