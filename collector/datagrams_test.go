package collector_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daned/daned/collector"
	"github.com/daned/daned/tlsrpt"
)

// Datagrams as libtlsrpt writes them for Postfix (tlsrpt/testdata/datagram).
const (
	successTLSA = `{"dpv": "1","d": "example.com","pr": "v=TLSRPTv1; rua=mailto:tlsrpt@example.com","policies":[{"policy-type":1,"policy-domain": "mx1.example.com","policy-string":["3 1 1 8CB0FC6C527506A053F4F14C8464BEBBD6DEDE2738D11468DD953D7D6A3021F1"],"t":0,"f":0}]}`
	failureSTS  = `{"dpv": "1","d": "example.com","pr": "v=TLSRPTv1; rua=mailto:tlsrpt@example.com","policies":[{"policy-type":2,"policy-domain": "example.com","policy-string":["version: STSv1","mode: enforce","mx: mx1.example.com","max_age: 604800"],"mx-host":["mx1.example.com"],"failure-details":[{"c":202,"s": "192.0.2.25","n": "mx1.example.com","h": "mx1.example.com ESMTP\r\nSTARTTLS","r": "198.51.100.7","f": "server certificate does not match mx1.example.com"}],"t":1,"f":1}]}`
	badCode     = `{"dpv": "1","d": "example.com","pr": "v=TLSRPTv1; rua=mailto:tlsrpt@example.com","policies":[{"policy-type":1,"policy-domain": "mx1.example.com","failure-details":[{"c":999}],"t":1,"f":1}]}`
)

// clock is a settable clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// sink passes each Add on a channel.
type sink struct{ got chan []tlsrpt.Session }

func newSink() *sink                           { return &sink{got: make(chan []tlsrpt.Session, 100)} }
func (s *sink) Add(sessions ...tlsrpt.Session) { s.got <- sessions }

// next waits for the next Add.
func (s *sink) next(t *testing.T) []tlsrpt.Session {
	t.Helper()
	select {
	case got := <-s.got:
		return got
	case <-time.After(10 * time.Second):
		t.Fatal("no sessions reached the sink")
		return nil
	}
}

// metrics records counts and signals each change.
type metrics struct {
	mu        sync.Mutex
	datagrams map[string]int
	sessions  int
	dropped   uint64
	changed   chan struct{}
}

func newMetrics() *metrics {
	return &metrics{datagrams: map[string]int{}, changed: make(chan struct{}, 1)}
}

func (m *metrics) update(f func()) {
	m.mu.Lock()
	f()
	m.mu.Unlock()
	select {
	case m.changed <- struct{}{}:
	default:
	}
}

func (m *metrics) Datagram(outcome string) { m.update(func() { m.datagrams[outcome]++ }) }
func (m *metrics) Sessions(n int)          { m.update(func() { m.sessions += n }) }
func (m *metrics) Dropped(n uint64)        { m.update(func() { m.dropped += n }) }

// waitFor waits until cond holds of the counts.
func (m *metrics) waitFor(t *testing.T, what string, cond func(m *metrics) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		m.mu.Lock()
		ok := cond(m)
		m.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-m.changed:
		case <-deadline:
			t.Fatalf("metrics never showed %s: %+v", what, m.snapshot())
		}
	}
}

func (m *metrics) snapshot() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int{"sessions": m.sessions, "dropped": int(m.dropped)}
	for k, v := range m.datagrams {
		out[k] = v
	}
	return out
}

// records keeps the log records.
type records struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// at returns the records of a level, and each one's "count" attribute.
func (r *records) at(level slog.Level) (n int, counts []int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.recs {
		if rec.Level != level {
			continue
		}
		n++
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == "count" {
				counts = append(counts, a.Value.Int64())
			}
			return true
		})
	}
	return n, counts
}

// socketPath returns a socket path in a fresh directory, short enough
// for sun_path.
func socketPath(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "dgram")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "tlsrpt.sock")
}

// start makes a collector on cfg (a fresh socket path unless set) and
// serves it until the test ends.
func start(t testing.TB, cfg collector.Config) *collector.Datagrams {
	t.Helper()
	if cfg.Path == "" {
		cfg.Path = socketPath(t)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(&records{})
	}
	d, err := collector.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- d.Serve() }()
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
		if err := <-served; !errors.Is(err, collector.ErrClosed) {
			t.Errorf("Serve returned %v, want ErrClosed", err)
		}
	})
	return d
}

