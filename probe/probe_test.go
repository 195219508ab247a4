package probe_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/daned/daned/probe"
)

var sentinels = []error{
	probe.ErrConnect, probe.ErrTimeout, probe.ErrSMTP, probe.ErrNoSTARTTLS,
	probe.ErrSTARTTLSRefused, probe.ErrHandshake,
}

// checkErr fails unless err wraps want and no other sentinel.
func checkErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("Err = %v, want it to wrap %q", err, want)
	}
	for _, s := range sentinels {
		if s != want && errors.Is(err, s) {
			t.Errorf("Err = %v wraps %q as well as %q", err, s, want)
		}
	}
}

func newProber(t *testing.T, cfg probe.Config) *probe.Prober {
	t.Helper()
	if cfg.HeloName == "" {
		cfg.HeloName = "client.example.org"
	}
	p, err := probe.New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return p
}

func TestProbeSuccess(t *testing.T) {
	pk := mustPKI(t)
	tests := []struct {
		name       string
		listen     string
		script     script
		serverTLS  func(*tls.Config)
		minTLS     uint16
		sni        string
		wantBanner string
		wantVer    uint16
	}{
		{
			name:       "IPv4",
			listen:     "127.0.0.1:0",
			sni:        "mx.example.net",
			wantBanner: "mx.example.net ESMTP test",
			wantVer:    tls.VersionTLS13,
		},
		{
			name:       "IPv6",
			listen:     "[::1]:0",
			sni:        "mx.example.net",
			wantBanner: "mx.example.net ESMTP test",
			wantVer:    tls.VersionTLS13,
		},
		{
			name:   "multi-line banner and EHLO, lower-case keyword",
			listen: "127.0.0.1:0",
			script: script{
				banner: []string{"220-mx.example.net first line", "220-second line", "220 last"},
				ehlo:   []string{"250-mx.example.net", "250-SIZE 10240000", "250-starttls", "250-8BITMIME", "250 SMTPUTF8"},
			},
			sni:        "tlsa-base.example.com",
			wantBanner: "mx.example.net first line",
			wantVer:    tls.VersionTLS13,
		},
		{
			name:       "bare LF line endings and code-only last line",
			listen:     "127.0.0.1:0",
			script:     script{banner: []string{"220-hello\n220"}, ehlo: []string{"250-x\n250 STARTTLS"}},
			sni:        "mx.example.net",
			wantBanner: "hello",
			wantVer:    tls.VersionTLS13,
		},
		{
			name:       "control characters in the banner",
			listen:     "127.0.0.1:0",
			script:     script{banner: []string{"220 hi\x00\x1b[31m\xff"}},
			sni:        "mx.example.net",
			wantBanner: "hi??[31m\ufffd",
			wantVer:    tls.VersionTLS13,
		},
		{
			name:       "no SNI",
			listen:     "127.0.0.1:0",
			sni:        "",
			wantBanner: "mx.example.net ESMTP test",
			wantVer:    tls.VersionTLS13,
		},
		{
			name:       "TLS 1.2 server",
			listen:     "127.0.0.1:0",
			serverTLS:  func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 },
			sni:        "mx.example.net",
			wantBanner: "mx.example.net ESMTP test",
			wantVer:    tls.VersionTLS12,
		},
		{
			// RFC 7671 §3 allows TLS 1.0 and up; Go's client refuses
			// anything below 1.2 unless MinVersion says otherwise, and so
			// does Go's server, hence the explicit MinVersion there too.
			name:   "TLS 1.1 server with MinTLSVersion TLS 1.0",
			listen: "127.0.0.1:0",
			serverTLS: func(c *tls.Config) {
				c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
			},
			minTLS:     tls.VersionTLS10,
			sni:        "mx.example.net",
			wantBanner: "mx.example.net ESMTP test",
			wantVer:    tls.VersionTLS11,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if strings.HasPrefix(tt.listen, "[") && !listenIPv6(t) {
				t.Skip("skipping: this host cannot listen on [::1] (no IPv6 loopback)")
			}
			sni := make(chan string, 1)
			quit := make(chan string, 1)
			sc := tt.script
			sc.tls = tlsConfig(t, sni)
			if tt.serverTLS != nil {
				tt.serverTLS(sc.tls)
			}
			sc.quit = quit
			srv := startServer(t, tt.listen, sc.handle)
			p := newProber(t, probe.Config{Port: int(srv.addr.Port()), MinTLSVersion: tt.minTLS, StepTimeout: 5 * time.Second})

			res := p.Probe(t.Context(), srv.addr.Addr(), tt.sni)

			if res.Err != nil {
				t.Fatalf("Err = %v, want nil (steps %+v)", res.Err, res.Steps)
			}
			if res.Reached != probe.StageDone {
				t.Errorf("Reached = %v, want done", res.Reached)
			}
			if res.Addr != srv.addr {
				t.Errorf("Addr = %v, want %v", res.Addr, srv.addr)
			}
			if res.Banner != tt.wantBanner {
				t.Errorf("Banner = %q, want %q", res.Banner, tt.wantBanner)
			}
			if !res.STARTTLSOffered || !res.TLS {
				t.Errorf("STARTTLSOffered, TLS = %v, %v, want true, true", res.STARTTLSOffered, res.TLS)
			}
			if res.TLSVersion != tt.wantVer {
				t.Errorf("TLSVersion = %s, want %s", probe.VersionName(res.TLSVersion), probe.VersionName(tt.wantVer))
			}
			if res.CipherSuite == 0 {
				t.Error("CipherSuite = 0")
			}
			if len(res.Chain) != 2 || !res.Chain[0].Equal(pk.leaf) || !res.Chain[1].Equal(pk.ca) {
				t.Errorf("Chain has %d certificates, want leaf then CA", len(res.Chain))
			}
			if res.ServerName != tt.sni {
				t.Errorf("ServerName = %q, want %q", res.ServerName, tt.sni)
			}
			select {
			case got := <-sni:
				if got != tt.sni {
					t.Errorf("server saw SNI %q, want %q", got, tt.sni)
				}
			default:
				t.Error("server saw no ClientHello")
			}
			wantStages := []probe.Stage{probe.StageConnect, probe.StageBanner, probe.StageEHLO, probe.StageSTARTTLS, probe.StageHandshake}
			if len(res.Steps) != len(wantStages) {
				t.Fatalf("Steps = %+v, want stages %v", res.Steps, wantStages)
			}
			for i, s := range res.Steps {
				if s.Stage != wantStages[i] || s.Err != nil || s.Start.IsZero() {
					t.Errorf("Steps[%d] = %+v, want stage %v, no error", i, s, wantStages[i])
				}
			}
			if res.Elapsed <= 0 {
				t.Errorf("Elapsed = %v", res.Elapsed)
			}
			// Probe returns after QUIT was sent; the server sees it at
			// once or the connection is gone.
			select {
			case <-quit:
			case <-time.After(5 * time.Second):
				t.Error("server never received QUIT")
			}
		})
	}
}

