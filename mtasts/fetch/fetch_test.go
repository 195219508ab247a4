package fetch_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/daned/daned/internal/testca"
	"github.com/daned/daned/mtasts"
	"github.com/daned/daned/mtasts/fetch"
	"github.com/daned/daned/probe"
)

const (
	domain     = "example.test"
	policyHost = "mta-sts.example.test"
	goodPolicy = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\nmx: *.mx.example.test\r\nmax_age: 86400\r\n"
)

// pki is the test WebPKI: a root the fetcher trusts, a certificate for
// the policy host from it, and certificates that must fail.
type pki struct {
	root         *testca.CA
	good         tls.Certificate
	rogue        tls.Certificate // from a root nobody trusts
	wrongName    tls.Certificate
	expired      tls.Certificate
	notYetValid  tls.Certificate
	wildcardGood tls.Certificate // *.example.test covers mta-sts.example.test
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	// The HTTPS client checks against the real clock.
	now := time.Now()
	root := testca.New(t, "Test WebPKI Root", now)
	inter := root.Intermediate(t, "Test WebPKI Intermediate", now.AddDate(-1, 0, 0), now.AddDate(5, 0, 0))
	leaf := func(ca *testca.CA, nb, na time.Time, names ...string) tls.Certificate {
		_, tc := ca.Issue(t, testca.Leaf{DNSNames: names, NotBefore: nb, NotAfter: na})
		return tc
	}
	from, to := now.Add(-time.Hour), now.AddDate(0, 3, 0)
	return &pki{
		root:         root,
		good:         leaf(inter, from, to, policyHost),
		rogue:        leaf(testca.New(t, "Rogue Root", now), from, to, policyHost),
		wrongName:    leaf(inter, from, to, "mta-sts.other.test"),
		expired:      leaf(inter, now.AddDate(0, -3, 0), now.Add(-time.Hour), policyHost),
		notYetValid:  leaf(inter, now.Add(time.Hour), to, policyHost),
		wildcardGood: leaf(inter, from, to, "*.example.test"),
	}
}

// policyServer is a real net/http TLS server on a loopback address.
type policyServer struct {
	srv      *httptest.Server
	port     uint16
	requests atomic.Int64 // requests for the policy path
	conns    atomic.Int64 // TCP connections accepted
	mu       sync.Mutex
	sni      []string
}

func startServer(t *testing.T, ip string, cert tls.Certificate, h http.HandlerFunc, tweak func(*tls.Config)) *policyServer {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("listen on %s: %v", ip, err)
	}
	ps := &policyServer{}
	mux := http.NewServeMux()
	mux.HandleFunc(fetch.Path, func(w http.ResponseWriter, r *http.Request) {
		ps.requests.Add(1)
		h(w, r)
	})
	ps.srv = httptest.NewUnstartedServer(mux)
	ps.srv.Listener = ln
	ps.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			ps.conns.Add(1)
		}
	}
	ps.srv.Config.ErrorLog = discardLog()
	ps.srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{cert},
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			ps.mu.Lock()
			ps.sni = append(ps.sni, hello.ServerName)
			ps.mu.Unlock()
			return nil, nil
		},
	}
	if tweak != nil {
		tweak(ps.srv.TLS)
	}
	ps.srv.StartTLS()
	t.Cleanup(ps.srv.Close)
	ps.port = uint16(ln.Addr().(*net.TCPAddr).Port)
	return ps
}

func serve(ct, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ct)
		io.WriteString(w, body)
	}
}

// staticLookup answers every name with addrs and records the names asked.
type staticLookup struct {
	mu    sync.Mutex
	names []string
	addrs []netip.Addr
	err   error
}

func (l *staticLookup) LookupAddrs(_ context.Context, host string) ([]netip.Addr, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.names = append(l.names, host)
	return l.addrs, l.err
}

func lookupOf(addrs ...string) *staticLookup {
	l := &staticLookup{}
	for _, a := range addrs {
		l.addrs = append(l.addrs, netip.MustParseAddr(a))
	}
	return l
}

var allowLoopback = probe.TargetPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}

