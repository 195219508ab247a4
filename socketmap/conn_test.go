package socketmap_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/socketmap"
)

// pipeListener is an in-memory listener: inside a synctest bubble its
// connections (net.Pipe) block durably, so time is the bubble's and
// timeouts are exact.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// dialPipe connects a client to the listener.
func (l *pipeListener) dial(t *testing.T) *client {
	t.Helper()
	srv, cli := net.Pipe()
	l.conns <- srv
	t.Cleanup(func() { cli.Close() })
	return &client{t: t, nc: cli, rd: newReader(cli)}
}

// servePipe runs a server on a pipe listener inside the current bubble;
// stop closes it and waits for Serve.
func servePipe(t *testing.T, cfg socketmap.Config) (s *socketmap.Server, l *pipeListener, stop func()) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := socketmap.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l = newPipeListener()
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	return s, l, func() {
		_ = s.Close()
		if err := <-done; !errors.Is(err, socketmap.ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	}
}

// recvWithin reads a reply on a pipe client without a deadline of its
// own (the bubble's time decides).
func (c *client) recvPipe() (string, error) {
	p, err := socketmap.ReadNetstring(c.rd, nil, socketmap.MaxReply)
	return string(p), err
}

type received struct {
	reply string
	err   error
}

// collect reads replies in the background until an error, so that the
// server's writes never wait for the test.
func (c *client) collect() <-chan received {
	ch := make(chan received, 16)
	go func() {
		defer close(ch)
		for {
			r, err := c.recvPipe()
			ch <- received{r, err}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

// TestDefaultIdleTimeout: with the defaults, an idle connection is kept
// for at least 100 s (Postfix closes an idle connection after 10 s and
// any after 100 s, so the server never closes first).
func TestDefaultIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, l, stop := servePipe(t, socketmap.Config{Validator: &fakeValidator{}})
		defer stop()
		c := l.dial(t)
		go c.nc.Write(socketmap.AppendNetstring(nil, "QUERY a.example"))
		if r, err := c.recvPipe(); err != nil || r != "NOTFOUND " {
			t.Fatalf("first reply %q, %v", r, err)
		}
		time.Sleep(119 * time.Second)
		go c.nc.Write(socketmap.AppendNetstring(nil, "QUERY b.example"))
		if r, err := c.recvPipe(); err != nil || r != "NOTFOUND " {
			t.Fatalf("reply after 119 s idle: %q, %v", r, err)
		}
		start := time.Now()
		if _, err := c.recvPipe(); err == nil {
			t.Fatal("a reply without a request")
		}
		if idle := time.Since(start); idle < 100*time.Second {
			t.Errorf("idle connection closed after %v, want at least 100 s", idle)
		}
	})
}

// TestUnansweredRequestKeepsConnection: a connection waiting for its
// replies is never closed for idleness, however long the answers take,
// and goes on reading requests meanwhile.
func TestUnansweredRequestKeepsConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeValidator{block: true, release: make(chan struct{}), started: make(chan string, 3),
			results: map[string]*engine.Result{"slow.example": decided("slow.example", engine.DNSSecure, host("mx.slow.example", dane.PolicyDANERequired, engine.DNSSecure))}}
		_, l, stop := servePipe(t, socketmap.Config{Validator: f, IdleTimeout: 5 * time.Second, RequestTimeout: 10 * time.Minute})
		defer stop()
		c := l.dial(t)
		replies := c.collect()
		// Two pipelined requests: both are answered in the background
		// while the connection waits for more.
		go c.nc.Write(append(socketmap.AppendNetstring(nil, "QUERY slow.example"), socketmap.AppendNetstring(nil, "QUERY b.example")...))
		<-f.started
		<-f.started
		time.Sleep(5 * time.Minute) // sixty idle timeouts
		go c.nc.Write(socketmap.AppendNetstring(nil, "QUERY c.example"))
		<-f.started
		close(f.release)
		var last time.Time
		for _, want := range []string{"OK dane-only", "NOTFOUND ", "NOTFOUND "} {
			if r := <-replies; r.err != nil || r.reply != want {
				t.Fatalf("reply %q, %v; want %q", r.reply, r.err, want)
			}
			last = time.Now()
		}
		// Then idle: closed after IdleTimeout.
		if r := <-replies; r.err == nil {
			t.Fatalf("reply %q without a request", r.reply)
		}
		if idle := time.Since(last); idle != 5*time.Second {
			t.Errorf("closed %v after the reply, want the 5 s idle timeout", idle)
		}
	})
}

