package shared_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daned/daned/cache"
	"github.com/daned/daned/internal/fakeclock"
	"github.com/daned/daned/internal/redistest"
	"github.com/daned/daned/shared"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

// hang is the guard of every wait in these tests: far longer than any
// of them should take, so that a hang fails instead of blocking CI.
const hang = 30 * time.Second

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newStore(t *testing.T, cfg shared.Config) *shared.Store {
	t.Helper()
	if cfg.Secret == nil {
		cfg.Secret = secret
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet()
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second // a loaded CI machine is slow, not failing
	}
	s, err := shared.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// await waits until cond holds of the store's state, woken by its
// changes, and fails the test after the hang guard.
func await(t *testing.T, s *shared.Store, what string, cond func(shared.Stats) bool) {
	t.Helper()
	deadline := time.After(hang)
	for {
		ch := s.Changed()
		if cond(s.Stats()) {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("waiting for %s: %+v", what, s.Stats())
		}
	}
}

// awaitPoll waits until cond holds, looking every millisecond: for
// counters that do not signal a change.
func awaitPoll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hang)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name string
		cfg  shared.Config
		want string
	}{
		{name: "no URL", cfg: shared.Config{Secret: secret}, want: "URL is required"},
		{name: "short secret", cfg: shared.Config{URL: "redis://127.0.0.1:1", Secret: secret[:31]}, want: "at least 32 bytes"},
		{name: "bad URL", cfg: shared.Config{URL: "http://127.0.0.1:1", Secret: secret}, want: "Redis URL"},
		{name: "negative timeout", cfg: shared.Config{URL: "redis://127.0.0.1:1", Secret: secret, Timeout: -1}, want: "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := shared.New(tt.cfg)
			if err == nil {
				s.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestPutGet(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	clock := fakeclock.New(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	s := newStore(t, shared.Config{URL: srv.URL(), Now: clock.Now})
	ctx := context.Background()
	exp := clock.Now().Add(time.Minute)
	s.Put(ctx, "v:0:example.com", []byte("verdict"), exp)
	p, got, ok := s.Get(ctx, "v:0:example.com")
	if !ok || string(p) != "verdict" || !got.Equal(exp) {
		t.Fatalf("Get = %q, %v, %v; want the payload with its expiry %v", p, got, ok, exp)
	}
	// The Redis key expires with the entry: bounded memory.
	pttl, err := srv.Do(ctx, "PTTL", "daned:v:0:example.com")
	if err != nil || pttl == ":-1" || pttl == ":-2" {
		t.Errorf("PTTL = %q, %v: want an expiry on the key", pttl, err)
	}
	// Past its expiry no replica serves it, whatever Redis still holds.
	clock.Advance(time.Minute)
	if _, _, ok := s.Get(ctx, "v:0:example.com"); ok {
		t.Error("an expired entry was served")
	}
	if st := s.Stats(); st.Rejected["expired"] != 1 {
		t.Errorf("rejected = %v, want one expired", st.Rejected)
	}
	// An expiry already past stores nothing.
	s.Put(ctx, "v:0:past.example", []byte("x"), clock.Now())
	if v, err := srv.Do(ctx, "EXISTS", "daned:v:0:past.example"); v != ":0" {
		t.Errorf("EXISTS = %q, %v: an expired entry was stored", v, err)
	}
}

// TestEntryAuthentication plays an attacker with write access to Redis:
// every entry it makes or changes is refused, counted, and read as a
// miss (the decision layer then validates).
func TestEntryAuthentication(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	ctx := context.Background()
	s := newStore(t, shared.Config{URL: srv.URL()})
	other := newStore(t, shared.Config{URL: srv.URL(), Secret: []byte("another secret, 32 bytes or more...")})
	exp := time.Now().Add(time.Hour)
	tests := []struct {
		name   string
		attack func(t *testing.T, key string)
		reason string
	}{
		{name: "forged value", reason: "forged", attack: func(t *testing.T, key string) {
			s.Put(ctx, "good", []byte("deliver"), exp)
			raw := get(t, srv, "daned:good")
			// Same layout, new payload, the old MAC.
			forged := raw[:9] + "refuse!" + raw[len(raw)-32:]
			set(t, srv, key, forged)
		}},
		{name: "corrupted byte", reason: "forged", attack: func(t *testing.T, key string) {
			s.Put(ctx, strings.TrimPrefix(key, "daned:"), []byte("deliver"), exp)
			raw := []byte(get(t, srv, key))
			raw[12] ^= 1
			set(t, srv, key, string(raw))
		}},
		{name: "copied from another key", reason: "forged", attack: func(t *testing.T, key string) {
			s.Put(ctx, "v:0:other.example", []byte("deliver"), exp)
			set(t, srv, key, get(t, srv, "daned:v:0:other.example"))
		}},
		{name: "written under another secret", reason: "forged", attack: func(t *testing.T, key string) {
			other.Put(ctx, strings.TrimPrefix(key, "daned:"), []byte("deliver"), exp)
		}},
		{name: "garbage", reason: "malformed", attack: func(t *testing.T, key string) {
			set(t, srv, key, "not an entry")
		}},
		{name: "unknown version", reason: "malformed", attack: func(t *testing.T, key string) {
			s.Put(ctx, strings.TrimPrefix(key, "daned:"), []byte("deliver"), exp)
			raw := []byte(get(t, srv, key))
			raw[0] = 2
			set(t, srv, key, string(raw))
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "v:0:victim" + string(rune('a'+i)) + ".example"
			before := s.Stats().Rejected[tt.reason]
			tt.attack(t, "daned:"+key)
			if p, _, ok := s.Get(ctx, key); ok {
				t.Fatalf("Get accepted %q", p)
			}
			if got := s.Stats().Rejected[tt.reason]; got != before+1 {
				t.Errorf("rejected %s: %d, want %d", tt.reason, got, before+1)
			}
			// Do treats it as absent: it makes the entry and overwrites
			// the bad one.
			p, _, fromStore, err := s.Do(ctx, key, func(context.Context) ([]byte, time.Time, error) {
				return []byte("revalidated"), exp, nil
			})
			if err != nil || fromStore || string(p) != "revalidated" {
				t.Fatalf("Do = %q, shared %v, %v; want a new validation", p, fromStore, err)
			}
			if p, _, ok := s.Get(ctx, key); !ok || string(p) != "revalidated" {
				t.Errorf("after Do, Get = %q, %v", p, ok)
			}
		})
	}
}

func get(t *testing.T, srv *redistest.Server, key string) string {
	t.Helper()
	v, err := srv.Do(context.Background(), "GET", key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func set(t *testing.T, srv *redistest.Server, key, val string) {
	t.Helper()
	if _, err := srv.Do(context.Background(), "SET", key, val, "PX", "3600000"); err != nil {
		t.Fatal(err)
	}
}

// TestDoOnceAcrossReplicas: callers on three replicas ask for the same
// key at once; one of them makes it, the others wait for its result.
func TestDoOnceAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	stores := make([]*shared.Store, 3)
	for i := range stores {
		stores[i] = newStore(t, shared.Config{URL: srv.URL()})
		await(t, stores[i], "the subscription", func(st shared.Stats) bool { return st.Subscribed })
	}
	const perReplica = 10
	var runs atomic.Int64
	gate := make(chan struct{})
	fn := func(context.Context) ([]byte, time.Time, error) {
		runs.Add(1)
		<-gate
		return []byte("the verdict"), time.Now().Add(time.Hour), nil
	}
	var wg sync.WaitGroup
	results := make(chan string, 3*perReplica)
	for _, s := range stores {
		for range perReplica {
			wg.Go(func() {
				p, _, _, err := s.Do(context.Background(), "v:0:cold.example", fn)
				if err != nil {
					t.Error(err)
				}
				results <- string(p)
			})
		}
	}
	waited := func() uint64 {
		var n uint64
		for _, s := range stores {
			n += s.Stats().LeasesWaited
		}
		return n
	}
	awaitPoll(t, "every other caller waiting on the lease", func() bool { return waited() == 3*perReplica-1 })
	close(gate)
	wg.Wait()
	close(results)
	for p := range results {
		if p != "the verdict" {
			t.Errorf("a caller got %q", p)
		}
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("the work ran %d times, want once for the fleet", n)
	}
	if v, _ := srv.Do(context.Background(), "EXISTS", "daned:lease:v:0:cold.example"); v != ":0" {
		t.Errorf("the lease was not released: EXISTS = %q", v)
	}
}

// TestTakeOver: a replica that took the lease dies mid-validation;
// another takes over once the lease lapses and makes the entry itself.
func TestTakeOver(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	cfg := shared.Config{URL: srv.URL(), Lease: 300 * time.Millisecond, Poll: 20 * time.Millisecond}
	holder, err := shared.New(shared.Config{URL: srv.URL(), Secret: secret, Lease: cfg.Lease, Logger: quiet(), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	other := newStore(t, cfg)
	stuck := make(chan struct{})
	defer close(stuck)
	holding := make(chan struct{})
	go holder.Do(context.Background(), "p:192.0.2.1/mx.example", func(context.Context) ([]byte, time.Time, error) {
		close(holding)
		<-stuck // never finishes while the test runs
		return nil, time.Time{}, errors.New("dead")
	})
	<-holding
	// The holder's process dies: its connections go, its lease is no
	// longer extended.
	holder.Close()
	var runs atomic.Int64
	p, _, fromStore, err := other.Do(context.Background(), "p:192.0.2.1/mx.example", func(context.Context) ([]byte, time.Time, error) {
		runs.Add(1)
		return []byte("probe result"), time.Now().Add(time.Minute), nil
	})
	if err != nil || fromStore || string(p) != "probe result" || runs.Load() != 1 {
		t.Fatalf("Do = %q, shared %v, %v, runs %d; want the work done here", p, fromStore, err, runs.Load())
	}
	if st := other.Stats(); st.LeasesWaited != 1 || st.LeasesTakenOver != 1 {
		t.Errorf("leases waited %d, taken over %d; want 1 and 1", st.LeasesWaited, st.LeasesTakenOver)
	}
}

// TestLongValidationKeepsLease: a holder working for several lease
// lifetimes extends its lease, so that no one takes over.
func TestLongValidationKeepsLease(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	cfg := shared.Config{URL: srv.URL(), Lease: 150 * time.Millisecond, Poll: 10 * time.Millisecond}
	a, b := newStore(t, cfg), newStore(t, cfg)
	var runs atomic.Int64
	gate := make(chan struct{})
	fn := func(context.Context) ([]byte, time.Time, error) {
		runs.Add(1)
		<-gate
		return []byte("x"), time.Now().Add(time.Minute), nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Do(context.Background(), "k", fn)
	}()
	awaitPoll(t, "the lease taken", func() bool { return a.Stats().LeasesAcquired == 1 })
	bdone := make(chan struct{})
	go func() {
		defer close(bdone)
		b.Do(context.Background(), "k", fn)
	}()
	// Wait until the lease has been extended several times (its key's
	// remaining life is reset each third of it), then let it finish.
	extended, last := 0, int64(-1)
	awaitPoll(t, "the lease extended", func() bool {
		v, _ := srv.Do(context.Background(), "PTTL", "daned:lease:k")
		n, _ := strconv.ParseInt(strings.TrimPrefix(v, ":"), 10, 64)
		if last >= 0 && n > last {
			extended++
		}
		last = n
		return extended >= 3
	})
	close(gate)
	<-done
	<-bdone
	if n := runs.Load(); n != 1 {
		t.Errorf("the work ran %d times, want once", n)
	}
}

type received struct {
	mu   sync.Mutex
	invs []cache.Invalidation
}

func (r *received) listen(inv cache.Invalidation) {
	r.mu.Lock()
	r.invs = append(r.invs, inv)
	r.mu.Unlock()
}

func TestInvalidateReachesOthers(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	ctx := context.Background()
	a := newStore(t, shared.Config{URL: srv.URL()})
	b := newStore(t, shared.Config{URL: srv.URL()})
	var ra, rb received
	a.Listen(ra.listen, nil)
	b.Listen(rb.listen, nil)
	for _, s := range []*shared.Store{a, b} {
		await(t, s, "the subscription", func(st shared.Stats) bool { return st.Subscribed })
	}
	exp := time.Now().Add(time.Hour)
	a.Put(ctx, "v:0:example.com", []byte("v"), exp)
	a.Put(ctx, "d:15:example.com.", []byte("mx"), exp)
	inv := cache.Invalidation{Domain: "example.com", Names: []string{"example.com", "mx.example.com."},
		Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}}
	a.Invalidate(ctx, inv, []string{"v:0:example.com", "v:1:example.com", "d:15:example.com."})
	await(t, b, "the invalidation", func(st shared.Stats) bool { return st.InvalidationsReceived == 1 })
	rb.mu.Lock()
	got := rb.invs
	rb.mu.Unlock()
	if len(got) != 1 || got[0].Domain != inv.Domain || strings.Join(got[0].Names, ",") != strings.Join(inv.Names, ",") ||
		len(got[0].Addrs) != 2 || got[0].Addrs[1] != inv.Addrs[1] {
		t.Errorf("received %+v, want %+v", got, inv)
	}
	for _, k := range []string{"v:0:example.com", "d:15:example.com."} {
		if _, _, ok := b.Get(ctx, k); ok {
			t.Errorf("%s is still shared", k)
		}
	}
	if st := a.Stats(); st.InvalidationsSent != 1 {
		t.Errorf("sent %d", st.InvalidationsSent)
	}
	// The sender does not act on its own message (it has done the
	// local part already); a second message, from b, reaches a.
	b.Invalidate(ctx, cache.Invalidation{Domain: "example.org"}, nil)
	await(t, a, "the second invalidation", func(st shared.Stats) bool { return st.InvalidationsReceived == 1 })
	ra.mu.Lock()
	defer ra.mu.Unlock()
	if len(ra.invs) != 1 || ra.invs[0].Domain != "example.org" {
		t.Errorf("a received %+v", ra.invs)
	}
}

// TestForgedInvalidationRefused: a Redis user may publish, but not an
// invalidation the replicas act on.
func TestForgedInvalidationRefused(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	b := newStore(t, shared.Config{URL: srv.URL()})
	var rb received
	b.Listen(rb.listen, nil)
	await(t, b, "the subscription", func(st shared.Stats) bool { return st.Subscribed })
	if _, err := srv.Do(context.Background(), "PUBLISH", "daned:invalidate", `{"d":"example.com"}`); err != nil {
		t.Fatal(err)
	}
	await(t, b, "the refusal", func(st shared.Stats) bool { return st.Rejected["malformed"] == 1 })
	if len(rb.invs) != 0 || b.Stats().InvalidationsReceived != 0 {
		t.Errorf("a forged invalidation was acted on: %+v", rb.invs)
	}
}

// TestRedisDown: with Redis gone every call answers at once that nothing
// is shared, the work is done here, and when Redis is back the store
// resubscribes and asks for a resync (invalidations may have been
// missed meanwhile).
func TestRedisDown(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	ctx := context.Background()
	var logs bytes.Buffer
	var mu sync.Mutex
	s := newStore(t, shared.Config{URL: srv.URL(), Backoff: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&lockedBuf{mu: &mu, b: &logs}, nil))})
	var resyncs atomic.Int64
	s.Listen(func(cache.Invalidation) {}, func() { resyncs.Add(1) })
	await(t, s, "the subscription", func(st shared.Stats) bool { return st.Subscribed && st.Up })
	s.Put(ctx, "k", []byte("x"), time.Now().Add(time.Hour))

	srv.Kill()
	await(t, s, "the store seen down", func(st shared.Stats) bool { return !st.Up && !st.Subscribed })
	if _, _, ok := s.Get(ctx, "k"); ok {
		t.Error("Get answered with Redis down")
	}
	var runs atomic.Int64
	p, _, fromStore, err := s.Do(ctx, "k2", func(context.Context) ([]byte, time.Time, error) {
		runs.Add(1)
		return []byte("local"), time.Now().Add(time.Hour), nil
	})
	if err != nil || fromStore || string(p) != "local" || runs.Load() != 1 {
		t.Errorf("Do with Redis down = %q, shared %v, %v, runs %d; want the work done here", p, fromStore, err, runs.Load())
	}

	srv.Restart()
	await(t, s, "the subscription back", func(st shared.Stats) bool { return st.Subscribed && st.Up })
	if resyncs.Load() != 1 || s.Stats().Resyncs != 1 {
		t.Errorf("resyncs %d, want 1", resyncs.Load())
	}
	s.Put(ctx, "k3", []byte("y"), time.Now().Add(time.Hour))
	if p, _, ok := s.Get(ctx, "k3"); !ok || string(p) != "y" {
		t.Errorf("after the restart Get = %q, %v", p, ok)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{"shared store unreachable", "shared store reachable"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

type lockedBuf struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// TestACL runs everything as a Redis user with exactly the rights
// docs/SHARED.md gives it.
func TestACL(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{User: "daned", Password: "a-long-password", ACL: shared.ACL("daned:")})
	ctx := context.Background()
	a := newStore(t, shared.Config{URL: srv.URL()})
	b := newStore(t, shared.Config{URL: srv.URL()})
	var rb received
	b.Listen(rb.listen, nil)
	for _, s := range []*shared.Store{a, b} {
		await(t, s, "the subscription", func(st shared.Stats) bool { return st.Subscribed && st.Up })
	}
	p, _, _, err := a.Do(ctx, "v:0:example.com", func(context.Context) ([]byte, time.Time, error) {
		return []byte("v"), time.Now().Add(time.Hour), nil
	})
	if err != nil || string(p) != "v" {
		t.Fatalf("Do = %q, %v", p, err)
	}
	if p, _, ok := b.Get(ctx, "v:0:example.com"); !ok || string(p) != "v" {
		t.Fatalf("Get = %q, %v", p, ok)
	}
	a.Invalidate(ctx, cache.Invalidation{Domain: "example.com"}, []string{"v:0:example.com"})
	await(t, b, "the invalidation", func(st shared.Stats) bool { return st.InvalidationsReceived == 1 })
	if st := a.Stats(); len(st.Errors) != 0 {
		t.Errorf("errors under the ACL: %v", st.Errors)
	}
	if st := b.Stats(); len(st.Errors) != 0 {
		t.Errorf("errors under the ACL: %v", st.Errors)
	}
	// The user can touch nothing outside its prefix.
	if _, err := srv.Do(ctx, "SET", "other:key", "x"); err == nil {
		t.Error("the ACL allows keys outside the prefix")
	}
}

// TestLead: a refresh runs only where no other replica holds the lease.
func TestLead(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	s := newStore(t, shared.Config{URL: srv.URL()})
	ctx := context.Background()
	var runs atomic.Int64
	fn := func(context.Context) ([]byte, time.Time, error) {
		runs.Add(1)
		return []byte("refreshed"), time.Now().Add(time.Minute), nil
	}
	set(t, srv, "daned:lease:v:0:busy.example", "another replica's token")
	if s.Lead(ctx, "v:0:busy.example", fn) || runs.Load() != 0 {
		t.Fatal("Lead ran although another replica holds the lease")
	}
	if v, _ := srv.Do(ctx, "GET", "daned:lease:v:0:busy.example"); v != "another replica's token" {
		t.Fatalf("the other replica's lease was touched: %q", v)
	}
	if _, err := srv.Do(ctx, "DEL", "daned:lease:v:0:busy.example"); err != nil {
		t.Fatal(err)
	}
	if !s.Lead(ctx, "v:0:busy.example", fn) || runs.Load() != 1 {
		t.Fatal("Lead did not run with the lease free")
	}
	if p, _, ok := s.Get(ctx, "v:0:busy.example"); !ok || string(p) != "refreshed" {
		t.Errorf("Get = %q, %v: Lead's result was not stored", p, ok)
	}
}