func newFetcher(t *testing.T, p *pki, port uint16, l fetch.Lookup, targets probe.TargetPolicy) *fetch.Fetcher {
	t.Helper()
	f, err := fetch.New(fetch.Config{Lookup: l, Targets: targets, Roots: p.root.Pool(), Port: port, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func wantError(t *testing.T, err error, reason mtasts.Reason, detail string) *fetch.Error {
	t.Helper()
	var fe *fetch.Error
	if !errors.As(err, &fe) {
		t.Fatalf("error %v, want a *fetch.Error", err)
	}
	if fe.Reason != reason || !strings.Contains(fe.Detail, detail) {
		t.Fatalf("error %v, want %v with %q in the detail", err, reason, detail)
	}
	if fe.Host != policyHost {
		t.Errorf("Host %q, want %q", fe.Host, policyHost)
	}
	t.Logf("%v", err)
	return fe
}

func TestFetchSuccess(t *testing.T) {
	p := newPKI(t)
	for _, tt := range []struct {
		name, ip, ct string
		cert         tls.Certificate
	}{
		{name: "text/plain with charset", ip: "127.0.0.1", ct: "text/plain; charset=utf-8", cert: p.good},
		{name: "bare text/plain on another loopback address", ip: "127.0.0.2", ct: "text/plain", cert: p.good},
		{name: "upper-case media type", ip: "127.0.0.1", ct: "Text/Plain", cert: p.good},
		{name: "wildcard certificate", ip: "127.0.0.1", ct: "text/plain", cert: p.wildcardGood},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, tt.ip, tt.cert, serve(tt.ct, goodPolicy), nil)
			l := lookupOf(tt.ip)
			res, err := newFetcher(t, p, srv.port, l, allowLoopback).Fetch(context.Background(), "Example.TEST.")
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if res.Text != goodPolicy || res.Policy.Mode != mtasts.ModeEnforce || len(res.Policy.MX) != 2 || res.Policy.MaxAge != 86400*time.Second {
				t.Errorf("result %+v", res)
			}
			if want := netip.AddrPortFrom(netip.MustParseAddr(tt.ip), srv.port); res.Addr != want {
				t.Errorf("Addr %v, want %v", res.Addr, want)
			}
			if len(l.names) != 1 || l.names[0] != policyHost {
				t.Errorf("looked up %q, want [%s]", l.names, policyHost)
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			if len(srv.sni) != 1 || srv.sni[0] != policyHost {
				t.Errorf("SNI %q, want [%s]", srv.sni, policyHost)
			}
		})
	}
}

func TestFetchHTTPFailures(t *testing.T) {
	p := newPKI(t)
	exactly64K := goodPolicy + "x: " + strings.Repeat("a", mtasts.MaxPolicySize-len(goodPolicy)-4) + "\n"
	for _, tt := range []struct {
		name    string
		handler http.HandlerFunc
		reason  mtasts.Reason // ReasonNone: success
		detail  string
	}{
		{name: "404", handler: func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) },
			reason: mtasts.ReasonPolicyFetchFailed, detail: "HTTP 404, want 200"},
		{name: "500", handler: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "oops", 500) },
			reason: mtasts.ReasonPolicyFetchFailed, detail: "HTTP 500, want 200"},
		{name: "204", handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) },
			reason: mtasts.ReasonPolicyFetchFailed, detail: "HTTP 204, want 200"},
		{name: "text/html", handler: serve("text/html", goodPolicy),
			reason: mtasts.ReasonPolicyFetchFailed, detail: `Content-Type "text/html", want text/plain`},
		{name: "text/plainx", handler: serve("text/plainx", goodPolicy),
			reason: mtasts.ReasonPolicyFetchFailed, detail: "want text/plain"},
		{name: "no Content-Type", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Content-Type"] = nil // no sniffing either
			io.WriteString(w, goodPolicy)
		}, reason: mtasts.ReasonPolicyFetchFailed, detail: `Content-Type "", want text/plain`},
		{name: "body of exactly 64 KiB", handler: serve("text/plain", exactly64K)},
		{name: "body one byte over 64 KiB", handler: serve("text/plain", exactly64K+"\n"),
			reason: mtasts.ReasonPolicyFetchFailed, detail: "larger than 65536 bytes"},
		{name: "endless body", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			line := []byte("x-padding: " + strings.Repeat("z", 1000) + "\n")
			for {
				if _, err := w.Write(line); err != nil {
					return // the client hung up
				}
			}
		}, reason: mtasts.ReasonPolicyFetchFailed, detail: "larger than 65536 bytes"},
		{name: "invalid policy", handler: serve("text/plain", "version: STSv1\nmode: enforce\nmax_age: 86400\n"),
			reason: mtasts.ReasonPolicyInvalid, detail: "mode enforce needs at least one mx line"},
		{name: "HTML error page served as text/plain", handler: serve("text/plain", "<html>Not here</html>"),
			reason: mtasts.ReasonPolicyInvalid, detail: "invalid MTA-STS policy"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, "127.0.0.1", p.good, tt.handler, nil)
			res, err := newFetcher(t, p, srv.port, lookupOf("127.0.0.1"), allowLoopback).Fetch(context.Background(), domain)
			if tt.reason == mtasts.ReasonNone {
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				if len(res.Text) != mtasts.MaxPolicySize {
					t.Fatalf("body of %d bytes", len(res.Text))
				}
				return
			}
			wantError(t, err, tt.reason, tt.detail)
		})
	}
}