// send sends datagrams to the socket at path, as libtlsrpt does: one
// socket per datagram.
func send(t testing.TB, path string, datagrams ...string) {
	t.Helper()
	for _, dg := range datagrams {
		c, err := net.Dial("unixgram", path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte(dg)); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
}

func TestSessionsReachTheSink(t *testing.T) {
	s, m, clk := newSink(), newMetrics(), newClock()
	d := start(t, collector.Config{Sink: s, Metrics: m, Now: clk.Now, Parsers: 1}) // one parser: in order
	send(t, d.Path(), successTLSA, failureSTS)

	got := s.next(t)
	if len(got) != 1 || !got[0].Success || got[0].Policy.Type != tlsrpt.PolicyTLSA || got[0].Policy.Domain != "mx1.example.com" {
		t.Errorf("first datagram: %+v, want one successful tlsa session for mx1.example.com", got)
	}
	if len(got) == 1 && !got[0].Time.Equal(clk.Now()) {
		t.Errorf("session time %v, want the arrival %v", got[0].Time, clk.Now())
	}
	got = s.next(t)
	if len(got) != 1 || got[0].Success || got[0].Result != tlsrpt.ResultCertificateHostMismatch || got[0].ReceivingIP != "198.51.100.7" {
		t.Errorf("second datagram: %+v, want one certificate-host-mismatch session", got)
	}
	m.waitFor(t, "two accepted datagrams and two sessions", func(m *metrics) bool {
		return m.datagrams["accepted"] == 2 && m.sessions == 2
	})
}

// TestParsersCountEverything: with several parsers every datagram is
// counted once, in whatever order.
func TestParsersCountEverything(t *testing.T) {
	const n = 100 // what the sink's channel holds
	s, m := newSink(), newMetrics()
	d := start(t, collector.Config{Sink: s, Metrics: m, Parsers: 4, Queue: n})
	for range n / 2 {
		send(t, d.Path(), successTLSA, failureSTS)
	}
	m.waitFor(t, "every datagram counted", func(m *metrics) bool { return m.datagrams["accepted"] == n && m.sessions == n })
	ok, failed := 0, 0
	for range n {
		for _, ss := range s.next(t) {
			if ss.Success {
				ok++
			} else {
				failed++
			}
		}
	}
	if ok != n/2 || failed != n/2 {
		t.Errorf("the sink got %d successful and %d failed sessions, want %d of each", ok, failed, n/2)
	}
}

func TestRefusedDatagramsAreCounted(t *testing.T) {
	tests := []struct {
		name     string
		datagram string
		outcome  string
	}{
		{name: "not JSON", datagram: "hello", outcome: "malformed"},
		{name: "empty", datagram: "", outcome: "malformed"},
		{name: "no dpv", datagram: strings.Replace(successTLSA, `"dpv": "1",`, "", 1), outcome: "malformed"},
		{name: "unknown failure code", datagram: badCode, outcome: "invalid"},
		{name: "oversize", datagram: strings.Repeat(" ", tlsrpt.MaxDatagram+1), outcome: "oversize"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, m, logs := newSink(), newMetrics(), &records{}
			d := start(t, collector.Config{Sink: s, Metrics: m, Logger: slog.New(logs), Parsers: 1})
			// The good datagram after the bad one arrives at the sink only
			// once the bad one was dealt with: one parser handles them in
			// order.
			send(t, d.Path(), tt.datagram, successTLSA)
			if got := s.next(t); len(got) != 1 || !got[0].Success {
				t.Fatalf("the good datagram gave %+v", got)
			}
			m.waitFor(t, "the good datagram counted", func(m *metrics) bool { return m.datagrams["accepted"] == 1 && m.sessions == 1 })
			if got := m.snapshot(); got[tt.outcome] != 1 || got["sessions"] != 1 {
				t.Errorf("counts %v, want one %s datagram and one session", got, tt.outcome)
			}
			if n, _ := logs.at(slog.LevelDebug); n != 1 {
				t.Errorf("%d debug records, want one for the refused datagram", n)
			}
			if n, counts := logs.at(slog.LevelWarn); n != 1 || counts[0] != 1 {
				t.Errorf("%d warnings (counts %v), want one counting one datagram", n, counts)
			}
			select {
			case got := <-s.got:
				t.Errorf("the refused datagram reached the sink: %+v", got)
			default:
			}
		})
	}
}

