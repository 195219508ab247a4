package server

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	grpccodes "google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/daned/daned/cache"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/internal/fakeclock"
	danev1 "github.com/daned/daned/proto/dane/v1"
)

// refusingEngine fails every validation at once: these tests are about
// admission, not verdicts.
type refusingEngine struct{}

func (refusingEngine) Validate(context.Context, string, engine.Options) (*engine.Result, error) {
	return nil, errors.New("no engine in this test")
}

// limitedServer serves a Server behind lim on 127.0.0.1 until the test
// ends and returns its address.
func limitedServer(t *testing.T, lim *Limits) string {
	t.Helper()
	srv, err := New(Config{Verdicts: verdicts(t, cache.ValidatorConfig{Upstream: refusingEngine{}, NoCache: true})})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(lim.ServerOptions()...)
	srv.Register(g)
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Serve(lis) }()
	t.Cleanup(func() { g.Stop(); <-done })
	return lis.Addr().String()
}

// dialFrom connects to addr from the loopback address src (a caller of
// its own; root may bind any of 127.0.0.0/8).
func dialFrom(t *testing.T, addr, src string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
			return d.DialContext(ctx, "tcp", a)
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func invalidateOnce(conn *grpc.ClientConn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := danev1.NewDaneServiceClient(conn).Invalidate(ctx, &danev1.InvalidateRequest{Domain: "example.com"})
	return err
}

func TestRateLimitPerCallerAddress(t *testing.T) {
	clk := fakeclock.New(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	lim, err := NewLimits(LimitsConfig{Rate: 2, Burst: 3, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	addr := limitedServer(t, lim)
	a, b := dialFrom(t, addr, "127.0.0.1"), dialFrom(t, addr, "127.0.0.2")
	// Two connections from one address share a bucket.
	a2 := dialFrom(t, addr, "127.0.0.1")

	steps := []struct {
		name string
		conn *grpc.ClientConn
		want grpccodes.Code
	}{
		{"a 1", a, grpccodes.OK},
		{"a 2", a, grpccodes.OK},
		{"a 3 on its second connection", a2, grpccodes.OK},
		{"a 4: over the burst", a, grpccodes.ResourceExhausted},
		{"a 5 on its second connection: over the burst", a2, grpccodes.ResourceExhausted},
		{"b 1: another caller", b, grpccodes.OK},
		{"b 2", b, grpccodes.OK},
		{"b 3", b, grpccodes.OK},
		{"b 4", b, grpccodes.ResourceExhausted},
	}
	for _, s := range steps {
		if err := invalidateOnce(s.conn); status.Code(err) != s.want {
			t.Fatalf("%s: %v, want %v", s.name, err, s.want)
		}
	}
	// Health and reflection are never limited.
	for i := range 10 {
		if _, err := healthpb.NewHealthClient(a).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatalf("health check %d while limited: %v", i, err)
		}
	}
	rs, err := reflectionpb.NewServerReflectionClient(a).ServerReflectionInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := rs.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
			t.Fatal(err)
		}
		if _, err := rs.Recv(); err != nil {
			t.Fatalf("reflection %d while limited: %v", i, err)
		}
	}
	_ = rs.CloseSend()
	// Half a second at 2/s refills one token.
	clk.Advance(500 * time.Millisecond)
	if err := invalidateOnce(a); err != nil {
		t.Fatalf("after a refill: %v", err)
	}
	if err := invalidateOnce(a); status.Code(err) != grpccodes.ResourceExhausted {
		t.Fatalf("after the refilled token: %v, want ResourceExhausted", err)
	}
	st := lim.Stats()
	if st.RateLimited != 4 || st.Callers != 2 {
		t.Errorf("stats %+v, want 4 rate limited, 2 callers", st)
	}
}

func TestRateLimitCountsEachStreamMessage(t *testing.T) {
	clk := fakeclock.New(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	lim, err := NewLimits(LimitsConfig{Rate: 1, Burst: 3, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	conn := dialFrom(t, limitedServer(t, lim), "127.0.0.1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := danev1.NewDaneServiceClient(conn).ValidateStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		// The stream may already have ended when the fourth is sent.
		if err := s.Send(&danev1.ValidateStreamRequest{RequestId: fmt.Sprint(i), Request: &danev1.ValidateRequest{Domain: "example.com"}}); err != nil {
			break
		}
	}
	_ = s.CloseSend()
	answered := 0
	for {
		_, err = s.Recv()
		if err != nil {
			break
		}
		answered++
	}
	if status.Code(err) != grpccodes.ResourceExhausted || !strings.Contains(err.Error(), "rate limit exceeded") {
		t.Fatalf("stream of 5 requests with a burst of 3 ended with %v, want ResourceExhausted", err)
	}
	if answered > 3 {
		t.Errorf("%d requests answered, want at most the burst, 3", answered)
	}
	// The stream spent the bucket: a unary call is refused too.
	if err := invalidateOnce(conn); status.Code(err) != grpccodes.ResourceExhausted {
		t.Errorf("a call after the stream: %v, want ResourceExhausted", err)
	}
}

func TestRateLimitStreamUnderTheLimitEndsNormally(t *testing.T) {
	lim, err := NewLimits(LimitsConfig{Rate: 100, Burst: 10})
	if err != nil {
		t.Fatal(err)
	}
	conn := dialFrom(t, limitedServer(t, lim), "127.0.0.1")
	s, err := danev1.NewDaneServiceClient(conn).ValidateStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := s.Send(&danev1.ValidateStreamRequest{RequestId: fmt.Sprint(i), Request: &danev1.ValidateRequest{Domain: "example.com"}}); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.CloseSend()
	n := 0
	for {
		if _, err = s.Recv(); err != nil {
			break
		}
		n++
	}
	if !errors.Is(err, io.EOF) || n != 5 {
		t.Fatalf("%d answers, then %v; want 5 and EOF", n, err)
	}
}

func TestRateLimitBucketsAreBounded(t *testing.T) {
	clk := fakeclock.New(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	lim, err := NewLimits(LimitsConfig{Rate: 1, Burst: 1, MaxCallers: 100, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	// A flood from 100 000 addresses holds at most 100 buckets.
	for i := range 100000 {
		_ = lim.take(fmt.Sprintf("ip:10.%d.%d.%d", i>>16, (i>>8)&255, i&255))
	}
	if n := lim.Stats().Callers; n != 100 {
		t.Fatalf("%d buckets after a flood of 100000 callers, want 100", n)
	}
	// The most recently seen callers keep theirs: the last one is still
	// empty; one long forgotten starts again with a full bucket.
	if err := lim.take("ip:10.1.134.159"); status.Code(err) != grpccodes.ResourceExhausted {
		t.Errorf("the latest caller: %v, want ResourceExhausted", err)
	}
	if err := lim.take("ip:10.0.0.0"); err != nil {
		t.Errorf("a forgotten caller: %v, want a fresh bucket", err)
	}
}

func TestRateLimitOffByDefault(t *testing.T) {
	lim, err := NewLimits(LimitsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	conn := dialFrom(t, limitedServer(t, lim), "127.0.0.1")
	for i := range 200 {
		if err := invalidateOnce(conn); err != nil {
			t.Fatalf("call %d without a limit: %v", i, err)
		}
	}
	if st := lim.Stats(); st.Callers != 0 {
		t.Errorf("%d buckets without a limit, want none", st.Callers)
	}
}

func TestAllowListNeedsAVerifiedCertificate(t *testing.T) {
	lim, err := NewLimits(LimitsConfig{Allow: []string{"mta1.example.net"}})
	if err != nil {
		t.Fatal(err)
	}
	conn := dialFrom(t, limitedServer(t, lim), "127.0.0.1")
	err = invalidateOnce(conn)
	if status.Code(err) != grpccodes.PermissionDenied || !strings.Contains(err.Error(), "present a client certificate") {
		t.Fatalf("a call without a certificate: %v, want PermissionDenied", err)
	}
	if _, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("health check: %v (exempt from the allow-list)", err)
	}
}

func TestClientIdentitiesAndCallers(t *testing.T) {
	u, _ := url.Parse("spiffe://example.net/mta/1")
	cert := &x509.Certificate{Subject: pkix.Name{CommonName: "mta1"}, DNSNames: []string{"mta1.example.net", "Alt.Example.NET"}, URIs: []*url.URL{u}}
	if got, want := strings.Join(ClientIdentities(cert), " "), "mta1.example.net Alt.Example.NET spiffe://example.net/mta/1 mta1"; got != want {
		t.Errorf("identities %q, want %q", got, want)
	}
	tests := []struct {
		name  string
		allow []string
		want  bool
	}{
		{"DNS name, any case, trailing dot", []string{"alt.example.net."}, true},
		{"URI", []string{"spiffe://example.net/mta/1"}, true},
		{"URI of another path", []string{"spiffe://example.net/mta"}, false},
		{"common name", []string{"mta1"}, true},
		{"someone else", []string{"mta2.example.net", "mta2"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim, err := NewLimits(LimitsConfig{Allow: tt.allow})
			if err != nil {
				t.Fatal(err)
			}
			if got := lim.allowed(cert); got != tt.want {
				t.Errorf("allowed = %v, want %v", got, tt.want)
			}
		})
	}
	callers := []struct {
		name string
		p    *peer.Peer
		leaf *x509.Certificate
		want string
	}{
		{"IPv4", &peer.Peer{Addr: &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 4711}}, nil, "ip:192.0.2.7"},
		{"IPv4-mapped", &peer.Peer{Addr: &net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 4711}}, nil, "ip:192.0.2.7"},
		{"IPv6 by its /64", &peer.Peer{Addr: &net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6"), Port: 4711}}, nil, "ip:2001:db8:1:2::/64"},
		{"certificate over address", &peer.Peer{Addr: &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 4711}}, cert, "cert:mta1.example.net"},
	}
	for _, c := range callers {
		if got := callerOf(c.p, c.leaf); got != c.want {
			t.Errorf("%s: caller %q, want %q", c.name, got, c.want)
		}
	}
}

func TestNewLimitsRejectsNegatives(t *testing.T) {
	for _, cfg := range []LimitsConfig{{Rate: -1}, {Burst: -1}, {MaxCallers: -1}} {
		if _, err := NewLimits(cfg); err == nil {
			t.Errorf("NewLimits(%+v) accepted", cfg)
		}
	}
}

// TestPermits: the allow-list as the other front doors apply it, by the
// verified client certificate; refusals count as the gRPC door's do.
func TestPermits(t *testing.T) {
	listed := &x509.Certificate{Subject: pkix.Name{CommonName: "mta1"}, DNSNames: []string{"MTA1.example.net"}}
	other := &x509.Certificate{Subject: pkix.Name{CommonName: "mta2"}, DNSNames: []string{"mta2.example.net"}}
	tests := []struct {
		name       string
		allow      []string
		leaf       *x509.Certificate
		want       bool
		wantDenied uint64
	}{
		{name: "no list, no certificate", leaf: nil, want: true},
		{name: "no list, any certificate", leaf: other, want: true},
		{name: "listed", allow: []string{"mta1.example.net"}, leaf: listed, want: true},
		{name: "not listed", allow: []string{"mta1.example.net"}, leaf: other, want: false, wantDenied: 1},
		{name: "no certificate", allow: []string{"mta1.example.net"}, leaf: nil, want: false, wantDenied: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim, err := NewLimits(LimitsConfig{Allow: tt.allow})
			if err != nil {
				t.Fatal(err)
			}
			if got := lim.Permits(tt.leaf); got != tt.want {
				t.Errorf("Permits = %v, want %v", got, tt.want)
			}
			if got := lim.Stats().Denied; got != tt.wantDenied {
				t.Errorf("denied %d, want %d", got, tt.wantDenied)
			}
		})
	}
}
