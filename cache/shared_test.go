package cache_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/daned/daned/cache"
	"github.com/daned/daned/dane"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/flight"
	"github.com/daned/daned/internal/fakeclock"
	"github.com/daned/daned/internal/redistest"
	"github.com/daned/daned/resolver"
	"github.com/daned/daned/shared"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// hang guards every wait of these tests: a hang fails, it does not block.
const hang = 30 * time.Second

// replica is one daned's decision layer over its own engine and its own
// connection to the shared Redis.
type replica struct {
	v     *cache.Validator
	e     *fakeEngine
	store *shared.Store
}

// newStore connects one replica's shared store to srv, closed when the
// test ends.
func newStore(t *testing.T, srv *redistest.Server, clk *fakeclock.Clock) *shared.Store {
	t.Helper()
	st, err := shared.New(shared.Config{URL: srv.URL(), Secret: testSecret, Now: clk.Now, Timeout: time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newReplicas(t *testing.T, srv *redistest.Server, n int, clk *fakeclock.Clock, e func() *fakeEngine) []replica {
	t.Helper()
	rs := make([]replica, n)
	for i := range rs {
		st := newStore(t, srv, clk)
		rs[i].e = e()
		rs[i].store = st
		rs[i].v = newValidator(t, cache.ValidatorConfig{Upstream: rs[i].e, Size: 1000, Now: clk.Now, Shared: st,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		awaitStore(t, st, "the subscription", func(s shared.Stats) bool { return s.Subscribed })
	}
	return rs
}

func awaitStore(t *testing.T, s *shared.Store, what string, cond func(shared.Stats) bool) {
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

func validations(rs []replica) int64 {
	var n int64
	for _, r := range rs {
		n += r.e.calls.Load()
	}
	return n
}

// TestSharedColdRequests: 300 concurrent cold requests for one domain
// spread over three replicas cost one validation.
func TestSharedColdRequests(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	clk := newClock()
	release := make(chan struct{})
	rs := newReplicas(t, srv, 3, clk, func() *fakeEngine {
		return &fakeEngine{ttl: 10 * time.Minute, now: clk.Now, release: release}
	})
	var wg sync.WaitGroup
	decisions := make(chan cache.Decision, 300)
	for i := range 300 {
		wg.Go(func() {
			d, err := rs[i%3].v.Decide(context.Background(), "cold.example", engine.Options{})
			if err != nil {
				t.Error(err)
				return
			}
			decisions <- d
		})
	}
	// The replica that took the lease validates; each other replica
	// sends one request to Redis (its callers share it) and waits.
	deadline := time.Now().Add(hang)
	for {
		var waited uint64
		for _, r := range rs {
			waited += r.store.Stats().LeasesWaited
		}
		if waited == 2 && validations(rs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for two replicas on the lease: %d waiting, %d validations", waited, validations(rs))
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(decisions)
	if n := validations(rs); n != 1 {
		t.Errorf("%d validations for 300 cold requests over 3 replicas, want 1", n)
	}
	var fromStore int
	for d := range decisions {
		if d.Result.Domain != "cold.example" || d.Result.Verdict.Action != dane.ActionDeliver {
			t.Errorf("decision %+v", d.Result)
		}
		if d.Source == flight.Cached {
			fromStore++
			if d.Remaining != 10*time.Minute {
				t.Errorf("a shared verdict's remaining life is %v, want all 10m (the clock has not moved)", d.Remaining)
			}
		}
	}
	if fromStore < 200 {
		t.Errorf("%d decisions from the shared store, want the 200 of the two waiting replicas at least", fromStore)
	}
}

// TestSharedRemainingLife: a replica serves a verdict another made with
// what is left of its life, and never past its end.
func TestSharedRemainingLife(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	clk := newClock()
	rs := newReplicas(t, srv, 2, clk, func() *fakeEngine { return &fakeEngine{ttl: 10 * time.Minute, now: clk.Now} })
	ctx := context.Background()
	if _, err := rs[0].v.Decide(ctx, "example.com", engine.Options{}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(4 * time.Minute)
	d, err := rs[1].v.Decide(ctx, "example.com", engine.Options{})
	if err != nil || d.Source != flight.Cached || d.Remaining != 6*time.Minute || rs[1].e.calls.Load() != 0 {
		t.Fatalf("second replica: %v, source %v, remaining %v, %d validations; want the shared verdict with 6m left",
			err, d.Source, d.Remaining, rs[1].e.calls.Load())
	}
	r, err := rs[1].v.Validate(ctx, "example.com", engine.Options{})
	if err != nil || !r.FromCache || r.TTL != 6*time.Minute {
		t.Fatalf("Validate: %v from_cache %v ttl %v", err, r.FromCache, r.TTL)
	}
	// Refresh-ahead keys on the verdict's own lifetime, not on what was
	// left of it when it arrived: at 2m left (past 80% of 10m) a hit
	// refreshes; the refresh is tested elsewhere, here only the end.
	clk.Advance(6 * time.Minute)
	rs[1].v.Close() // no refresh racing the end of life
	d, err = rs[1].v.Decide(ctx, "example.com", engine.Options{})
	if err != nil || d.Source != flight.Fresh || rs[1].e.calls.Load() != 1 {
		t.Fatalf("after the end of its life: %v, source %v, %d validations; want a new validation", err, d.Source, rs[1].e.calls.Load())
	}
	if st := rs[1].store.Stats(); st.Rejected["expired"] == 0 {
		t.Errorf("rejected %v: want the expired entry (still in Redis, whose clock is real) refused", st.Rejected)
	}
}

// TestSharedInvalidate: Invalidate on one replica drops the verdict on
// every replica and in the store; the next answer anywhere is fresh.
func TestSharedInvalidate(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	clk := newClock()
	hosts := []engine.Host{{Name: "mx.example.com", Addresses: []engine.Address{{IP: netip.MustParseAddr("192.0.2.1")}}}}
	rs := newReplicas(t, srv, 3, clk, func() *fakeEngine { return &fakeEngine{ttl: time.Hour, now: clk.Now, hosts: hosts} })
	ctx := context.Background()
	for _, r := range rs {
		if _, err := r.v.Decide(ctx, "example.com", engine.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := validations(rs); n != 1 {
		t.Fatalf("%d validations, want 1", n)
	}
	if n := rs[0].v.Invalidate("example.com"); n != 1 {
		t.Errorf("Invalidate dropped %d local entries, want 1", n)
	}
	for _, r := range rs[1:] {
		awaitStore(t, r.store, "the invalidation", func(s shared.Stats) bool { return s.InvalidationsReceived == 1 })
		if _, ok := r.v.Cached(ctx, "example.com", engine.Options{}); ok {
			t.Error("a replica still holds the invalidated verdict")
		}
	}
	d, err := rs[2].v.Decide(ctx, "example.com", engine.Options{})
	if err != nil || d.Source != flight.Fresh || validations(rs) != 2 {
		t.Fatalf("after Invalidate: %v, source %v, %d validations; want a fresh validation", err, d.Source, validations(rs))
	}
}

// TestSharedForgedVerdict: a verdict planted in Redis by someone without
// the secret is refused, counted, and replaced by a validation.
func TestSharedForgedVerdict(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	clk := newClock()
	rs := newReplicas(t, srv, 2, clk, func() *fakeEngine { return &fakeEngine{ttl: time.Hour, now: clk.Now} })
	ctx := context.Background()
	// A well-formed entry claiming "deliver without TLS", with a MAC
	// made under another key.
	if _, err := srv.Do(ctx, "SET", "daned:v:0:victim.example", "\x01\x19\x00\x00\x00\x00\x00\x00\x00{\"verdict\":{}}0123456789abcdef0123456789abcdef", "PX", "60000"); err != nil {
		t.Fatal(err)
	}
	d, err := rs[0].v.Decide(ctx, "victim.example", engine.Options{})
	if err != nil || d.Source != flight.Fresh || rs[0].e.calls.Load() != 1 || d.Result.Verdict.Policy != dane.PolicyDANERequired {
		t.Fatalf("forged entry: %v, source %v, %d validations", err, d.Source, rs[0].e.calls.Load())
	}
	if st := rs[0].store.Stats(); st.Rejected["forged"] == 0 {
		t.Errorf("rejected %v, want the forged entry refused", st.Rejected)
	}
	// The validation replaced it: the other replica reads the real one.
	d, err = rs[1].v.Decide(ctx, "victim.example", engine.Options{})
	if err != nil || d.Source != flight.Cached || rs[1].e.calls.Load() != 0 {
		t.Fatalf("second replica: %v, source %v, %d validations; want the shared verdict", err, d.Source, rs[1].e.calls.Load())
	}
}

// TestSharedRedisKilled: Redis dies under load; every request is still
// answered, with the same verdict, and sharing resumes when it returns.
func TestSharedRedisKilled(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	clk := newClock()
	rs := newReplicas(t, srv, 2, clk, func() *fakeEngine { return &fakeEngine{ttl: time.Hour, now: clk.Now} })
	ctx := context.Background()
	load := func(round int) {
		var wg sync.WaitGroup
		for i := range 200 {
			wg.Go(func() {
				domain := fmt.Sprintf("d%d-%d.example", round, i%20)
				d, err := rs[i%2].v.Decide(ctx, domain, engine.Options{})
				if err != nil {
					t.Errorf("%s: %v", domain, err)
					return
				}
				if d.Result.Verdict.Action != dane.ActionDeliver || d.Result.Domain != domain {
					t.Errorf("%s: %+v", domain, d.Result.Verdict)
				}
			})
		}
		wg.Wait()
	}
	load(0)
	killed := make(chan struct{})
	go func() { srv.Kill(); close(killed) }()
	load(1) // while Redis dies
	<-killed
	load(2) // without Redis
	for _, r := range rs {
		awaitStore(t, r.store, "the store seen down", func(s shared.Stats) bool { return !s.Subscribed })
	}
	srv.Restart()
	for _, r := range rs {
		awaitStore(t, r.store, "the store back", func(s shared.Stats) bool { return s.Subscribed && s.Resyncs == 1 })
	}
	// Local caches were dropped (invalidations may have been missed):
	// a verdict of round 0 is validated again, once, and shared.
	before := validations(rs)
	if _, err := rs[0].v.Decide(ctx, "d0-1.example", engine.Options{}); err != nil {
		t.Fatal(err)
	}
	d, err := rs[1].v.Decide(ctx, "d0-1.example", engine.Options{})
	if err != nil || d.Source != flight.Cached || validations(rs) != before+1 {
		t.Fatalf("after the restart: %v, source %v, %d validations (was %d); want one, shared", err, d.Source, validations(rs), before)
	}
}

// TestSharedResolver: a DNS answer one replica fetched serves the others
// for what is left of its TTL.
func TestSharedResolver(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	clk := newClock()
	var res []*cache.Resolver
	var ups []*upstream
	for range 2 {
		st := newStore(t, srv, clk)
		up := &upstream{answer: answerTTL(300)}
		r, err := cache.NewResolver(cache.ResolverConfig{Upstream: up, Now: clk.Now, Shared: st})
		if err != nil {
			t.Fatal(err)
		}
		res, ups = append(res, r), append(ups, up)
	}
	ctx := context.Background()
	if _, err := res[0].Lookup(ctx, "mx.example.com", dns.TypeA); err != nil {
		t.Fatal(err)
	}
	clk.Advance(100 * time.Second)
	a, err := res[1].Lookup(ctx, "MX.example.com.", dns.TypeA)
	if err != nil || ups[1].calls.Load() != 0 || a.TTL != 200 || len(a.Records) != 1 || res[1].Shared() != 1 {
		t.Fatalf("second replica: %v, %d queries, TTL %d; want the shared answer with 200s left", err, ups[1].calls.Load(), a.TTL)
	}
	// Fresh lookups query, and share what they get.
	if _, err := res[1].LookupFresh(ctx, "mx.example.com", dns.TypeA); err != nil || ups[1].calls.Load() != 1 {
		t.Fatalf("fresh: %v, %d queries", err, ups[1].calls.Load())
	}
}

// TestSharedProber: a probe one replica made serves the others, within
// the TLSA TTL each caller passes.
func TestSharedProber(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	clk := newClock()
	var ps []*cache.Prober
	var ups []*fakeProber
	for range 2 {
		st := newStore(t, srv, clk)
		up := &fakeProber{}
		p, err := cache.NewProber(cache.ProberConfig{Upstream: up, Now: clk.Now, Shared: st})
		if err != nil {
			t.Fatal(err)
		}
		ps, ups = append(ps, p), append(ups, up)
	}
	ctx := context.Background()
	ip := netip.MustParseAddr("192.0.2.1")
	ps[0].ProbeReusing(ctx, ip, "mx.example.com", 0, false)
	clk.Advance(time.Minute)
	if r := ps[1].ProbeReusing(ctx, ip, "mx.example.com", 0, false); r == nil || ups[1].calls.Load() != 0 || ps[1].Shared() != 1 {
		t.Fatalf("second replica probed (%d) instead of reading the shared result", ups[1].calls.Load())
	}
	// Another SNI is another probe.
	ps[1].ProbeReusing(ctx, ip, "other.example.com", 0, false)
	if ups[1].calls.Load() != 1 {
		t.Fatalf("%d probes, want 1", ups[1].calls.Load())
	}
}

// TestSharedRefresh: of the replicas that refresh a busy verdict, one
// validates; the others adopt its verdict.
func TestSharedRefresh(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	clk := newClock()
	rs := newReplicas(t, srv, 2, clk, func() *fakeEngine { return &fakeEngine{ttl: 100 * time.Second, now: clk.Now} })
	ctx := context.Background()
	for _, r := range rs {
		if _, err := r.v.Decide(ctx, "busy.example", engine.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(85 * time.Second) // in the last fifth of its life
	if _, err := rs[0].v.Decide(ctx, "busy.example", engine.Options{}); err != nil {
		t.Fatal(err)
	}
	rs[0].v.Close() // waits for its refresh
	if n := validations(rs); n != 2 {
		t.Fatalf("%d validations, want the first and one refresh", n)
	}
	if _, err := rs[1].v.Decide(ctx, "busy.example", engine.Options{}); err != nil {
		t.Fatal(err)
	}
	rs[1].v.Close() // its refresh adopts the first replica's
	if n := validations(rs); n != 2 {
		t.Errorf("%d validations, want the second replica to adopt the refreshed verdict", n)
	}
	d, ok := rs[1].v.Cached(ctx, "busy.example", engine.Options{})
	if !ok || d.Remaining != 100*time.Second {
		t.Errorf("second replica holds %v with %v left, want the refreshed verdict's full 100s", ok, d.Remaining)
	}
}

// TestSharedLookupFailure: a failed lookup is shared, with its kind, for
// the failure TTL only.
func TestSharedLookupFailure(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	clk := newClock()
	var res []*cache.Resolver
	var ups []*upstream
	for range 2 {
		st := newStore(t, srv, clk)
		up := &upstream{answer: func(name string, qtype uint16) (*resolver.Answer, error) {
			return nil, &resolver.QueryError{Name: dns.Fqdn(name), Type: qtype, Kind: resolver.ErrServFail, Rcode: dns.RcodeServerFailure}
		}}
		r, err := cache.NewResolver(cache.ResolverConfig{Upstream: up, Now: clk.Now, Shared: st, FailureTTL: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		res, ups = append(res, r), append(ups, up)
	}
	ctx := context.Background()
	if _, err := res[0].Lookup(ctx, "broken.example", dns.TypeMX); !errors.Is(err, resolver.ErrServFail) {
		t.Fatalf("first replica: %v", err)
	}
	clk.Advance(29 * time.Second)
	if _, err := res[1].Lookup(ctx, "broken.example", dns.TypeMX); !errors.Is(err, resolver.ErrServFail) || ups[1].calls.Load() != 0 {
		t.Fatalf("second replica: %v, %d queries; want the shared SERVFAIL", err, ups[1].calls.Load())
	}
	clk.Advance(time.Second)
	if _, err := res[1].Lookup(ctx, "other.broken.example", dns.TypeMX); err == nil {
		t.Fatal("no error")
	}
	if _, err := res[1].Lookup(ctx, "broken.example", dns.TypeMX); !errors.Is(err, resolver.ErrServFail) || ups[1].calls.Load() != 2 {
		t.Fatalf("after the failure TTL: %v, %d queries; want a query of its own", err, ups[1].calls.Load())
	}
}

// TestSharedSpanAttribute: a request answered from the shared store says
// so in its trace.
func TestSharedSpanAttribute(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	clk := newClock()
	rs := newReplicas(t, srv, 2, clk, func() *fakeEngine { return &fakeEngine{ttl: time.Hour, now: clk.Now} })
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	for i, r := range rs {
		ctx, span := tp.Tracer("test").Start(context.Background(), fmt.Sprintf("request %d", i))
		if _, err := r.v.Decide(ctx, "traced.example", engine.Options{}); err != nil {
			t.Fatal(err)
		}
		span.End()
	}
	shared := map[string]bool{}
	for _, s := range rec.Ended() {
		for _, a := range s.Attributes() {
			if a.Key == "dane.cache.shared" && a.Value.AsBool() {
				shared[s.Name()] = true
			}
		}
	}
	if shared["request 0"] || !shared["request 1"] {
		t.Errorf("spans marked as answered from the shared store: %v, want request 1 only", shared)
	}
}

// TestSharedRedisHung: a Redis that accepts connections and never
// answers costs each call --redis-timeout, then nothing while the store
// backs off; every request is answered, by this replica.
func TestSharedRedisHung(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	clk := newClock()
	st, err := shared.New(shared.Config{URL: srv.URL(), Secret: testSecret, Now: clk.Now, Timeout: 50 * time.Millisecond, Backoff: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &fakeEngine{ttl: time.Hour, now: clk.Now}
	v := newValidator(t, cache.ValidatorConfig{Upstream: e, Size: 1000, Now: clk.Now, Shared: st,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	awaitStore(t, st, "the subscription", func(s shared.Stats) bool { return s.Subscribed })
	srv.Pause()
	defer srv.Resume()
	ctx := context.Background()
	for i := range 50 {
		domain := fmt.Sprintf("d%d.example", i)
		d, err := v.Decide(ctx, domain, engine.Options{})
		if err != nil || d.Result.Domain != domain || d.Result.Verdict.Action != dane.ActionDeliver {
			t.Fatalf("%s with Redis hung: %v %+v", domain, err, d.Result)
		}
	}
	if n := e.calls.Load(); n != 50 {
		t.Errorf("%d validations, want every request validated here", n)
	}
	s := st.Stats()
	if s.Up || s.Errors["get"] == 0 || s.Skipped == 0 {
		t.Errorf("stats %+v: want the store down, a timed-out get, and calls skipped while backing off", s)
	}
}