func TestRefusalWarningsAreRateLimited(t *testing.T) {
	s, m, clk, logs := newSink(), newMetrics(), newClock(), &records{}
	d := start(t, collector.Config{Sink: s, Metrics: m, Now: clk.Now, Logger: slog.New(logs)})
	refuse := func(n int) {
		t.Helper()
		before := m.snapshot()["malformed"]
		for range n {
			send(t, d.Path(), "{")
		}
		m.waitFor(t, "the malformed datagrams counted", func(m *metrics) bool { return m.datagrams["malformed"] == before+n })
	}
	refuse(3)
	if n, counts := logs.at(slog.LevelWarn); n != 1 || counts[0] != 1 {
		t.Fatalf("after three refusals within a minute: %d warnings (counts %v), want the first one only", n, counts)
	}
	clk.Advance(59 * time.Second)
	refuse(1)
	if n, _ := logs.at(slog.LevelWarn); n != 1 {
		t.Fatalf("59 s later: %d warnings, want still one", n)
	}
	clk.Advance(time.Second)
	refuse(1)
	if n, counts := logs.at(slog.LevelWarn); n != 2 || counts[1] != 4 {
		t.Fatalf("a minute later: %d warnings (counts %v), want a second one counting the four since the first", n, counts)
	}
	if n, _ := logs.at(slog.LevelDebug); n != 5 {
		t.Errorf("%d debug records, want one per refused datagram (5)", n)
	}
}

// blockingSink holds every Add until released.
type blockingSink struct {
	entered chan struct{}
	release chan struct{}
	got     chan []tlsrpt.Session
}

func (s *blockingSink) Add(sessions ...tlsrpt.Session) {
	s.entered <- struct{}{}
	<-s.release
	s.got <- sessions
}

func TestSlowSinkDropsFromTheQueue(t *testing.T) {
	s := &blockingSink{entered: make(chan struct{}, 10), release: make(chan struct{}), got: make(chan []tlsrpt.Session, 10)}
	m, logs := newMetrics(), &records{}
	d := start(t, collector.Config{Sink: s, Metrics: m, Queue: 1, Parsers: 1, Logger: slog.New(logs)})
	send(t, d.Path(), successTLSA)
	<-s.entered // the parser holds the first datagram in the sink
	// The second waits in the queue, the third finds it full.
	send(t, d.Path(), successTLSA, failureSTS)
	m.waitFor(t, "one datagram dropped", func(m *metrics) bool { return m.dropped == 1 })
	close(s.release)
	for range 2 {
		select {
		case got := <-s.got:
			if len(got) != 1 || !got[0].Success {
				t.Errorf("the sink got %+v, want the successful datagrams only", got)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the queued datagram never reached the sink")
		}
	}
	m.waitFor(t, "two accepted datagrams", func(m *metrics) bool { return m.datagrams["accepted"] == 2 && m.sessions == 2 })
	if got := m.snapshot(); got["accepted"] != 2 || got["dropped"] != 1 || got["sessions"] != 2 || len(got) != 3 {
		t.Errorf("counts %v, want two accepted, one dropped and nothing else", got)
	}
	if n, _ := logs.at(slog.LevelWarn); n != 1 {
		t.Errorf("%d warnings, want one for the dropped datagram", n)
	}
}

func TestSocketFile(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		wantErr string // "" for success
	}{
		{name: "new", prepare: func(*testing.T, string) {}},
		{name: "stale socket replaced", prepare: func(t *testing.T, path string) {
			c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
			if err != nil {
				t.Fatal(err)
			}
			c.Close() // a datagram socket's file outlives it
			if _, err := os.Lstat(path); err != nil {
				t.Fatalf("the stale socket file is gone: %v", err)
			}
		}},
		{name: "socket in use refused", wantErr: "in use", prepare: func(t *testing.T, path string) {
			c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
		}},
		{name: "regular file refused", wantErr: "not a socket", prepare: func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "directory refused", wantErr: "not a socket", prepare: func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := socketPath(t)
			tt.prepare(t, path)
			before, _ := os.Lstat(path)
			s := newSink()
			d, err := collector.New(collector.Config{Path: path, Sink: s, Logger: slog.New(&records{})})
			if tt.wantErr != "" {
				if err == nil {
					d.Close()
					t.Fatalf("New succeeded, want an error containing %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %q, want one containing %q", err, tt.wantErr)
				}
				if after, err := os.Lstat(path); err != nil || !os.SameFile(before, after) {
					t.Fatalf("the file at the path was touched: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o666 {
				t.Errorf("socket file mode %v, want a socket with 0666", fi.Mode())
			}
			served := make(chan error, 1)
			go func() { served <- d.Serve() }()
			send(t, path, successTLSA)
			s.next(t)
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			if err := <-served; !errors.Is(err, collector.ErrClosed) {
				t.Errorf("Serve returned %v, want ErrClosed", err)
			}
			if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("after Close, Lstat(socket) = %v, want it gone", err)
			}
			if err := d.Close(); err != nil {
				t.Errorf("a second Close: %v", err)
			}
		})
	}
}