func TestProbeFailures(t *testing.T) {
	long := strings.Repeat("x", 3000)
	tests := []struct {
		name        string
		script      script
		handle      func(net.Conn) // replaces script when set
		minTLS      uint16
		serverTLS   func(*tls.Config)
		step        time.Duration // default 200ms
		want        error
		wantReached probe.Stage
		wantOffered bool
		wantQUIT    bool
		fast        bool // must fail well before the step deadline
	}{
		{
			name:        "EHLO without STARTTLS",
			script:      script{ehlo: []string{"250-mx.example.net", "250 PIPELINING"}},
			want:        probe.ErrNoSTARTTLS,
			wantReached: probe.StageEHLO,
			wantQUIT:    true,
		},
		{
			name:        "single-line EHLO",
			script:      script{ehlo: []string{"250 mx.example.net STARTTLS"}},
			want:        probe.ErrNoSTARTTLS,
			wantReached: probe.StageEHLO,
			wantQUIT:    true,
		},
		{
			name:        "no ESMTP: EHLO rejected, HELO accepted",
			script:      script{ehlo: []string{"502 5.5.1 what"}},
			want:        probe.ErrNoSTARTTLS,
			wantReached: probe.StageEHLO,
			wantQUIT:    true,
		},
		{
			name:        "EHLO and HELO rejected",
			script:      script{ehlo: []string{"550 go away"}, helo: []string{"550 go away"}},
			want:        probe.ErrSMTP,
			wantReached: probe.StageEHLO,
			wantQUIT:    true,
		},
		{
			name:        "EHLO 421",
			script:      script{ehlo: []string{"421 4.3.2 shutting down"}},
			want:        probe.ErrSMTP,
			wantReached: probe.StageEHLO,
			wantQUIT:    true,
		},
		{
			name:        "STARTTLS 454",
			script:      script{starttls: []string{"454 4.7.0 TLS not available"}},
			want:        probe.ErrSTARTTLSRefused,
			wantReached: probe.StageSTARTTLS,
			wantOffered: true,
			wantQUIT:    true,
		},
		{
			name:        "banner 554",
			script:      script{banner: []string{"554 5.3.2 no service"}},
			want:        probe.ErrSMTP,
			wantReached: probe.StageBanner,
			wantQUIT:    true,
		},
		{
			name:        "banner 250 is not a greeting",
			script:      script{banner: []string{"250 hello"}},
			want:        probe.ErrSMTP,
			wantReached: probe.StageBanner,
			wantQUIT:    true,
		},
		{
			name:        "malformed banner",
			handle:      func(c net.Conn) { c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n")); c.Read(make([]byte, 1)) },
			want:        probe.ErrSMTP,
			wantReached: probe.StageBanner,
			fast:        true,
		},
		{
			name:        "closed before banner",
			handle:      func(net.Conn) {},
			want:        probe.ErrSMTP,
			wantReached: probe.StageBanner,
			fast:        true,
		},
		{
			name: "closed after EHLO",
			handle: func(c net.Conn) {
				c.Write([]byte("220 hi\r\n"))
				c.Read(make([]byte, 100))
			},
			want:        probe.ErrSMTP,
			wantReached: probe.StageEHLO,
			fast:        true,
		},
		{
			name: "closed after STARTTLS",
			handle: func(c net.Conn) {
				c.Write([]byte("220 hi\r\n"))
				c.Read(make([]byte, 100))
				c.Write([]byte("250-mx\r\n250 STARTTLS\r\n"))
				c.Read(make([]byte, 100))
			},
			want:        probe.ErrSMTP,
			wantReached: probe.StageSTARTTLS,
			wantOffered: true,
			fast:        true,
		},
		{
			name:        "tarpit",
			handle:      func(c net.Conn) { c.Read(make([]byte, 1)) },
			want:        probe.ErrTimeout,
			wantReached: probe.StageBanner,
		},
		{
			name: "slow drip banner never ends a line",
			handle: func(c net.Conn) {
				for {
					if _, err := c.Write([]byte("2")); err != nil {
						return
					}
					time.Sleep(20 * time.Millisecond) // the drip itself, not readiness
				}
			},
			want:        probe.ErrTimeout,
			wantReached: probe.StageBanner,
		},
		{
			name: "endless multi-line banner",
			handle: func(c net.Conn) {
				for {
					if _, err := c.Write([]byte("220-more\r\n")); err != nil {
						return
					}
				}
			},
			step:        10 * time.Second,
			want:        probe.ErrSMTP,
			wantReached: probe.StageBanner,
			fast:        true,
		},
		{
			name:        "endless multi-line EHLO",
			script:      script{ehlo: append(repeat("250-X-FILLER", 500), "250 STARTTLS")},
			step:        10 * time.Second,
			want:        probe.ErrSMTP,
			wantReached: probe.StageEHLO,
			fast:        true,
		},
		{
			name:        "over-long banner line",
			script:      script{banner: []string{"220 " + long}},
			step:        10 * time.Second,
			want:        probe.ErrSMTP,
			wantReached: probe.StageBanner,
			fast:        true,
		},
		{
			name: "over-long line that never ends",
			handle: func(c net.Conn) {
				c.Write([]byte("220 " + long))
				c.Read(make([]byte, 1))
			},
			step:        10 * time.Second,
			want:        probe.ErrSMTP,
			wantReached: probe.StageBanner,
			fast:        true,
		},
		{
			name:        "reply code changes mid-reply",
			script:      script{ehlo: []string{"250-mx", "251 STARTTLS"}},
			want:        probe.ErrSMTP,
			wantReached: probe.StageEHLO,
			fast:        true,
		},
		{
			name:        "garbage in the same segment as the STARTTLS 220",
			script:      script{starttls: []string{"220 go ahead\r\nMAIL FROM:<injected@example.net>"}, afterSTARTTLS: func(c net.Conn) { c.Read(make([]byte, 1)) }},
			want:        probe.ErrHandshake,
			wantReached: probe.StageHandshake,
			wantOffered: true,
			fast:        true,
		},
		{
			name: "garbage instead of a ServerHello",
			script: script{afterSTARTTLS: func(c net.Conn) {
				c.Read(make([]byte, 4096)) // the ClientHello
				c.Write([]byte("this is not TLS at all\r\n"))
				c.Read(make([]byte, 1))
			}},
			want:        probe.ErrHandshake,
			wantReached: probe.StageHandshake,
			wantOffered: true,
			fast:        true,
		},
		{
			name: "handshake stalls",
			script: script{afterSTARTTLS: func(c net.Conn) {
				for {
					if _, err := c.Read(make([]byte, 4096)); err != nil {
						return
					}
				}
			}},
			want:        probe.ErrTimeout,
			wantReached: probe.StageHandshake,
			wantOffered: true,
		},
		{
			name: "TLS 1.1 only with default MinTLSVersion",
			serverTLS: func(c *tls.Config) {
				c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
			},
			step:        5 * time.Second,
			want:        probe.ErrHandshake,
			wantReached: probe.StageHandshake,
			wantOffered: true,
			fast:        true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			handle := tt.handle
			quit := make(chan string, 1)
			if handle == nil {
				sc := tt.script
				sc.tls = tlsConfig(t, nil)
				if tt.serverTLS != nil {
					tt.serverTLS(sc.tls)
				}
				sc.quit = quit
				handle = sc.handle
			}
			srv := startServer(t, "127.0.0.1:0", handle)
			step := tt.step
			if step == 0 {
				step = 200 * time.Millisecond
			}
			p := newProber(t, probe.Config{Port: int(srv.addr.Port()), StepTimeout: step, MinTLSVersion: tt.minTLS})

			res := p.Probe(t.Context(), srv.addr.Addr(), "mx.example.net")

			checkErr(t, res.Err, tt.want)
			if res.Reached != tt.wantReached {
				t.Errorf("Reached = %v, want %v (Err %v)", res.Reached, tt.wantReached, res.Err)
			}
			if res.STARTTLSOffered != tt.wantOffered {
				t.Errorf("STARTTLSOffered = %v, want %v", res.STARTTLSOffered, tt.wantOffered)
			}
			if res.TLS || res.Chain != nil || res.TLSVersion != 0 {
				t.Errorf("TLS, Chain, TLSVersion = %v, %v, %v after a failure", res.TLS, res.Chain, res.TLSVersion)
			}
			last := res.Steps[len(res.Steps)-1]
			if last.Stage != tt.wantReached || last.Err != res.Err {
				t.Errorf("last step = %+v, want stage %v with the result's error", last, tt.wantReached)
			}
			if tt.fast && res.Elapsed > step/2 {
				t.Errorf("Elapsed = %v, want a failure well before the %v step deadline", res.Elapsed, step)
			}
			if tt.wantQUIT {
				select {
				case <-quit:
				case <-time.After(5 * time.Second):
					t.Error("server never received QUIT")
				}
			}
		})
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestProbeConnectRefused(t *testing.T) {
	// Listen, note the port, close: nothing listens there now.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := ln.Addr().(*net.TCPAddr).AddrPort()
	ln.Close()
	p := newProber(t, probe.Config{Port: int(ap.Port()), StepTimeout: 2 * time.Second})

	res := p.Probe(t.Context(), ap.Addr(), "mx.example.net")

	checkErr(t, res.Err, probe.ErrConnect)
	if res.Reached != probe.StageConnect || len(res.Steps) != 1 {
		t.Errorf("Reached = %v, Steps = %+v, want one connect step", res.Reached, res.Steps)
	}
}

// fakeDialer records the address and fails or hands out a pipe.
type fakeDialer struct {
	got  chan string
	err  error
	conn net.Conn
}

func (d *fakeDialer) DialContext(_ context.Context, network, address string) (net.Conn, error) {
	d.got <- network + " " + address
	if d.err != nil {
		return nil, d.err
	}
	return d.conn, nil
}

func TestProbeDialer(t *testing.T) {
	tests := []struct {
		name string
		addr netip.Addr
		port int
		err  error
		want string
	}{
		{name: "IPv4 default port", addr: netip.MustParseAddr("192.0.2.1"), want: "tcp 192.0.2.1:25"},
		{name: "IPv6", addr: netip.MustParseAddr("2001:db8::1"), port: 2525, want: "tcp [2001:db8::1]:2525"},
		{name: "IPv4-mapped is unmapped", addr: netip.MustParseAddr("::ffff:192.0.2.1"), want: "tcp 192.0.2.1:25"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &fakeDialer{got: make(chan string, 1), err: errors.New("no route to host")}
			p := newProber(t, probe.Config{Port: tt.port, Dialer: d})
			res := p.Probe(t.Context(), tt.addr, "mx.example.net")
			checkErr(t, res.Err, probe.ErrConnect)
			if got := <-d.got; got != tt.want {
				t.Errorf("dialed %q, want %q", got, tt.want)
			}
		})
	}
}

func TestProbeOverPipe(t *testing.T) {
	// A net.Pipe through the injected Dialer: no sockets at all.
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close(); server.Close() })
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer server.Close()
		script{ehlo: []string{"250 mx"}}.handle(server)
	}()
	d := &fakeDialer{got: make(chan string, 1), conn: client}
	p := newProber(t, probe.Config{Dialer: d, StepTimeout: 5 * time.Second})
	res := p.Probe(t.Context(), netip.MustParseAddr("192.0.2.7"), "mx.example.net")
	checkErr(t, res.Err, probe.ErrNoSTARTTLS)
	<-done
}