func TestFetchRedirectNotFollowed(t *testing.T) {
	p := newPKI(t)
	var followed atomic.Int64
	srv := startServer(t, "127.0.0.1", p.good, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere.txt", http.StatusMovedPermanently)
	}, nil)
	srv.srv.Config.Handler.(*http.ServeMux).HandleFunc("/elsewhere.txt", func(w http.ResponseWriter, r *http.Request) {
		followed.Add(1)
		serve("text/plain", goodPolicy)(w, r)
	})
	_, err := newFetcher(t, p, srv.port, lookupOf("127.0.0.1"), allowLoopback).Fetch(context.Background(), domain)
	wantError(t, err, mtasts.ReasonPolicyFetchFailed, `HTTP 301 redirect to "/elsewhere.txt", not followed`)
	if n := followed.Load(); n != 0 {
		t.Fatalf("the redirect target was requested %d times", n)
	}
	if n := srv.requests.Load(); n != 1 {
		t.Fatalf("%d requests for the policy, want 1", n)
	}
}

func TestFetchWebPKI(t *testing.T) {
	p := newPKI(t)
	for _, tt := range []struct {
		name string
		cert tls.Certificate
	}{
		{"untrusted root", p.rogue},
		{"certificate for another name", p.wrongName},
		{"expired certificate", p.expired},
		{"certificate not yet valid", p.notYetValid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, "127.0.0.1", tt.cert, serve("text/plain", goodPolicy), nil)
			_, err := newFetcher(t, p, srv.port, lookupOf("127.0.0.1"), allowLoopback).Fetch(context.Background(), domain)
			wantError(t, err, mtasts.ReasonWebPKIInvalid, "is not valid")
			if n := srv.requests.Load(); n != 0 {
				t.Fatalf("%d HTTP requests reached a host whose certificate failed", n)
			}
		})
	}
}

func TestFetchTLSVersion(t *testing.T) {
	p := newPKI(t)
	srv := startServer(t, "127.0.0.1", p.good, serve("text/plain", goodPolicy), func(c *tls.Config) {
		c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	})
	_, err := newFetcher(t, p, srv.port, lookupOf("127.0.0.1"), allowLoopback).Fetch(context.Background(), domain)
	fe := wantError(t, err, mtasts.ReasonPolicyFetchFailed, "")
	if !strings.Contains(fe.Detail, "protocol version") {
		t.Errorf("detail %q does not name the protocol version", fe.Detail)
	}
}

