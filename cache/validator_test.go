package cache_test

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/miekg/dns"

	"github.com/daned/daned/cache"
	"github.com/daned/daned/dane"
	"github.com/daned/daned/dnsname"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/flight"
)

// fakeEngine counts validations, records their options, and can hold
// them until released.
type fakeEngine struct {
	calls   atomic.Int64
	release chan struct{}
	ttl     time.Duration
	now     func() time.Time
	mu      sync.Mutex
	opts    []engine.Options
	hosts   []engine.Host
}

func (f *fakeEngine) Validate(ctx context.Context, domain string, opts engine.Options) (*engine.Result, error) {
	f.calls.Add(1)
	f.mu.Lock()
	f.opts = append(f.opts, opts)
	f.mu.Unlock()
	if f.release != nil {
		select {
		case <-f.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &engine.Result{Domain: domain, CheckedAt: f.now(), TTL: f.ttl, PolicyOnly: opts.PolicyOnly, Hosts: f.hosts,
		Verdict: dane.Verdict{Action: dane.ActionDeliver, Policy: dane.PolicyDANERequired, Reason: dane.ReasonOK}}, nil
}

func (f *fakeEngine) lastOpts() engine.Options {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opts[len(f.opts)-1]
}

func newValidator(t *testing.T, cfg cache.ValidatorConfig) *cache.Validator {
	t.Helper()
	v, err := cache.NewValidator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func TestValidatorCaches(t *testing.T) {
	clk := newClock()
	e := &fakeEngine{ttl: 100 * time.Second, now: clk.Now}
	v := newValidator(t, cache.ValidatorConfig{Upstream: e, Size: 100, Now: clk.Now})
	ctx := context.Background()

	first, err := v.Decide(ctx, "Example.COM.", engine.Options{})
	if err != nil || first.Source != flight.Fresh || first.Remaining != 100*time.Second || first.Result.Domain != "example.com" {
		t.Fatalf("first: %v %+v", err, first)
	}
	clk.Advance(30 * time.Second)
	second, err := v.Decide(ctx, "example.com", engine.Options{})
	if err != nil || second.Source != flight.Cached || e.calls.Load() != 1 || second.Verdict != first.Verdict {
		t.Fatalf("second: %v source %v, %d validations", err, second.Source, e.calls.Load())
	}
	if second.Remaining != 70*time.Second {
		t.Fatalf("remaining %v, want the 70s that remain", second.Remaining)
	}
	// Validate gives the engine's result marked as it is now, without
	// touching the cached one.
	r, err := v.Validate(ctx, "example.com", engine.Options{})
	if err != nil || !r.FromCache || r.TTL != 70*time.Second || first.Result.FromCache || first.Result.TTL != 100*time.Second {
		t.Fatalf("Validate from the cache: %v from_cache=%v ttl=%v; cached result from_cache=%v ttl=%v",
			err, r.FromCache, r.TTL, first.Result.FromCache, first.Result.TTL)
	}
	// policy-only is another verdict.
	if d, err := v.Decide(ctx, "example.com", engine.Options{PolicyOnly: true}); err != nil || d.Source != flight.Fresh || !e.lastOpts().PolicyOnly {
		t.Fatalf("policy-only shared the full verdict (%v, %d validations)", d.Source, e.calls.Load())
	}
	// Fresh options bypass the verdict cache, are passed to the engine,
	// and refill the cache.
	d, err := v.Decide(ctx, "example.com", engine.Options{FreshDNS: true, FreshProbes: true})
	if err != nil || d.Source != flight.Fresh || e.calls.Load() != 3 || !e.lastOpts().FreshDNS || !e.lastOpts().FreshProbes {
		t.Fatalf("fresh: %v source %v, %d validations, opts %+v", err, d.Source, e.calls.Load(), e.lastOpts())
	}
	if d2, _ := v.Decide(ctx, "example.com", engine.Options{}); d2.Verdict != d.Verdict || d2.Remaining != 100*time.Second {
		t.Fatal("a fresh verdict did not refill the cache")
	}
	// Never served past its TTL.
	clk.Advance(100 * time.Second)
	if d, _ := v.Decide(ctx, "example.com", engine.Options{}); d.Source != flight.Fresh || e.calls.Load() != 4 {
		t.Fatalf("an expired verdict was served (%v, %d validations)", d.Source, e.calls.Load())
	}
	if _, err := v.Decide(ctx, "*.example.com", engine.Options{}); !errors.Is(err, dnsname.ErrInvalid) {
		t.Fatalf("a wildcard: %v, want ErrInvalid", err)
	}
	st := v.Stats()
	if st.Validations != 4 || st.Hits != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// TestValidatorCached: Cached answers hits only, under the same keys as
// Decide, and never validates.
func TestValidatorCached(t *testing.T) {
	clk := newClock()
	e := &fakeEngine{ttl: 100 * time.Second, now: clk.Now}
	v := newValidator(t, cache.ValidatorConfig{Upstream: e, Size: 100, Now: clk.Now})
	ctx := context.Background()
	if _, ok := v.Cached(ctx, "example.com", engine.Options{}); ok || e.calls.Load() != 0 {
		t.Fatalf("a miss was answered (%d validations)", e.calls.Load())
	}
	first, err := v.Decide(ctx, "example.com", engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Second)
	for _, name := range []string{"example.com", "EXAMPLE.com."} {
		d, ok := v.Cached(ctx, name, engine.Options{})
		if !ok || d.Verdict != first.Verdict || d.Source != flight.Cached || d.Remaining != 90*time.Second {
			t.Fatalf("Cached(%q): %v %+v", name, ok, d)
		}
	}
	for _, c := range []struct {
		name string
		opts engine.Options
	}{
		{"example.com", engine.Options{PolicyOnly: true}}, // another verdict
		{"example.com", engine.Options{FreshDNS: true}},
		{"example.com", engine.Options{FreshProbes: true}},
		{"*.example.com", engine.Options{}},
		{"other.example", engine.Options{}},
	} {
		if _, ok := v.Cached(ctx, c.name, c.opts); ok {
			t.Errorf("Cached(%q, %+v) answered", c.name, c.opts)
		}
	}
	clk.Advance(90 * time.Second)
	if _, ok := v.Cached(ctx, "example.com", engine.Options{}); ok {
		t.Error("an expired verdict was answered")
	}
	if e.calls.Load() != 1 {
		t.Errorf("Cached validated: %d validations, want 1", e.calls.Load())
	}
	off := newValidator(t, cache.ValidatorConfig{Upstream: e, NoCache: true})
	if _, err := off.Decide(ctx, "example.com", engine.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := off.Cached(ctx, "example.com", engine.Options{}); ok {
		t.Error("Cached answered with the cache off")
	}
}

func TestValidatorNoCache(t *testing.T) {
	e := &fakeEngine{ttl: time.Minute, now: time.Now}
	v := newValidator(t, cache.ValidatorConfig{Upstream: e, NoCache: true})
	for range 2 {
		if d, err := v.Decide(context.Background(), "example.com", engine.Options{}); err != nil || d.Source != flight.Fresh {
			t.Fatalf("%v %v", d.Source, err)
		}
	}
	if e.calls.Load() != 2 {
		t.Fatalf("%d validations without a cache, want 2", e.calls.Load())
	}
}

// TestValidatorInvalidate: Invalidate drops the domain's verdicts and the
// DNS answers and probe results of its hosts, aliases, TLSA base domains
// and addresses.
func TestValidatorInvalidate(t *testing.T) {
	clk := newClock()
	ip := netip.MustParseAddr("192.0.2.1")
	e := &fakeEngine{ttl: time.Hour, now: clk.Now, hosts: []engine.Host{{
		Name: "mx.example.com", CNAMEChain: []string{"mx.provider.example"}, TLSABase: "mx.provider.example",
		Addresses: []engine.Address{{IP: ip}},
	}}}
	up := &upstream{answer: answerTTL(300)}
	dnsCache, _ := cache.NewResolver(cache.ResolverConfig{Upstream: up, Now: clk.Now})
	pr := &fakeProber{}
	probes, _ := cache.NewProber(cache.ProberConfig{Upstream: pr, Now: clk.Now})
	v := newValidator(t, cache.ValidatorConfig{Upstream: e, Now: clk.Now, DNS: dnsCache, Probes: probes})
	ctx := context.Background()
	for _, n := range []string{"example.com", "mx.example.com", "mx.provider.example", "_25._tcp.mx.provider.example", "other.example"} {
		_, _ = dnsCache.Lookup(ctx, n, dns.TypeA)
	}
	probes.Probe(ctx, ip, "mx.provider.example")
	_, _ = v.Decide(ctx, "example.com", engine.Options{})
	_, _ = v.Decide(ctx, "example.com", engine.Options{PolicyOnly: true})
	// Two verdicts, four DNS answers, one probe.
	if n := v.Invalidate("example.com"); n != 7 {
		t.Fatalf("Invalidate dropped %d entries, want 7", n)
	}
	if d, _ := v.Decide(ctx, "example.com", engine.Options{}); d.Source != flight.Fresh {
		t.Fatal("an invalidated verdict was served")
	}

	// With MTA-STS policies, the domain's goes too and counts.
	pol := &fakePolicies{held: map[string]bool{"example.com": true}}
	v2 := newValidator(t, cache.ValidatorConfig{Upstream: e, Now: clk.Now, Policies: pol})
	if n := v2.Invalidate("example.com"); n != 1 || pol.held["example.com"] {
		t.Fatalf("Invalidate dropped %d entries (policy still held: %v), want 1, the policy", n, pol.held["example.com"])
	}
	if n := v2.Invalidate("example.com"); n != 0 {
		t.Fatalf("Invalidate again dropped %d, want 0", n)
	}
	before := up.calls.Load()
	_, _ = dnsCache.Lookup(ctx, "other.example", dns.TypeA)
	_, _ = dnsCache.Lookup(ctx, "mx.provider.example", dns.TypeA)
	if got := up.calls.Load() - before; got != 1 {
		t.Fatalf("%d upstream lookups after Invalidate, want 1 (the other domain's answer stays)", got)
	}
}

type fakePolicies struct{ held map[string]bool }

func (f *fakePolicies) Invalidate(domain string) (bool, error) {
	had := f.held[domain]
	delete(f.held, domain)
	return had, nil
}

// TestValidatorRefreshAhead: a verdict asked for in the last fifth of its
// life is served and revalidated behind, with fresh DNS answers and
// reused probes; Close waits for the refresh.
func TestValidatorRefreshAhead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := newClock()
		release := make(chan struct{})
		e := &fakeEngine{ttl: 100 * time.Second, now: clk.Now}
		v, err := cache.NewValidator(cache.ValidatorConfig{Upstream: e, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if _, err := v.Decide(ctx, "example.com", engine.Options{}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(50 * time.Second) // middle of its life: no refresh
		if d, _ := v.Decide(ctx, "example.com", engine.Options{}); d.Source != flight.Cached || v.Stats().Refreshes != 0 {
			t.Fatalf("refresh started in mid-life (%d)", v.Stats().Refreshes)
		}
		e.release = release
		clk.Advance(35 * time.Second) // last 20 %: served, and refreshed behind
		d, _ := v.Decide(ctx, "example.com", engine.Options{})
		if d.Source != flight.Cached || d.Remaining != 15*time.Second {
			t.Fatalf("a live verdict was not served while refreshing: %v %v", d.Source, d.Remaining)
		}
		synctest.Wait() // the refresh waits in the engine
		if v.Stats().Refreshes != 1 || e.calls.Load() != 2 {
			t.Fatalf("%d refreshes, %d validations; want one of each more", v.Stats().Refreshes, e.calls.Load())
		}
		// Asked again meanwhile: still one refresh.
		_, _ = v.Decide(ctx, "example.com", engine.Options{})
		if v.Stats().Refreshes != 1 {
			t.Fatal("a second refresh started while one was under way")
		}
		if o := e.lastOpts(); !o.FreshDNS || o.FreshProbes {
			t.Fatalf("refresh options %+v, want fresh DNS and reused probes", o)
		}
		closed := make(chan struct{})
		go func() { v.Close(); close(closed) }()
		synctest.Wait()
		select {
		case <-closed:
			t.Fatal("Close returned while a refresh was under way")
		default:
		}
		close(release)
		<-closed
		if d, _ := v.Decide(ctx, "example.com", engine.Options{}); d.Remaining != 100*time.Second {
			t.Fatalf("the refresh did not renew the cached verdict (remaining %v)", d.Remaining)
		}
		// After Close, no refresh starts.
		clk.Advance(90 * time.Second)
		_, _ = v.Decide(ctx, "example.com", engine.Options{})
		if v.Stats().Refreshes != 1 {
			t.Fatal("a refresh started after Close")
		}
	})
}

// TestValidatorCoalescesAndSurvivesCancellation: identical concurrent
// requests cost one validation; a caller that gives up gets its own
// error and takes nothing from the others.
func TestValidatorCoalescesAndSurvivesCancellation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := &fakeEngine{ttl: time.Minute, now: time.Now, release: make(chan struct{})}
		v := newValidator(t, cache.ValidatorConfig{Upstream: e})
		const n = 2000
		var wg sync.WaitGroup
		var failed atomic.Int64
		sources := make([]atomic.Int64, 3)
		for i := range n {
			wg.Go(func() {
				name := "example.com"
				if i%2 == 1 {
					name = "EXAMPLE.com" // the same key once normalised
				}
				d, err := v.Decide(context.Background(), name, engine.Options{})
				if err != nil || d.Result.Verdict.Action != dane.ActionDeliver {
					failed.Add(1)
					return
				}
				sources[d.Source].Add(1)
			})
		}
		ctx, cancel := context.WithCancel(context.Background())
		gone := make(chan error, 1)
		go func() {
			_, err := v.Decide(ctx, "example.com", engine.Options{})
			gone <- err
		}()
		synctest.Wait() // every caller waits on the one validation
		cancel()
		if err := <-gone; !errors.Is(err, context.Canceled) {
			t.Fatalf("the cancelled caller got %v, want context.Canceled", err)
		}
		close(e.release)
		wg.Wait()
		if failed.Load() != 0 {
			t.Fatalf("%d callers failed", failed.Load())
		}
		if c := e.calls.Load(); c != 1 {
			t.Fatalf("%d validations for %d identical concurrent requests, want 1", c, n)
		}
		if sources[flight.Fresh].Load() != 1 || sources[flight.Joined].Load() != n-1 || v.Coalesced() != n-1 {
			t.Fatalf("sources fresh %d joined %d (coalesced %d); want 1 and %d",
				sources[flight.Fresh].Load(), sources[flight.Joined].Load(), v.Coalesced(), n-1)
		}
	})
}

// TestValidatorLeaderGivesUp: the caller whose request started the
// validation gives up; the validation goes on and answers the others.
func TestValidatorLeaderGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := &fakeEngine{ttl: time.Minute, now: time.Now, release: make(chan struct{})}
		v := newValidator(t, cache.ValidatorConfig{Upstream: e})
		ctx, cancel := context.WithCancel(context.Background())
		led := make(chan error, 1)
		go func() { _, err := v.Decide(ctx, "example.com", engine.Options{}); led <- err }()
		synctest.Wait()
		joined := make(chan cache.Decision, 1)
		go func() { d, _ := v.Decide(context.Background(), "example.com", engine.Options{}); joined <- d }()
		synctest.Wait()
		cancel()
		if err := <-led; !errors.Is(err, context.Canceled) {
			t.Fatalf("leader: %v", err)
		}
		close(e.release)
		if d := <-joined; d.Result == nil || d.Source != flight.Joined {
			t.Fatalf("the joined caller got %+v", d)
		}
		if d, _ := v.Decide(context.Background(), "example.com", engine.Options{}); d.Source != flight.Cached || e.calls.Load() != 1 {
			t.Fatal("the abandoned validation did not fill the cache")
		}
	})
}