// TestStalledPayload: a request whose length arrives with part of its
// payload, and then nothing, is cut off ReadTimeout after it began.
func TestStalledPayload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMetrics()
		_, l, stop := servePipe(t, socketmap.Config{Validator: &fakeValidator{}, ReadTimeout: 10 * time.Second, IdleTimeout: time.Hour, Metrics: m})
		defer stop()
		c := l.dial(t)
		req := socketmap.AppendNetstring(nil, "QUERY stalled.example")
		start := time.Now()
		go func() { _, _ = c.nc.Write(req[:len(req)-5]) }()
		if r, err := c.recvPipe(); err == nil {
			t.Fatalf("got %q, want the connection closed", r)
		}
		if d := time.Since(start); d != 10*time.Second {
			t.Errorf("closed after %v, want 10 s", d)
		}
		c.nc.Close()
		synctest.Wait()
		if _, refused, _ := m.snapshot(); refused["read_timeout"] != 1 {
			t.Errorf("refused %v, want one read_timeout", refused)
		}
	})
}

// TestSlowloris: a request whose bytes trickle in is cut off ReadTimeout
// after its first byte, even though each byte arrives in time.
func TestSlowloris(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMetrics()
		_, l, stop := servePipe(t, socketmap.Config{Validator: &fakeValidator{}, ReadTimeout: 10 * time.Second, Metrics: m})
		defer stop()
		c := l.dial(t)
		req := socketmap.AppendNetstring(nil, "QUERY slow-client.example")
		start := time.Now()
		var wg sync.WaitGroup
		wg.Go(func() {
			for _, b := range req {
				if _, err := c.nc.Write([]byte{b}); err != nil {
					return
				}
				time.Sleep(time.Second)
			}
		})
		if r, err := c.recvPipe(); err == nil {
			t.Fatalf("got %q, want the connection closed", r)
		}
		if d := time.Since(start); d != 10*time.Second {
			t.Errorf("closed after %v, want 10 s", d)
		}
		c.nc.Close()
		wg.Wait()
		synctest.Wait()
		if _, refused, open := m.snapshot(); refused["read_timeout"] != 1 || open != 0 {
			t.Errorf("refused %v, open %d; want one read_timeout and no connection", refused, open)
		}
	})
}

// TestMaxConns: past MaxConns a connection is closed at once; the ones
// held keep working.
func TestMaxConns(t *testing.T) {
	m := newMetrics()
	_, addr := serve(t, socketmap.Config{Validator: &fakeValidator{}, MaxConns: 2, Metrics: m})
	a, b := dial(t, addr), dial(t, addr)
	for _, c := range []*client{a, b} {
		if r := c.query("QUERY x.example"); r != "NOTFOUND " {
			t.Fatalf("reply %q", r)
		}
	}
	third := dial(t, addr)
	third.send("QUERY x.example")
	third.expectClosed(10 * time.Second)
	if r := a.query("QUERY y.example"); r != "NOTFOUND " {
		t.Errorf("held connection: %q", r)
	}
	if _, refused, _ := m.snapshot(); refused["max_connections"] != 1 {
		t.Errorf("refused %v, want one max_connections", refused)
	}
	// A slot freed is a slot again.
	a.nc.Close()
	waitFor(t, func() bool { _, _, open := m.snapshot(); return open == 1 })
	if r := dial(t, addr).query("QUERY z.example"); r != "NOTFOUND " {
		t.Errorf("after a close: %q", r)
	}
}