func TestProbeInvalidAddr(t *testing.T) {
	p := newProber(t, probe.Config{})
	res := p.Probe(t.Context(), netip.Addr{}, "mx.example.net")
	checkErr(t, res.Err, probe.ErrConnect)
	if res.Reached != probe.StageConnect {
		t.Errorf("Reached = %v, want connect", res.Reached)
	}
}

func TestProbeCancel(t *testing.T) {
	// Context errors are reported as ErrTimeout wrapping the context's
	// cause, so callers need one check for "gave up" and can still tell a
	// cancellation apart.
	tests := []struct {
		name    string
		timeout time.Duration // whole-probe Timeout; 0: cancel by hand
		want    error
	}{
		{name: "cancel mid-banner", want: context.Canceled},
		{name: "whole-probe deadline mid-banner", timeout: 300 * time.Millisecond, want: context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, "127.0.0.1:0", func(c net.Conn) { c.Read(make([]byte, 1)) })
			d := &signalDialer{connected: make(chan struct{}, 1)}
			p := newProber(t, probe.Config{Port: int(srv.addr.Port()), StepTimeout: time.Minute, Timeout: tt.timeout, Dialer: d})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			results := make(chan *probe.Result, 1)
			go func() { results <- p.Probe(ctx, srv.addr.Addr(), "mx.example.net") }()
			<-d.connected // the probe is past connect: reading the banner
			if tt.timeout == 0 {
				cancel()
			}
			var res *probe.Result
			select {
			case res = <-results:
			case <-time.After(10 * time.Second):
				t.Fatal("Probe did not return after the context ended")
			}
			checkErr(t, res.Err, probe.ErrTimeout)
			if !errors.Is(res.Err, tt.want) {
				t.Errorf("Err = %v, want it to wrap %v", res.Err, tt.want)
			}
			if res.Reached != probe.StageBanner {
				t.Errorf("Reached = %v, want banner", res.Reached)
			}
		})
	}
}