// TestValidatorSharesHostParts: cached verdicts of domains at the same MX
// hosts hold the hosts' addresses, TLSA records and names once.
func TestValidatorSharesHostParts(t *testing.T) {
	mk := func() []engine.Host {
		return []engine.Host{{
			Name: "mx.provider.example", TLSABase: "mx.provider.example", Detail: "authenticated",
			ReferenceNames: []string{"mx.provider.example"},
			TLSA:           []dane.AssessedRecord{{Record: dane.Record{Usage: 3, Selector: 1, MatchingType: 1, Data: []byte{1, 2, 3}}, Usable: true}},
			Addresses:      []engine.Address{{IP: netip.MustParseAddr("192.0.2.1"), Reason: dane.ReasonOK, Detail: "authenticated by TLSA record 3 1 1"}},
		}}
	}
	e := &fakeEngine{ttl: time.Hour, now: time.Now}
	v := newValidator(t, cache.ValidatorConfig{Upstream: e})
	ctx := context.Background()
	var got []engine.Host
	for _, d := range []string{"a.example", "b.example"} {
		e.hosts = mk() // fresh structures each time, as the engine makes them
		dec, err := v.Decide(ctx, d, engine.Options{})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, dec.Result.Hosts[0])
	}
	a, b := got[0], got[1]
	if &a.Addresses[0] != &b.Addresses[0] || &a.TLSA[0] != &b.TLSA[0] || &a.ReferenceNames[0] != &b.ReferenceNames[0] {
		t.Error("identical host parts are held twice")
	}
	// Different content is never merged.
	e.hosts = mk()
	e.hosts[0].Addresses[0].Detail = "another detail"
	dec, _ := v.Decide(ctx, "c.example", engine.Options{})
	if c := dec.Result.Hosts[0]; &c.Addresses[0] == &a.Addresses[0] || c.Addresses[0].Detail != "another detail" {
		t.Error("addresses with another detail were merged")
	}
}

// TestSharingCoversEveryField fails when a field is added to the parts
// the decision layer shares and not to the hashes that key them
// (cache/intern.go): two parts differing only in it would be merged.
func TestSharingCoversEveryField(t *testing.T) {
	for _, tt := range []struct {
		name string
		typ  reflect.Type
		want int
	}{
		{"engine.Address", reflect.TypeFor[engine.Address](), 10},
		{"dane.AssessedRecord", reflect.TypeFor[dane.AssessedRecord](), 3},
		{"dane.Record", reflect.TypeFor[dane.Record](), 4},
	} {
		if n := tt.typ.NumField(); n != tt.want {
			t.Errorf("%s has %d fields; the sharing hashes know %d: extend hashAddrs/hashTLSA and this test", tt.name, n, tt.want)
		}
	}
}
