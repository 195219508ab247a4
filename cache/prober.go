package cache

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/daned/daned/flight"
	"github.com/daned/daned/probe"
)

// ProbeUpstream makes STARTTLS probes: *probe.Prober, or anything with its
// Probe.
type ProbeUpstream interface {
	Probe(ctx context.Context, addr netip.Addr, sni string) *probe.Result
}

// ProberConfig configures a caching prober. Zero values are the
// documented defaults.
type ProberConfig struct {
	// Upstream makes the probes. Required.
	Upstream ProbeUpstream
	// Size bounds the entries; 0 means 100000.
	Size int
	// TTL is how long a successful probe result is reused, further capped
	// by the maxAge the engine passes to ProbeReusing (the TLSA RRset's
	// TTL); 0 means 10m.
	TTL time.Duration
	// FailureTTL is how long a failed probe is remembered; 0 means 30s.
	FailureTTL time.Duration
	// Shared is the store the replicas of a fleet share (package
	// shared): results are read from it on a local miss and written to
	// it, each with its absolute expiry (a failure's no later than
	// FailureTTL), and one replica probes an address while the others
	// wait for its result. nil: this process alone.
	Shared SharedStore
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

type probeKey struct {
	addr netip.Addr
	sni  string
}

// Prober caches probe results per address and SNI, and makes concurrent
// probes of the same address share one connection.
type Prober struct {
	cfg       ProberConfig
	lru       *LRU[probeKey, *probe.Result]
	group     flight.Group[probeKey, *probe.Result]
	probes    atomic.Uint64
	coalesced atomic.Uint64
	shared    atomic.Uint64
}

// NewProber returns a caching prober.
func NewProber(cfg ProberConfig) (*Prober, error) {
	if cfg.Upstream == nil {
		return nil, errors.New("cache: an upstream prober is required")
	}
	if cfg.Size == 0 {
		cfg.Size = 100000
	}
	if cfg.TTL == 0 {
		cfg.TTL = 10 * time.Minute
	}
	if cfg.FailureTTL == 0 {
		cfg.FailureTTL = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TTL < 0 || cfg.FailureTTL < 0 {
		return nil, errors.New("cache: probe TTLs must not be negative")
	}
	l, err := NewLRU[probeKey, *probe.Result](cfg.Size, cfg.Now)
	if err != nil {
		return nil, err
	}
	return &Prober{cfg: cfg, lru: l}, nil
}

// Probe is ProbeReusing with no cap beyond the configured TTL.
func (p *Prober) Probe(ctx context.Context, addr netip.Addr, sni string) *probe.Result {
	return p.ProbeReusing(ctx, addr, sni, 0, false)
}

// ProbeReusing returns a cached result for the address and SNI unless
// fresh, else joins or starts the one probe (Group's rule: a caller whose
// context ends stops waiting; the probe goes on for the others). A new
// result is kept for the configured TTL capped by maxAge when maxAge > 0:
// the engine passes the TLSA RRset's TTL, so that a probe result never
// outlives the records it was judged against. The result is shared:
// callers must not modify it.
func (p *Prober) ProbeReusing(ctx context.Context, addr netip.Addr, sni string, maxAge time.Duration, fresh bool) *probe.Result {
	key := probeKey{addr: addr, sni: sni}
	if !fresh {
		if it, ok := p.lru.Get(key); ok {
			markHit(ctx)
			return it.Value
		}
	}
	ttl := p.cfg.TTL
	if maxAge > 0 && maxAge < ttl {
		ttl = maxAge
	}
	r, src, err := p.group.Do(ctx, key, func(ctx context.Context) (*probe.Result, bool, error) {
		if p.cfg.Shared != nil {
			return p.viaStore(ctx, key, ttl, fresh)
		}
		r, _ := p.probe(ctx, key, ttl)
		return r, false, nil
	})
	if err != nil {
		return &probe.Result{Addr: netip.AddrPortFrom(addr, 0), ServerName: sni,
			Err: fmt.Errorf("%w: %w", probe.ErrTimeout, err)}
	}
	if src == flight.Joined {
		p.coalesced.Add(1)
		markCoalesced(ctx)
	}
	return r
}

// probe probes and caches the result; it returns the result and how long
// it is kept.
func (p *Prober) probe(ctx context.Context, key probeKey, ttl time.Duration) (*probe.Result, time.Duration) {
	p.probes.Add(1)
	r := p.cfg.Upstream.Probe(ctx, key.addr, key.sni)
	if r.Err != nil {
		ttl = min(ttl, p.cfg.FailureTTL)
	}
	p.lru.Add(key, r, ttl)
	return r, ttl
}

// viaStore answers a local miss from the shared store, or probes once for
// the fleet under the address's lease and shares the result. A fresh
// probe is made here and shared.
func (p *Prober) viaStore(ctx context.Context, key probeKey, ttl time.Duration, fresh bool) (*probe.Result, bool, error) {
	skey := probeSharedKey(key)
	var mine *probe.Result
	share := func(ctx context.Context) ([]byte, time.Time, error) {
		r, life := p.probe(ctx, key, ttl)
		mine = r
		b, err := probe.MarshalResult(r)
		if err != nil {
			return nil, time.Time{}, errNotShared
		}
		return b, p.cfg.Now().Add(life), nil
	}
	if fresh {
		if b, exp, err := share(ctx); err == nil {
			p.cfg.Shared.Put(ctx, skey, b, exp)
		}
		return mine, false, nil
	}
	b, exp, hit, _ := p.cfg.Shared.Do(ctx, skey, share)
	if mine != nil {
		return mine, false, nil
	}
	if hit {
		// The entry's expiry bounds it, but so does this caller's
		// maxAge (the TLSA TTL it is judged against).
		exp = minTime(exp, p.cfg.Now().Add(ttl))
		if r, err := probe.UnmarshalResult(b); err == nil && r.Addr.Addr() == key.addr && r.ServerName == key.sni && p.cfg.Now().Before(exp) {
			p.shared.Add(1)
			markShared(ctx)
			p.lru.AddUntil(key, r, ttl, exp)
			return r, true, nil
		}
	}
	r, _ := p.probe(ctx, key, ttl)
	return r, false, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// Shared returns how many probe results came from the shared store.
func (p *Prober) Shared() uint64 { return p.shared.Load() }

// Forget drops every cached probe of the addresses and returns how many
// entries it dropped.
func (p *Prober) Forget(addrs ...netip.Addr) int {
	drop := make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		drop[a] = true
	}
	n := 0
	for _, k := range p.lru.Keys() {
		if drop[k.addr] && p.lru.Remove(k) {
			n++
		}
	}
	return n
}

// Stats returns the cache counters.
func (p *Prober) Stats() Stats { return p.lru.Stats() }

// Probes returns how many probes were made.
func (p *Prober) Probes() uint64 { return p.probes.Load() }

// Coalesced returns how many probes shared another's connection.
func (p *Prober) Coalesced() uint64 { return p.coalesced.Load() }
