package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	daneclient "github.com/daned/daned/clients/go"
	"github.com/daned/daned/internal/testcert"
	danev1 "github.com/daned/daned/proto/dane/v1"
)

// daned is a daned started in-process by run for one test.
type daned struct {
	addr string
	out  *syncBuffer
	// hup is run's SIGHUP channel: a send is a SIGHUP to this daned
	// alone, where a real signal would reach every daned of the test
	// binary.
	hup      chan os.Signal
	shutdown func() error // stops daned and returns run's error; idempotent
}

// stop shuts d down now rather than when the test ends.
func (d *daned) stop(t testing.TB) {
	t.Helper()
	if err := d.shutdown(); err != nil {
		t.Errorf("daned: %v", err)
	}
}

// quickResolver points daned at a resolver port where nothing answers, so
// that a validation fails fast (DNS_QUERY_FAILED) without the embedded
// validator or the internet.
var quickResolver = []string{"--resolver", "127.0.0.1:1", "--resolver-timeout", "200ms"}

// startDaned runs daned with args (plus a loopback metrics port, a short
// lame duck and quickResolver) until the test ends, and waits for it to
// serve.
func startDaned(t testing.TB, args ...string) *daned {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	hup := make(chan os.Signal, 1)
	base := append([]string{"--metrics-listen", "127.0.0.1:0", "--lame-duck", "0s", "--shutdown-timeout", "2s"}, quickResolver...)
	go func() { done <- run(ctx, append(base, args...), out, hup) }()
	shutdown := sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			return errors.New("daned did not stop")
		}
	})
	t.Cleanup(func() {
		if err := shutdown(); err != nil {
			t.Errorf("daned: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := listenRE.FindStringSubmatch(out.String()); m != nil {
			return &daned{addr: m[1], out: out, hup: hup, shutdown: shutdown}
		}
		select {
		case err := <-done:
			done <- err // for the cleanup
			t.Fatalf("daned exited: %v\n%s", err, out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("daned did not report its address:\n%s", out.String())
	return nil
}

// waitLog waits until daned has logged want.
func (d *daned) waitLog(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(d.out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("daned never logged %q:\n%s", want, d.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dial connects to d with creds (and extra options) until the test ends.
func (d *daned) dial(t testing.TB, creds credentials.TransportCredentials, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(d.addr, append([]grpc.DialOption{grpc.WithTransportCredentials(creds)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// fromSource makes a connection originate from the loopback address src,
// a caller distinct from 127.0.0.1 (root may bind any of 127.0.0.0/8).
func fromSource(src string) grpc.DialOption {
	return grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		return d.DialContext(ctx, "tcp", addr)
	})
}

func invalidate(conn *grpc.ClientConn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := danev1.NewDaneServiceClient(conn).Invalidate(ctx, &danev1.InvalidateRequest{Domain: "example.com"})
	return err
}

func healthCheck(conn *grpc.ClientConn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

func TestTransportConfigurationRejected(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "daned test CA")
	srv := ca.serverCert(t, "daned")
	cert, key := writeFile(t, dir, "cert.pem", srv.CertPEM), writeFile(t, dir, "key.pem", srv.KeyPEM)
	garbage := writeFile(t, dir, "garbage.pem", []byte("not PEM\n"))
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{name: "plaintext on the unspecified IPv4 address", args: []string{"--listen", "0.0.0.0:0"}, want: []string{"not a loopback address", "--tls-cert", "--tls-key", "--insecure-listen"}},
		{name: "plaintext on the unspecified IPv6 address", args: []string{"--listen", "[::]:0"}, want: []string{"not a loopback address", "--insecure-listen"}},
		{name: "plaintext on all addresses from the environment", env: map[string]string{"DANED_LISTEN": ":0"}, want: []string{"not a loopback address"}},
		{name: "socketmap off loopback", args: []string{"--socketmap-listen", "0.0.0.0:0"}, want: []string{"socketmap", "not a loopback address", "--insecure-listen"}},
		{name: "socketmap path that is not a socket", args: []string{"--socketmap-listen", garbage}, want: []string{"--socketmap-listen", "not a socket"}},
		{name: "certificate without key", args: []string{"--tls-cert", cert}, want: []string{"--tls-cert and --tls-key go together"}},
		{name: "client CA without certificate", args: []string{"--client-ca", cert}, want: []string{"--client-ca (mutual TLS) needs --tls-cert"}},
		{name: "allow-list without client CA", args: []string{"--tls-cert", cert, "--tls-key", key, "--client-allow", "mta1.example"}, want: []string{"--client-allow needs --client-ca"}},
		{name: "key that is not PEM", args: []string{"--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", garbage}, want: []string{"key " + garbage}},
		{name: "client CA without a certificate", args: []string{"--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key, "--client-ca", garbage}, want: []string{"no PEM certificate"}},
		{name: "negative rate", args: []string{"--rate-limit", "-1"}, want: []string{"--rate-limit and --rate-burst must not be negative"}},
		{name: "zero streams", env: map[string]string{"DANED_MAX_CONCURRENT_STREAMS": "0"}, want: []string{"--max-concurrent-streams"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var out syncBuffer
			err := run(context.Background(), append(append([]string{"--metrics-listen", "127.0.0.1:0"}, quickResolver...), tt.args...), &out, nil)
			if err == nil {
				t.Fatalf("run %v started; want an error", tt.args)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("run %v: %v; want it to mention %q", tt.args, err, w)
				}
			}
		})
	}
}

func TestInsecureListenAllowsPlaintextOnAnyAddress(t *testing.T) {
	d := startDaned(t, "--listen", "0.0.0.0:0", "--insecure-listen")
	_, port, _ := net.SplitHostPort(d.addr)
	d.addr = net.JoinHostPort("127.0.0.1", port)
	if err := healthCheck(d.dial(t, insecure.NewCredentials())); err != nil {
		t.Fatalf("health check over plaintext with --insecure-listen: %v", err)
	}
}

func TestTLSOnly(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "daned test CA")
	srv := ca.serverCert(t, "daned")
	d := startDaned(t, "--listen", "127.0.0.1:0",
		"--tls-cert", writeFile(t, dir, "cert.pem", srv.CertPEM), "--tls-key", writeFile(t, dir, "key.pem", srv.KeyPEM))
	d.waitLog(t, "mutual_tls=false")

	t.Run("TLS client", func(t *testing.T) {
		conn := d.dial(t, credentials.NewTLS(&tls.Config{RootCAs: pool(ca), ServerName: "localhost"}))
		if err := invalidate(conn); err != nil {
			t.Fatalf("Invalidate over TLS: %v", err)
		}
	})
	t.Run("plaintext client", func(t *testing.T) {
		err := healthCheck(d.dial(t, insecure.NewCredentials()))
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("health check without TLS: %v, want Unavailable", err)
		}
	})
	t.Run("TLS 1.1 refused, 1.3 chosen", func(t *testing.T) {
		_, err := tls.Dial("tcp", d.addr, &tls.Config{RootCAs: pool(ca), ServerName: "localhost", MaxVersion: tls.VersionTLS11, NextProtos: []string{"h2"}})
		if err == nil {
			t.Error("a TLS 1.1 handshake succeeded")
		}
		c, err := tls.Dial("tcp", d.addr, &tls.Config{RootCAs: pool(ca), ServerName: "localhost", NextProtos: []string{"h2"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if v := c.ConnectionState().Version; v != tls.VersionTLS13 {
			t.Errorf("TLS version %x, want 1.3", v)
		}
		if c.ConnectionState().NegotiatedProtocol != "h2" {
			t.Errorf("ALPN %q, want h2", c.ConnectionState().NegotiatedProtocol)
		}
	})
}

func TestMutualTLSAndAllowList(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "daned test CA")
	other := newCA(t, "another CA")
	srv := ca.serverCert(t, "daned")
	d := startDaned(t, "--listen", "127.0.0.1:0",
		"--tls-cert", writeFile(t, dir, "cert.pem", srv.CertPEM), "--tls-key", writeFile(t, dir, "key.pem", srv.KeyPEM),
		"--client-ca", writeFile(t, dir, "ca.pem", ca.CertPEM),
		"--client-allow", "mta1.example.net, spiffe://example.net/mta/2", "--client-allow", "mta3")
	d.waitLog(t, "mutual_tls=true")

	withCert := func(l *testcert.Cert) credentials.TransportCredentials {
		cfg := &tls.Config{RootCAs: pool(ca), ServerName: "localhost"}
		if l != nil {
			cfg.Certificates = []tls.Certificate{l.TLS()}
		}
		return credentials.NewTLS(cfg)
	}
	tests := []struct {
		name       string
		cert       *testcert.Cert
		want       codes.Code
		wantHealth codes.Code
	}{
		{name: "no client certificate", want: codes.Unavailable, wantHealth: codes.Unavailable},
		{name: "certificate of another CA", cert: other.clientCert(t, "mta1.example.net", []string{"mta1.example.net"}), want: codes.Unavailable, wantHealth: codes.Unavailable},
		{name: "listed DNS SAN", cert: ca.clientCert(t, "someone", []string{"MTA1.example.net"}), want: codes.OK},
		{name: "listed URI SAN", cert: ca.clientCert(t, "someone", nil, "spiffe://example.net/mta/2"), want: codes.OK},
		{name: "listed common name", cert: ca.clientCert(t, "mta3", nil), want: codes.OK},
		{name: "unlisted client of the CA", cert: ca.clientCert(t, "mta9", []string{"mta9.example.net"}), want: codes.PermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := d.dial(t, withCert(tt.cert))
			err := invalidate(conn)
			if status.Code(err) != tt.want {
				t.Fatalf("Invalidate: %v, want %v", err, tt.want)
			}
			if tt.want == codes.PermissionDenied && !strings.Contains(err.Error(), `"mta9.example.net" is not on daned's allow-list`) {
				t.Errorf("PermissionDenied message %q does not name the client", err)
			}
			// Health checks are exempt from the allow-list, not from
			// mutual TLS.
			if err := healthCheck(conn); status.Code(err) != tt.wantHealth {
				t.Errorf("health check: %v, want %v", err, tt.wantHealth)
			}
		})
	}
	t.Run("no client certificate fails the handshake", func(t *testing.T) {
		c, err := tls.Dial("tcp", d.addr, &tls.Config{RootCAs: pool(ca), ServerName: "localhost", NextProtos: []string{"h2"}})
		if err == nil {
			// In TLS 1.3 the client learns of the refusal on its first
			// read.
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
			_, err = c.Read(make([]byte, 1))
		}
		if err == nil || !strings.Contains(err.Error(), "certificate required") {
			t.Fatalf("handshake without a client certificate: %v, want the alert certificate required", err)
		}
	})
	t.Run("Go client with WithTLS", func(t *testing.T) {
		mta := ca.clientCert(t, "mta1", []string{"mta1.example.net"})
		c, err := daneclient.Dial(d.addr, daneclient.WithTLS(&tls.Config{RootCAs: pool(ca), ServerName: "localhost", Certificates: []tls.Certificate{mta.TLS()}}),
			daneclient.WithTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		v, err := c.Policy(context.Background(), "example.com")
		if err != nil {
			t.Fatalf("Policy over mutual TLS: %v", err)
		}
		// The resolver of this daned answers nothing: a verdict, not an
		// error.
		if v.GetAction() != danev1.Action_ACTION_DEFER {
			t.Errorf("verdict %v, want DEFER (no resolver)", v.GetAction())
		}
	})
}

func TestSIGHUPReloadsCertificateAndKeepsConnections(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "daned test CA")
	first, second := ca.serverCert(t, "daned first"), ca.serverCert(t, "daned second")
	client := ca.clientCert(t, "mta1", nil)
	certFile, keyFile := writeFile(t, dir, "cert.pem", first.CertPEM), writeFile(t, dir, "key.pem", first.KeyPEM)
	d := startDaned(t, "--listen", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile,
		"--client-ca", writeFile(t, dir, "ca.pem", ca.CertPEM))
	cfg := &tls.Config{RootCAs: pool(ca), ServerName: "localhost", Certificates: []tls.Certificate{client.TLS()}, NextProtos: []string{"h2"}}
	served := func() *x509.Certificate {
		t.Helper()
		c, err := tls.Dial("tcp", d.addr, cfg)
		if err != nil {
			t.Fatalf("new connection: %v", err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0]
	}
	hup := func(wantLog string, n int) {
		t.Helper()
		d.hup <- syscall.SIGHUP
		deadline := time.Now().Add(5 * time.Second)
		for strings.Count(d.out.String(), wantLog) < n {
			if time.Now().After(deadline) {
				t.Fatalf("no %q log after SIGHUP:\n%s", wantLog, d.out.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	if got := served(); !bytes.Equal(got.Raw, first.Cert.Raw) {
		t.Fatalf("served %s, want the first certificate", got.Subject)
	}
	old := d.dial(t, credentials.NewTLS(cfg))
	if err := invalidate(old); err != nil {
		t.Fatal(err)
	}

	// New files, then SIGHUP: new connections see the new certificate,
	// the established one goes on working.
	writeFile(t, dir, "cert.pem", second.CertPEM)
	writeFile(t, dir, "key.pem", second.KeyPEM)
	hup("TLS reloaded", 1)
	if got := served(); !bytes.Equal(got.Raw, second.Cert.Raw) {
		t.Fatalf("after reload served %s, want the second certificate", got.Subject)
	}
	if err := invalidate(old); err != nil {
		t.Fatalf("the connection made before the reload broke: %v", err)
	}

	// A broken file is refused and the second certificate stays.
	writeFile(t, dir, "cert.pem", []byte("-----BEGIN CERTIFICATE-----\ntruncated\n"))
	hup("TLS reload failed", 1)
	if got := served(); !bytes.Equal(got.Raw, second.Cert.Raw) {
		t.Fatalf("after a failed reload served %s, want the second certificate still", got.Subject)
	}
	// A key that does not match the certificate is refused too.
	writeFile(t, dir, "cert.pem", first.CertPEM)
	hup("TLS reload failed", 2)
	if got := served(); !bytes.Equal(got.Raw, second.Cert.Raw) {
		t.Fatalf("after a mismatched key served %s, want the second certificate still", got.Subject)
	}
	if err := invalidate(old); err != nil {
		t.Fatalf("the first connection broke: %v", err)
	}
}

func TestRateLimitPerCaller(t *testing.T) {
	d := startDaned(t, "--listen", "127.0.0.1:0", "--rate-limit", "0.5", "--rate-burst", "5")
	flooder := d.dial(t, insecure.NewCredentials())
	var err error
	n := 0
	for ; n < 20 && err == nil; n++ {
		err = invalidate(flooder)
	}
	if status.Code(err) != codes.ResourceExhausted || n != 6 {
		t.Fatalf("call %d: %v; want ResourceExhausted at call 6 (burst 5)", n, err)
	}
	if !strings.Contains(err.Error(), "rate limit exceeded") {
		t.Errorf("message %q does not say the rate limit was exceeded", err)
	}
	if err := healthCheck(flooder); err != nil {
		t.Errorf("health check of a rate-limited caller: %v (health is exempt)", err)
	}
	// Another caller, from another address, has its own bucket.
	other := d.dial(t, insecure.NewCredentials(), fromSource("127.0.0.2"))
	for i := range 5 {
		if err := invalidate(other); err != nil {
			t.Fatalf("call %d of another caller: %v", i+1, err)
		}
	}
}

func TestMaxRecvMsgSize(t *testing.T) {
	d := startDaned(t, "--listen", "127.0.0.1:0") // the default, 1 MiB
	conn := d.dial(t, insecure.NewCredentials())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	big := make([]byte, 1<<20+1)
	_, err := danev1.NewDaneServiceClient(conn).VerifyPeer(ctx, &danev1.VerifyPeerRequest{Domain: "example.com", MxHost: "mx.example.com", Chain: [][]byte{big}})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("VerifyPeer of more than 1 MiB: %v, want ResourceExhausted", err)
	}
	if err := invalidate(conn); err != nil {
		t.Errorf("the connection after an oversized message: %v", err)
	}
}

func TestMaxConcurrentStreams(t *testing.T) {
	d := startDaned(t, "--listen", "127.0.0.1:0", "--max-concurrent-streams", "2")
	conn := d.dial(t, insecure.NewCredentials())
	if err := healthCheck(conn); err != nil { // the client now has the server's SETTINGS
		t.Fatal(err)
	}
	api := danev1.NewDaneServiceClient(conn)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var open []grpc.BidiStreamingClient[danev1.ValidateStreamRequest, danev1.ValidateStreamResponse]
	for range 2 {
		s, err := api.ValidateStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, s)
	}
	// A third call waits for a free stream.
	tctx, tcancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer tcancel()
	if _, err := api.Invalidate(tctx, &danev1.InvalidateRequest{Domain: "example.com"}); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("a third concurrent call: %v, want it held until its deadline", err)
	}
	// Once a stream ends, it goes through.
	if err := open[0].CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := open[0].Recv(); err == nil {
		t.Fatal("the closed stream answered")
	}
	if err := invalidate(conn); err != nil {
		t.Fatalf("a call after a stream ended: %v", err)
	}
}

func TestHelpListsTransportFlags(t *testing.T) {
	var out syncBuffer
	_ = run(context.Background(), []string{"--help"}, &out, nil)
	for _, want := range []string{
		"--tls-cert (DANED_TLS_CERT",
		"--tls-key (DANED_TLS_KEY",
		"--client-ca (DANED_CLIENT_CA",
		"--client-allow (DANED_CLIENT_ALLOW",
		"--insecure-listen (DANED_INSECURE_LISTEN, default false)",
		"--max-concurrent-streams (DANED_MAX_CONCURRENT_STREAMS, default 1024)",
		"--max-recv-msg-size (DANED_MAX_RECV_MSG_SIZE, default 1048576)",
		"--rate-limit (DANED_RATE_LIMIT, default 0)",
		"--rate-burst (DANED_RATE_BURST, default 0)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}