func TestCloseBeforeServe(t *testing.T) {
	path := socketPath(t)
	d, err := collector.New(collector.Config{Path: path, Sink: newSink()})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Serve(); !errors.Is(err, collector.ErrClosed) {
		t.Errorf("Serve after Close = %v, want ErrClosed", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Close, Lstat(socket) = %v, want it gone", err)
	}
}

func TestCloseKeepsAReplacedSocket(t *testing.T) {
	path := socketPath(t)
	d, err := collector.New(collector.Config{Path: path, Sink: newSink()})
	if err != nil {
		t.Fatal(err)
	}
	// Another collector took the path over (it removed ours, as New
	// removes a stale one).
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	other, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("Close removed the other collector's socket: %v", err)
	}
}

func TestQueuedDatagramsAreParsedOnClose(t *testing.T) {
	s := &blockingSink{entered: make(chan struct{}, 10), release: make(chan struct{}), got: make(chan []tlsrpt.Session, 10)}
	// The reader asks the time once per datagram read (and for nothing
	// else here: no datagram is refused), which tells when it has
	// queued them.
	reads := make(chan struct{}, 10)
	now := func() time.Time {
		reads <- struct{}{}
		return time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	}
	path := socketPath(t)
	d, err := collector.New(collector.Config{Path: path, Sink: s, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- d.Serve() }()
	send(t, path, successTLSA, successTLSA, successTLSA)
	for range 3 {
		<-reads
	}
	<-s.entered // the first is in the sink, two wait in the queue
	closed := make(chan error, 1)
	go func() { closed <- d.Close() }()
	close(s.release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, collector.ErrClosed) {
		t.Errorf("Serve returned %v, want ErrClosed", err)
	}
	if n := len(s.got); n != 3 {
		t.Errorf("the sink got %d datagrams, want all 3 read before Close", n)
	}
}

func TestNewChecksConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  collector.Config
		want string
	}{
		{name: "no path", cfg: collector.Config{Sink: newSink()}, want: "socket path"},
		{name: "no sink", cfg: collector.Config{Path: "x"}, want: "sink"},
		{name: "negative queue", cfg: collector.Config{Path: "x", Sink: newSink(), Queue: -1}, want: "negative"},
		{name: "negative buffer", cfg: collector.Config{Path: "x", Sink: newSink(), ReadBuffer: -1}, want: "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := collector.New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error about %s", err, tt.want)
			}
		})
	}
}

// TestNoMetrics runs a collector without Metrics: the default counts
// nothing and does not fail.
func TestNoMetrics(t *testing.T) {
	// One parser: the refused datagram is logged before the good one
	// reaches the sink, and the log's buffer is not written meanwhile.
	s := newSink()
	var buf bytes.Buffer
	d := start(t, collector.Config{Sink: s, Parsers: 1, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	send(t, d.Path(), "x", successTLSA)
	s.next(t)
	if !strings.Contains(buf.String(), "datagrams refused") {
		t.Errorf("no warning for the refused datagram in the log:\n%s", buf.String())
	}
}
