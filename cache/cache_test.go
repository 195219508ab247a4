package cache_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/miekg/dns"

	"github.com/daned/daned/cache"
	"github.com/daned/daned/internal/fakeclock"
	"github.com/daned/daned/probe"
	"github.com/daned/daned/resolver"
)

// newClock is the manual clock of these tests.
func newClock() *fakeclock.Clock { return fakeclock.New(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)) }

func TestLRU(t *testing.T) {
	clk := newClock()
	c, err := cache.NewLRU[string, int](2, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	c.Add("a", 1, 10*time.Second)
	c.Add("zero", 9, 0) // a zero TTL stores nothing
	clk.Advance(4 * time.Second)
	it, ok := c.Get("a")
	if !ok || it.Value != 1 || it.TTL != 10*time.Second || it.Remaining != 6*time.Second {
		t.Fatalf("Get(a) = %+v %v", it, ok)
	}
	if _, ok := c.Get("zero"); ok {
		t.Fatal("an entry with TTL 0 was stored")
	}
	clk.Advance(6 * time.Second)
	if _, ok := c.Get("a"); ok {
		t.Fatal("an entry was served at the end of its TTL")
	}
	c.Add("x", 1, time.Minute)
	c.Add("y", 2, time.Minute)
	c.Add("z", 3, time.Minute) // evicts x
	if _, ok := c.Get("x"); ok {
		t.Fatal("the least recently used entry was not evicted")
	}
	st := c.Stats()
	if st.Hits != 1 || st.Misses != 3 || st.Evictions != 1 || st.Size != 2 {
		t.Fatalf("stats %+v", st)
	}
	if _, err := cache.NewLRU[string, int](0, nil); err == nil {
		t.Fatal("size 0 accepted")
	}
}

// upstream is a fake resolver that counts queries and can block.
type upstream struct {
	calls   atomic.Int64
	release chan struct{} // when non-nil, lookups wait for it
	answer  func(name string, qtype uint16) (*resolver.Answer, error)
}

func (u *upstream) Lookup(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error) {
	u.calls.Add(1)
	if u.release != nil {
		select {
		case <-u.release:
		case <-ctx.Done():
			return nil, &resolver.QueryError{Kind: resolver.ErrTimeout, Err: ctx.Err()}
		}
	}
	return u.answer(name, qtype)
}

func answerTTL(ttl uint32) func(string, uint16) (*resolver.Answer, error) {
	return func(name string, qtype uint16) (*resolver.Answer, error) {
		rr, _ := dns.NewRR(fmt.Sprintf("%s %d IN A 192.0.2.1", dns.Fqdn(name), ttl))
		return &resolver.Answer{Name: dns.Fqdn(name), Type: qtype, Security: resolver.Secure, TTL: ttl, Records: []dns.RR{rr}}, nil
	}
}

func TestResolverCachesForTheAnswerTTL(t *testing.T) {
	clk := newClock()
	up := &upstream{answer: answerTTL(300)}
	r, err := cache.NewResolver(cache.ResolverConfig{Upstream: up, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := r.Lookup(ctx, "MX.Example.com", dns.TypeA); err != nil {
		t.Fatal(err)
	}
	clk.Advance(100 * time.Second)
	a, err := r.Lookup(ctx, "mx.example.com.", dns.TypeA)
	if err != nil || up.calls.Load() != 1 {
		t.Fatalf("second lookup went upstream (%d calls, %v)", up.calls.Load(), err)
	}
	if a.TTL != 200 {
		t.Fatalf("cached answer TTL %d, want the 200 s that remain", a.TTL)
	}
	if a.Security != resolver.Secure {
		t.Fatalf("security %v lost in the cache", a.Security)
	}
	// Bypass: fresh answer, refilled.
	if _, err := r.LookupFresh(ctx, "mx.example.com", dns.TypeA); err != nil || up.calls.Load() != 2 {
		t.Fatalf("bypass did not go upstream (%d calls)", up.calls.Load())
	}
	clk.Advance(300 * time.Second)
	if _, err := r.Lookup(ctx, "mx.example.com", dns.TypeA); err != nil || up.calls.Load() != 3 {
		t.Fatalf("an expired answer was served (%d calls)", up.calls.Load())
	}
	if st := r.Stats(); st.Hits != 1 || r.Queries() != 3 {
		t.Fatalf("stats %+v queries %d", st, r.Queries())
	}
}

func TestResolverTTLClampsAndFailures(t *testing.T) {
	tests := []struct {
		name     string
		cfg      cache.ResolverConfig
		answer   func(string, uint16) (*resolver.Answer, error)
		advance  time.Duration
		wantHits bool
	}{
		{name: "TTL 0 is not cached", answer: answerTTL(0), advance: 0, wantHits: false},
		{name: "min TTL raises a short TTL", cfg: cache.ResolverConfig{MinTTL: time.Minute}, answer: answerTTL(5), advance: 30 * time.Second, wantHits: true},
		{name: "max TTL caps a long TTL", cfg: cache.ResolverConfig{MaxTTL: time.Minute}, answer: answerTTL(86400), advance: 61 * time.Second, wantHits: false},
		{
			name: "negative answer lives for its SOA TTL",
			answer: func(name string, qtype uint16) (*resolver.Answer, error) {
				return &resolver.Answer{Name: dns.Fqdn(name), Type: qtype, Rcode: dns.RcodeNameError, Security: resolver.Secure, TTL: 60}, nil
			},
			advance: 59 * time.Second, wantHits: true,
		},
		{
			name: "SERVFAIL is remembered for the failure TTL",
			cfg:  cache.ResolverConfig{FailureTTL: 30 * time.Second},
			answer: func(string, uint16) (*resolver.Answer, error) {
				return nil, &resolver.QueryError{Kind: resolver.ErrServFail}
			},
			advance: 29 * time.Second, wantHits: true,
		},
		{
			name: "and not longer",
			cfg:  cache.ResolverConfig{FailureTTL: 30 * time.Second},
			answer: func(string, uint16) (*resolver.Answer, error) {
				return nil, &resolver.QueryError{Kind: resolver.ErrBogus}
			},
			advance: 30 * time.Second, wantHits: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			up := &upstream{answer: tt.answer}
			cfg := tt.cfg
			cfg.Upstream, cfg.Now = up, clk.Now
			r, err := cache.NewResolver(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err1 := r.Lookup(context.Background(), "example.com", dns.TypeMX)
			clk.Advance(tt.advance)
			_, err2 := r.Lookup(context.Background(), "example.com", dns.TypeMX)
			if hit := up.calls.Load() == 1; hit != tt.wantHits {
				t.Fatalf("upstream calls %d, want cached=%v", up.calls.Load(), tt.wantHits)
			}
			if (err1 == nil) != (err2 == nil) {
				t.Fatalf("errors differ: %v / %v", err1, err2)
			}
			if err2 != nil && !errors.Is(err2, err1) && err1.Error() != err2.Error() {
				t.Fatalf("cached failure %v differs from %v", err2, err1)
			}
		})
	}
}

func TestResolverCoalesces(t *testing.T) {
	// In a synctest bubble: Wait returns once every caller is blocked
	// in the flight, whatever the machine's load.
	synctest.Test(t, func(t *testing.T) {
		up := &upstream{answer: answerTTL(300), release: make(chan struct{})}
		r, err := cache.NewResolver(cache.ResolverConfig{Upstream: up})
		if err != nil {
			t.Fatal(err)
		}
		const n = 1000
		var wg sync.WaitGroup
		errs := make(chan error, n)
		started := make(chan struct{}, n)
		for range n {
			wg.Go(func() {
				started <- struct{}{}
				_, err := r.Lookup(context.Background(), "example.com", dns.TypeMX)
				errs <- err
			})
		}
		for range n {
			<-started
		}
		// One caller gives up: the shared lookup must go on for the others.
		ctx, cancel := context.WithCancel(context.Background())
		gone := make(chan error, 1)
		go func() { _, err := r.Lookup(ctx, "example.com", dns.TypeMX); gone <- err }()
		synctest.Wait() // every caller waits on the one flight
		cancel()
		if err := <-gone; !errors.Is(err, resolver.ErrTimeout) {
			t.Fatalf("cancelled caller got %v, want ErrTimeout", err)
		}
		close(up.release)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("a waiting caller failed: %v", err)
			}
		}
		if c := up.calls.Load(); c != 1 {
			t.Fatalf("%d upstream queries for %d identical concurrent lookups, want 1", c, n)
		}
		if r.Coalesced() < n-1 {
			t.Fatalf("coalesced %d, want at least %d", r.Coalesced(), n-1)
		}
	})
}

func TestResolverForget(t *testing.T) {
	up := &upstream{answer: answerTTL(300)}
	r, _ := cache.NewResolver(cache.ResolverConfig{Upstream: up})
	ctx := context.Background()
	_, _ = r.Lookup(ctx, "example.com", dns.TypeMX)
	_, _ = r.Lookup(ctx, "_25._tcp.mx.example.com", dns.TypeTLSA)
	_, _ = r.Lookup(ctx, "other.example", dns.TypeMX)
	_, _ = r.Lookup(ctx, "_mta-sts.example.com", dns.TypeTXT)
	_, _ = r.Lookup(ctx, "mta-sts.example.com", dns.TypeAAAA)
	_, _ = r.Lookup(ctx, "_mta-sts.other.example", dns.TypeTXT)
	if n := r.Forget("example.com", "mx.example.com"); n != 4 {
		t.Fatalf("Forget dropped %d entries, want 4 (MX, TLSA, MTA-STS TXT and policy host)", n)
	}
	_, _ = r.Lookup(ctx, "other.example", dns.TypeMX)
	_, _ = r.Lookup(ctx, "_mta-sts.other.example", dns.TypeTXT)
	_, _ = r.Lookup(ctx, "example.com", dns.TypeMX)
	_, _ = r.Lookup(ctx, "_mta-sts.example.com", dns.TypeTXT)
	if c := up.calls.Load(); c != 8 {
		t.Fatalf("%d upstream calls, want 8 (forgotten names refetched, the others kept)", c)
	}
}

// fakeProber counts probes and can block.
type fakeProber struct {
	calls   atomic.Int64
	release chan struct{}
	err     error
}

func (f *fakeProber) Probe(ctx context.Context, addr netip.Addr, sni string) *probe.Result {
	f.calls.Add(1)
	if f.release != nil {
		<-f.release
	}
	return &probe.Result{Addr: netip.AddrPortFrom(addr, 25), ServerName: sni, Err: f.err}
}

func TestProberCachesAndCaps(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.1")
	tests := []struct {
		name    string
		err     error
		maxAge  time.Duration
		fresh   bool
		advance time.Duration
		cached  bool
	}{
		{name: "success lives for the probe TTL", advance: 9 * time.Minute, cached: true},
		{name: "not past it", advance: 10 * time.Minute, cached: false},
		{name: "capped by the TLSA TTL", maxAge: time.Minute, advance: time.Minute, cached: false},
		{name: "a cap above the probe TTL does not extend it", maxAge: time.Hour, advance: 10 * time.Minute, cached: false},
		{name: "a failure is remembered briefly", err: probe.ErrConnect, advance: 29 * time.Second, cached: true},
		{name: "and only briefly", err: probe.ErrTimeout, advance: 30 * time.Second, cached: false},
		{name: "fresh probes anew", fresh: true, cached: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			up := &fakeProber{err: tt.err}
			p, err := cache.NewProber(cache.ProberConfig{Upstream: up, Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			p.ProbeReusing(ctx, ip, "mx.example.com", tt.maxAge, false)
			clk.Advance(tt.advance)
			p.ProbeReusing(ctx, ip, "mx.example.com", tt.maxAge, tt.fresh)
			if got := up.calls.Load() == 1; got != tt.cached {
				t.Fatalf("%d probes, want cached=%v", up.calls.Load(), tt.cached)
			}
		})
	}
}

func TestProberCoalescesAndForgets(t *testing.T) {
	// In a synctest bubble: Wait returns once every caller is blocked
	// in the flight, whatever the machine's load.
	synctest.Test(t, func(t *testing.T) {
		ip := netip.MustParseAddr("192.0.2.1")
		up := &fakeProber{release: make(chan struct{})}
		p, _ := cache.NewProber(cache.ProberConfig{Upstream: up})
		var wg sync.WaitGroup
		for range 500 {
			wg.Go(func() { p.Probe(context.Background(), ip, "mx.example.com") })
		}
		synctest.Wait()
		close(up.release)
		wg.Wait()
		if c := up.calls.Load(); c != 1 {
			t.Fatalf("%d probes for 500 concurrent identical requests, want 1", c)
		}
		if n := p.Forget(ip); n != 1 {
			t.Fatalf("Forget dropped %d, want 1", n)
		}
		p.Probe(context.Background(), ip, "mx.example.com")
		if c := up.calls.Load(); c != 2 {
			t.Fatalf("forgotten probe not redone (%d)", c)
		}
	})
}

// TestLRUAddUntil: an entry keeps the absolute expiry it was made with,
// but never lives longer than its lifetime from now.
func TestLRUAddUntil(t *testing.T) {
	clk := newClock()
	c, err := cache.NewLRU[string, int](10, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		ttl           time.Duration
		expiresIn     time.Duration
		ok            bool
		wantRemaining time.Duration
	}{
		{name: "made earlier elsewhere", ttl: time.Minute, expiresIn: 40 * time.Second, ok: true, wantRemaining: 40 * time.Second},
		{name: "made by a replica whose clock is ahead", ttl: time.Minute, expiresIn: 5 * time.Minute, ok: true, wantRemaining: time.Minute},
		{name: "already expired", ttl: time.Minute, expiresIn: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.AddUntil(tt.name, 1, tt.ttl, clk.Now().Add(tt.expiresIn))
			it, ok := c.Get(tt.name)
			if ok != tt.ok || (ok && (it.Remaining != tt.wantRemaining || it.TTL != tt.ttl)) {
				t.Errorf("Get = %+v, %v; want %v with %v left of %v", it, ok, tt.ok, tt.wantRemaining, tt.ttl)
			}
		})
	}
}