// waitFor polls cond for at most 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPipelinedInOrder: pipelined requests are answered concurrently and
// replied to in request order, a slow head holding back faster ones.
func TestPipelinedInOrder(t *testing.T) {
	f := &fakeValidator{started: make(chan string, 3), release: make(chan struct{}), results: map[string]*engine.Result{
		"slow.example": decided("slow.example", engine.DNSSecure, host("mx.slow.example", dane.PolicyDANERequired, engine.DNSSecure)),
		"fast.example": decided("fast.example", engine.DNSSecure, host("mx.fast.example", dane.PolicyTLSRequired, engine.DNSSecure)),
	}}
	gate := &gatedValidator{fakeValidator: f, gated: "slow.example"}
	_, addr := serve(t, socketmap.Config{Validator: gate})
	c := dial(t, addr)
	c.send("QUERY slow.example", "QUERY fast.example", "QUERY .parent.example", "QUERY plain.example")
	seen := map[string]bool{}
	for range 3 {
		seen[<-f.started] = true
	}
	if !seen["slow.example"] || !seen["fast.example"] || !seen["plain.example"] {
		t.Fatalf("validations started: %v; want all three before the first finished", seen)
	}
	close(f.release)
	want := []string{"OK dane-only", "OK dane", "NOTFOUND ", "NOTFOUND "}
	for i, w := range want {
		if r := c.recv(); r != w {
			t.Errorf("reply %d = %q, want %q", i, r, w)
		}
	}
}

// gatedValidator holds one domain's validation until release.
type gatedValidator struct {
	*fakeValidator
	gated string
}