// signalDialer dials for real and signals once the connection is made.
type signalDialer struct {
	net.Dialer
	connected chan struct{}
}

func (d *signalDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := d.Dialer.DialContext(ctx, network, address)
	if err == nil {
		d.connected <- struct{}{}
	}
	return c, err
}

func TestProbeCancelledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	p := newProber(t, probe.Config{Port: 1})
	res := p.Probe(ctx, netip.MustParseAddr("127.0.0.1"), "mx.example.net")
	checkErr(t, res.Err, probe.ErrTimeout)
	if !errors.Is(res.Err, context.Canceled) || res.Reached != probe.StageConnect {
		t.Errorf("Err = %v, Reached = %v, want context.Canceled at connect", res.Err, res.Reached)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     probe.Config
		wantErr bool
	}{
		{name: "zero config", cfg: probe.Config{}},
		{name: "all set", cfg: probe.Config{HeloName: "mta-1.example.org", Port: 2525, MinTLSVersion: tls.VersionTLS10, Timeout: time.Second, StepTimeout: time.Second, MaxLineLength: 512, MaxReplyLines: 1}},
		{name: "TLS 1.3 minimum", cfg: probe.Config{MinTLSVersion: tls.VersionTLS13}},
		{name: "SSL 3.0", cfg: probe.Config{MinTLSVersion: 0x0300}, wantErr: true}, // tls.VersionSSL30, deprecated
		{name: "unknown TLS version", cfg: probe.Config{MinTLSVersion: 0x0305}, wantErr: true},
		{name: "port too big", cfg: probe.Config{Port: 65536}, wantErr: true},
		{name: "negative port", cfg: probe.Config{Port: -1}, wantErr: true},
		{name: "negative timeout", cfg: probe.Config{Timeout: -time.Second}, wantErr: true},
		{name: "negative step timeout", cfg: probe.Config{StepTimeout: -1}, wantErr: true},
		{name: "line limit below 512", cfg: probe.Config{MaxLineLength: 100}, wantErr: true},
		{name: "negative line limit", cfg: probe.Config{MaxLineLength: -1}, wantErr: true},
		{name: "negative reply lines", cfg: probe.Config{MaxReplyLines: -1}, wantErr: true},
		{name: "HELO name with CRLF", cfg: probe.Config{HeloName: "a.example\r\nRCPT TO:<x>"}, wantErr: true},
		{name: "HELO name with space", cfg: probe.Config{HeloName: "a b"}, wantErr: true},
		{name: "HELO name with underscore", cfg: probe.Config{HeloName: "a_b.example"}, wantErr: true},
		{name: "HELO name with empty label", cfg: probe.Config{HeloName: "a..example"}, wantErr: true},
		{name: "HELO name with trailing dot", cfg: probe.Config{HeloName: "a.example."}, wantErr: true},
		{name: "HELO name label with leading hyphen", cfg: probe.Config{HeloName: "-a.example"}, wantErr: true},
		{name: "HELO name label too long", cfg: probe.Config{HeloName: strings.Repeat("a", 64) + ".example"}, wantErr: true},
		{name: "single-label HELO name", cfg: probe.Config{HeloName: "localhost"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := probe.New(tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("New() error = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && p == nil {
				t.Fatal("New() = nil, nil")
			}
		})
	}
}

