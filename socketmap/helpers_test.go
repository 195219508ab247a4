package socketmap_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/dnsname"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/socketmap"
	"github.com/daned/daned/telemetry"
)

// fakeValidator answers from a table, as the engine would: the domain is
// normalised first (an invalid one is an error wrapping
// dnsname.ErrInvalid), unknown domains get an opportunistic verdict.
type fakeValidator struct {
	results map[string]*engine.Result
	errs    map[string]error
	// block, when set, makes every validation wait for ctx (or release).
	block   bool
	release chan struct{}
	// started receives the domain of each validation as it starts.
	started chan string
	calls   atomic.Int64
}

func (f *fakeValidator) Validate(ctx context.Context, domain string, opts engine.Options) (*engine.Result, error) {
	f.calls.Add(1)
	if !opts.PolicyOnly {
		return nil, errors.New("fake: the socketmap must ask policy-only validations")
	}
	name, err := dnsname.Normalize(domain)
	if err != nil {
		return nil, err
	}
	if f.started != nil {
		f.started <- name
	}
	if f.block {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-f.release:
		}
	}
	return f.lookup(name)
}

// lookup is the table's answer for a normalised domain.
func (f *fakeValidator) lookup(name string) (*engine.Result, error) {
	if err := f.errs[name]; err != nil {
		return nil, err
	}
	if r, ok := f.results[name]; ok {
		return r, nil
	}
	return opportunistic(name), nil
}

// host is a judged MX host for synthetic results.
func host(name string, p dane.Policy, tlsa engine.DNSState) engine.Host {
	return engine.Host{Name: name, Preference: 10, MXState: engine.DNSSecure, AddressState: engine.DNSSecure,
		TLSAState: tlsa, Policy: p, Reason: dane.ReasonOK, Usable: true}
}

// failedHost is a host a DNS failure made unusable.
func failedHost(name string, r dane.Reason, tlsa engine.DNSState, detail string) engine.Host {
	return engine.Host{Name: name, Preference: 10, MXState: engine.DNSSecure, AddressState: engine.DNSSecure,
		TLSAState: tlsa, Reason: r, Detail: detail}
}

// decided returns the result engine.Validate would return for the hosts.
func decided(domain string, mx engine.DNSState, hosts ...engine.Host) *engine.Result {
	var out []dane.Outcome
	for _, h := range hosts {
		out = append(out, dane.Outcome{Policy: h.Policy, Usable: h.Usable, Reason: h.Reason, InDNS: true, Detail: h.Detail})
	}
	return &engine.Result{Domain: domain, MXState: mx, PolicyOnly: true, Hosts: hosts, Verdict: dane.Decide(mx == engine.DNSSecure, out)}
}

func failed(domain string, r dane.Reason, detail string) *engine.Result {
	return &engine.Result{Domain: domain, PolicyOnly: true, MXState: engine.DNSBogus, Verdict: dane.Fail(r, true, detail)}
}

func opportunistic(domain string) *engine.Result {
	return decided(domain, engine.DNSInsecure, host("mx."+domain, dane.PolicyOpportunistic, engine.DNSInsecure))
}

// serve runs a socketmap server for cfg on a loopback port until the
// test ends and returns its address.
func serve(t *testing.T, cfg socketmap.Config) (*socketmap.Server, string) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := socketmap.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-done; !errors.Is(err, socketmap.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return s, ln.Addr().String()
}

// client is a raw socketmap client connection.
type client struct {
	t  *testing.T
	nc net.Conn
	rd *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &client{t: t, nc: nc, rd: newReader(nc)}
}

func newReader(nc net.Conn) *bufio.Reader { return bufio.NewReader(nc) }

// send writes requests as netstrings in one write.
func (c *client) send(reqs ...string) {
	c.t.Helper()
	var b []byte
	for _, r := range reqs {
		b = socketmap.AppendNetstring(b, r)
	}
	c.write(b)
}

func (c *client) write(b []byte) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// recv reads one reply, waiting at most 10 s.
func (c *client) recv() string {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	p, err := socketmap.ReadNetstring(c.rd, nil, socketmap.MaxReply)
	if err != nil {
		c.t.Fatalf("reading a reply: %v", err)
	}
	return string(p)
}

// query sends one request and returns its reply.
func (c *client) query(req string) string {
	c.t.Helper()
	c.send(req)
	return c.recv()
}

// expectClosed waits (at most d) for the server to close the connection.
func (c *client) expectClosed(d time.Duration) {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(d))
	b, err := c.rd.ReadByte()
	if err == nil {
		c.t.Fatalf("read %q, want the connection closed", b)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatalf("the connection is still open after %v", d)
	}
}

// metrics records what the server reports.
type metrics struct {
	mu       sync.Mutex
	requests map[string]int // "name reply policy"
	refused  map[string]int
	open     int64
}

func newMetrics() *metrics {
	return &metrics{requests: map[string]int{}, refused: map[string]int{}}
}

func (m *metrics) Request(_ context.Context, name, reply, policy string, _ time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[name+" "+reply+" "+policy]++
}

func (m *metrics) Connections(_ context.Context, delta int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.open += delta
}

func (m *metrics) Refused(_ context.Context, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refused[reason]++
}

func (m *metrics) snapshot() (map[string]int, map[string]int, int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, f := map[string]int{}, map[string]int{}
	for k, v := range m.requests {
		r[k] = v
	}
	for k, v := range m.refused {
		f[k] = v
	}
	return r, f, m.open
}

// telemetry's instruments are the production Metrics.
var _ socketmap.Metrics = (*telemetry.SocketmapMetrics)(nil)