func (g *gatedValidator) Validate(ctx context.Context, domain string, opts engine.Options) (*engine.Result, error) {
	g.started <- domain
	if domain == g.gated {
		select {
		case <-g.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.lookup(domain)
}

// TestManyPipelined: far more pipelined requests than MaxPipeline, in one
// write, all answered in order.
func TestManyPipelined(t *testing.T) {
	f := &fakeValidator{results: map[string]*engine.Result{}}
	replies := []string{"OK dane-only", "OK dane", "NOTFOUND "}
	for i := range 3 {
		d := fmt.Sprintf("d%d.example", i)
		switch i {
		case 0:
			f.results[d] = decided(d, engine.DNSSecure, host("mx."+d, dane.PolicyDANERequired, engine.DNSSecure))
		case 1:
			f.results[d] = decided(d, engine.DNSSecure, host("mx."+d, dane.PolicyTLSRequired, engine.DNSSecure))
		}
	}
	_, addr := serve(t, socketmap.Config{Validator: f, MaxPipeline: 8})
	c := dial(t, addr)
	const n = 2000
	var reqs []string
	for i := range n {
		reqs = append(reqs, fmt.Sprintf("QUERY d%d.example", i%3))
	}
	go c.send(reqs...) // the replies flow while the requests are written
	for i := range n {
		if r := c.recv(); r != replies[i%3] {
			t.Fatalf("reply %d = %q, want %q", i, r, replies[i%3])
		}
	}
}

// TestOversizeAfterPipelined: requests before an oversize one are
// answered, the oversize one gets PERM, then the connection ends.
func TestOversizeAfterPipelined(t *testing.T) {
	m := newMetrics()
	_, addr := serve(t, socketmap.Config{Validator: &fakeValidator{}, Metrics: m})
	c := dial(t, addr)
	b := socketmap.AppendNetstring(nil, "QUERY a.example")
	b = append(b, "999999999:QUERY "...)
	c.write(b)
	if r := c.recv(); r != "NOTFOUND " {
		t.Errorf("first reply %q", r)
	}
	if r := c.recv(); !strings.HasPrefix(r, "PERM request longer than 10000 bytes") {
		t.Errorf("second reply %q", r)
	}
	c.expectClosed(10 * time.Second)
	if _, refused, _ := m.snapshot(); refused["oversize"] != 1 {
		t.Errorf("refused %v", refused)
	}
}

// TestLargestQuery: a request of exactly MaxQuery bytes is read (and
// answered: its key is too long for a domain).
func TestLargestQuery(t *testing.T) {
	_, addr := serve(t, socketmap.Config{Validator: &fakeValidator{}})
	c := dial(t, addr)
	key := strings.Repeat("a", socketmap.MaxQuery-len("QUERY "))
	if r := c.query("QUERY " + key); !strings.HasPrefix(r, "PERM invalid domain") {
		t.Errorf("reply %.80q", r)
	}
	if r := c.query("QUERY a.example"); r != "NOTFOUND " {
		t.Errorf("next reply %q", r)
	}
}

// TestClientHalfClose: a client that sends its requests and shuts its
// side still gets every reply.
func TestClientHalfClose(t *testing.T) {
	f := &fakeValidator{started: make(chan string, 2), block: true, release: make(chan struct{})}
	_, addr := serve(t, socketmap.Config{Validator: f})
	c := dial(t, addr)
	c.send("QUERY a.example", "QUERY b.example")
	if err := c.nc.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	<-f.started
	<-f.started
	close(f.release)
	for range 2 {
		if r := c.recv(); r != "NOTFOUND " {
			t.Errorf("reply %q", r)
		}
	}
	c.expectClosed(10 * time.Second)
}

// TestShutdownAnswersFirst: Shutdown stops accepting and reading, answers
// the request in hand, then closes.
func TestShutdownAnswersFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeValidator{started: make(chan string, 1), block: true, release: make(chan struct{})}
		s, l, stop := servePipe(t, socketmap.Config{Validator: f})
		defer stop()
		c := l.dial(t)
		idle := l.dial(t)
		go c.nc.Write(socketmap.AppendNetstring(nil, "QUERY a.example"))
		<-f.started
		shut := make(chan error, 1)
		go func() { shut <- s.Shutdown(context.Background()) }()
		synctest.Wait()
		// The idle connection is closed at once, the busy one waits.
		if _, err := idle.recvPipe(); err == nil {
			t.Error("the idle connection got a reply")
		}
		select {
		case err := <-shut:
			t.Fatalf("Shutdown returned %v with a request unanswered", err)
		default:
		}
		close(f.release)
		if r, err := c.recvPipe(); err != nil || r != "NOTFOUND " {
			t.Errorf("reply %q, %v", r, err)
		}
		if _, err := c.recvPipe(); err == nil {
			t.Error("the connection stayed open after Shutdown answered it")
		}
		if err := <-shut; err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
}

// TestShutdownDeadline: when the answers take longer than Shutdown's
// context, everything is closed and the context's error returned.
func TestShutdownDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeValidator{started: make(chan string, 1), block: true, release: make(chan struct{})}
		s, l, stop := servePipe(t, socketmap.Config{Validator: f, RequestTimeout: time.Hour})
		defer stop()
		c := l.dial(t)
		go c.nc.Write(socketmap.AppendNetstring(nil, "QUERY a.example"))
		<-f.started
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown: %v, want DeadlineExceeded", err)
		}
		if r, err := c.recvPipe(); err == nil {
			t.Errorf("reply %q after a hard close", r)
		}
	})
}