func TestFetchTargetPolicy(t *testing.T) {
	p := newPKI(t)
	t.Run("loopback refused by default", func(t *testing.T) {
		srv := startServer(t, "127.0.0.1", p.good, serve("text/plain", goodPolicy), nil)
		_, err := newFetcher(t, p, srv.port, lookupOf("127.0.0.1", "::1"), probe.TargetPolicy{}).Fetch(context.Background(), domain)
		wantError(t, err, mtasts.ReasonPolicyFetchFailed, "no permitted address: 127.0.0.1 (loopback 127.0.0.0/8), ::1 (loopback ::1/128)")
		if n := srv.conns.Load(); n != 0 {
			t.Fatalf("%d connections reached the server", n)
		}
	})
	t.Run("only the allowed address is dialled", func(t *testing.T) {
		srv := startServer(t, "127.0.0.4", p.good, serve("text/plain", goodPolicy), nil)
		var mu sync.Mutex
		var dialled []string
		dialer := &net.Dialer{Control: func(_, address string, _ syscall.RawConn) error {
			mu.Lock()
			defer mu.Unlock()
			dialled = append(dialled, address)
			return nil
		}}
		targets := probe.TargetPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.4/32")}}
		f, err := fetch.New(fetch.Config{Lookup: lookupOf("10.1.2.3", "127.0.0.3", "127.0.0.4"), Targets: targets, Roots: p.root.Pool(), Port: srv.port, Dialer: dialer})
		if err != nil {
			t.Fatal(err)
		}
		res, err := f.Fetch(context.Background(), domain)
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		if res.Addr.Addr() != netip.MustParseAddr("127.0.0.4") {
			t.Fatalf("served by %v", res.Addr)
		}
		mu.Lock()
		defer mu.Unlock()
		if want := fmt.Sprintf("127.0.0.4:%d", srv.port); len(dialled) != 1 || dialled[0] != want {
			t.Fatalf("dialled %q, want only %s", dialled, want)
		}
	})
	t.Run("next permitted address after a refused connection", func(t *testing.T) {
		srv := startServer(t, "127.0.0.6", p.good, serve("text/plain", goodPolicy), nil)
		// Nothing listens on 127.0.0.5 at that port: connection refused.
		res, err := newFetcher(t, p, srv.port, lookupOf("127.0.0.5", "127.0.0.6"), allowLoopback).Fetch(context.Background(), domain)
		if err != nil || res.Addr.Addr() != netip.MustParseAddr("127.0.0.6") {
			t.Fatalf("Fetch = %+v, %v", res, err)
		}
	})
	t.Run("lookup failure", func(t *testing.T) {
		l := &staticLookup{err: errors.New("SERVFAIL")}
		_, err := newFetcher(t, p, 443, l, allowLoopback).Fetch(context.Background(), domain)
		wantError(t, err, mtasts.ReasonPolicyFetchFailed, "address lookup failed: SERVFAIL")
	})
	t.Run("no addresses", func(t *testing.T) {
		_, err := newFetcher(t, p, 443, lookupOf(), allowLoopback).Fetch(context.Background(), domain)
		wantError(t, err, mtasts.ReasonPolicyFetchFailed, "no addresses")
	})
}

// TestFetchDeadline points the fetch at a server that accepts the
// connection and never says anything.
func TestFetchDeadline(t *testing.T) {
	p := newPKI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-acceptDone
	})
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	f, err := fetch.New(fetch.Config{Lookup: lookupOf("127.0.0.1"), Targets: allowLoopback, Roots: p.root.Pool(), Port: port, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := f.Fetch(context.Background(), domain)
		done <- err
	}()
	var conn net.Conn
	select {
	case conn = <-accepted:
		t.Cleanup(func() { conn.Close() })
	case <-time.After(10 * time.Second):
		t.Fatal("the fetch never connected")
	}
	select {
	case err := <-done:
		wantError(t, err, mtasts.ReasonPolicyFetchFailed, "")
	case <-time.After(10 * time.Second):
		t.Fatal("the fetch did not give up at its deadline")
	}
	// The server saw the connection closed: nothing is left behind.
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, conn); err != nil {
		t.Fatalf("the fetch left its connection open: %v", err)
	}
}