func TestStageString(t *testing.T) {
	tests := []struct {
		name  string
		stage probe.Stage
		want  string
	}{
		{name: "connect", stage: probe.StageConnect, want: "connect"},
		{name: "banner", stage: probe.StageBanner, want: "banner"},
		{name: "ehlo", stage: probe.StageEHLO, want: "ehlo"},
		{name: "starttls", stage: probe.StageSTARTTLS, want: "starttls"},
		{name: "handshake", stage: probe.StageHandshake, want: "handshake"},
		{name: "done", stage: probe.StageDone, want: "done"},
		{name: "unknown", stage: probe.Stage(42), want: "Stage(42)"},
		{name: "negative", stage: probe.Stage(-1), want: "Stage(-1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.stage.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{name: "TLS 1.3", got: probe.VersionName(tls.VersionTLS13), want: "TLS 1.3"},
		{name: "TLS 1.0", got: probe.VersionName(tls.VersionTLS10), want: "TLS 1.0"},
		{name: "no TLS", got: probe.VersionName(0), want: "none"},
		{name: "unknown version", got: probe.VersionName(0x0999), want: fmt.Sprintf("0x%04X", 0x0999)},
		{name: "cipher", got: probe.CipherSuiteName(tls.TLS_AES_128_GCM_SHA256), want: "TLS_AES_128_GCM_SHA256"},
		{name: "no cipher", got: probe.CipherSuiteName(0), want: "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}