// TestUnixSocket: Listen with a path serves a UNIX-domain socket, replaces
// a stale socket file, and refuses a live one or a regular file.
func TestUnixSocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "daned.sock")
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close() // leaves the file, as a crashed daned would
	lim := &recordingLimiter{}
	s, err := socketmap.New(socketmap.Config{Validator: &fakeValidator{}, Limiter: lim, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := socketmap.Listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	defer func() {
		s.Close()
		<-done
	}()
	if _, err := socketmap.Listen(path); err == nil {
		t.Error("Listen took over a live socket")
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm()&0o006 != 0o006 {
		t.Errorf("socket mode %v, %v: Postfix's user must be able to connect", fi.Mode(), err)
	}
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := &client{t: t, nc: nc, rd: newReader(nc)}
	if r := c.query("QUERY a.example"); r != "NOTFOUND " {
		t.Errorf("reply %q", r)
	}
	if got := lim.callers(); len(got) != 1 || got[0] != "unix" {
		t.Errorf("callers %v, want [unix]", got)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := socketmap.Listen(file); err == nil {
		t.Error("Listen replaced a regular file")
	}
}

type recordingLimiter struct {
	mu   sync.Mutex
	seen []string
}

func (l *recordingLimiter) Allow(caller string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = append(l.seen, caller)
	return true
}

func (l *recordingLimiter) callers() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.seen...)
}

// TestLimiterCallers: the limiter sees the caller keyed as the gRPC door
// keys it, and only domain requests draw on it.
func TestLimiterCallers(t *testing.T) {
	lim := &recordingLimiter{}
	_, addr := serve(t, socketmap.Config{Validator: &fakeValidator{}, Limiter: lim})
	c := dial(t, addr)
	c.query("QUERY a.example")
	c.query("QUERY .a.example")
	c.query("QUERY [a.example]")
	if got := lim.callers(); len(got) != 1 || got[0] != "ip:127.0.0.1" {
		t.Errorf("callers %v, want one ip:127.0.0.1", got)
	}
}

// TestMetricsAndSpans: each request is counted by name, reply and policy
// and has one span; the connection gauge returns to zero.
func TestMetricsAndSpans(t *testing.T) {
	m := newMetrics()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	f := &fakeValidator{results: map[string]*engine.Result{
		"ee.example":    decided("ee.example", engine.DNSSecure, host("mx.ee.example", dane.PolicyDANERequired, engine.DNSSecure)),
		"bogus.example": failed("bogus.example", dane.ReasonDNSSECBogus, "bogus"),
	}}
	_, addr := serve(t, socketmap.Config{Validator: f, Metrics: m, TracerProvider: tp})
	c := dial(t, addr)
	for _, q := range []string{"QUERY ee.example", "QUERYwithTLSRPT ee.example", "QUERY bogus.example", "QUERY plain.example", "NOPE x.example", "QUERY [x.example]"} {
		c.query(q)
	}
	c.nc.Close()
	waitFor(t, func() bool { _, _, open := m.snapshot(); return open == 0 })
	reqs, _, _ := m.snapshot()
	want := map[string]int{"QUERY OK dane-only": 1, "QUERYwithTLSRPT OK dane-only": 1, "QUERY TEMP ": 1, "QUERY NOTFOUND ": 2, "other PERM ": 1}
	if fmt.Sprint(reqs) != fmt.Sprint(want) {
		t.Errorf("requests %v, want %v", reqs, want)
	}
	spans := rec.Ended()
	if len(spans) != 6 {
		t.Fatalf("%d spans, want 6", len(spans))
	}
	attrs := map[attribute.Key]string{}
	for _, kv := range spans[2].Attributes() {
		attrs[kv.Key] = kv.Value.String()
	}
	if spans[2].Name() != "socketmap.request" || attrs["socketmap.reply"] != "TEMP" || attrs["socketmap.key"] != "bogus.example" || attrs["socketmap.name"] != "QUERY" {
		t.Errorf("span %s %v", spans[2].Name(), attrs)
	}
}

// TestConfig: New refuses a config without a validator or with negative
// limits.
func TestConfig(t *testing.T) {
	for _, cfg := range []socketmap.Config{{}, {Validator: &fakeValidator{}, MaxConns: -1}, {Validator: &fakeValidator{}, IdleTimeout: -time.Second}} {
		if _, err := socketmap.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}