func TestFetchCallerCancel(t *testing.T) {
	p := newPKI(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := newFetcher(t, p, 443, lookupOf("127.0.0.1"), allowLoopback).Fetch(ctx, domain)
	wantError(t, err, mtasts.ReasonPolicyFetchFailed, "")
}

func TestNewConfig(t *testing.T) {
	if _, err := fetch.New(fetch.Config{}); err == nil {
		t.Error("New without Lookup succeeded")
	}
	if _, err := fetch.New(fetch.Config{Lookup: lookupOf(), Timeout: -1}); err == nil {
		t.Error("New with a negative timeout succeeded")
	}
}

// TestSystemRootsFromSSLCertFile checks what Config.Roots documents: nil
// means the system roots, and on Linux SSL_CERT_FILE names them. The
// system pool is loaded once per process, so the fetch runs in a child
// process started with SSL_CERT_FILE pointing at the test root.
func TestSystemRootsFromSSLCertFile(t *testing.T) {
	if port := os.Getenv("DANED_FETCH_CHILD_PORT"); port != "" {
		n, err := strconv.Atoi(port)
		if err != nil {
			t.Fatal(err)
		}
		f, err := fetch.New(fetch.Config{Lookup: lookupOf("127.0.0.1"), Targets: allowLoopback, Port: uint16(n), Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Fetch(context.Background(), domain); err != nil {
			t.Fatal(err)
		}
		return
	}
	p := newPKI(t)
	srv := startServer(t, "127.0.0.1", p.good, serve("text/plain", goodPolicy), nil)
	file := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(file, p.root.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(env ...string) error {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSystemRootsFromSSLCertFile$", "-test.count=1")
		cmd.Env = append(os.Environ(), append([]string{fmt.Sprintf("DANED_FETCH_CHILD_PORT=%d", srv.port), "SSL_CERT_DIR=" + t.TempDir()}, env...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	if err := run("SSL_CERT_FILE=" + file); err != nil {
		t.Fatalf("with SSL_CERT_FILE naming the test root: %v", err)
	}
	if err := run("SSL_CERT_FILE=" + filepath.Join(t.TempDir(), "none.pem")); err == nil || !strings.Contains(err.Error(), "STS_WEBPKI_INVALID") {
		t.Fatalf("without the test root: %v, want STS_WEBPKI_INVALID", err)
	}
}

// TestFetchSpan: each fetch is a client span with the policy host, the
// URL and the HTTP status, marked as an error with the RFC 8460 type
// when it fails.
func TestFetchSpan(t *testing.T) {
	p := newPKI(t)
	var notFound atomic.Bool
	srv := startServer(t, "127.0.0.1", p.good, func(w http.ResponseWriter, r *http.Request) {
		if notFound.Load() {
			http.NotFound(w, r)
			return
		}
		serve("text/plain", goodPolicy)(w, r)
	}, nil)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	f, err := fetch.New(fetch.Config{Lookup: lookupOf("127.0.0.1"), Targets: allowLoopback, Roots: p.root.Pool(), Port: srv.port, TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Fetch(context.Background(), domain); err != nil {
		t.Fatal(err)
	}
	notFound.Store(true)
	if _, err := f.Fetch(context.Background(), domain); err == nil {
		t.Fatal("the 404 fetch succeeded")
	}
	spans := rec.Ended()
	if len(spans) != 2 || spans[0].Name() != "mta_sts.fetch" || spans[0].SpanKind() != trace.SpanKindClient {
		t.Fatalf("%d spans, want two client spans mta_sts.fetch", len(spans))
	}
	attrs := func(s sdktrace.ReadOnlySpan) map[string]string {
		m := map[string]string{}
		for _, kv := range s.Attributes() {
			m[string(kv.Key)] = kv.Value.String()
		}
		return m
	}
	ok, bad := attrs(spans[0]), attrs(spans[1])
	if ok["server.address"] != policyHost || ok["http.response.status_code"] != "200" || ok["mta_sts.mode"] != "enforce" || spans[0].Status().Code == codes.Error {
		t.Errorf("success span %v, status %v", ok, spans[0].Status())
	}
	if bad["http.response.status_code"] != "404" || bad["mta_sts.failure"] != "sts-policy-fetch-error" || spans[1].Status().Code != codes.Error {
		t.Errorf("failure span %v, status %v", bad, spans[1].Status())
	}
}
