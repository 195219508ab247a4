package cache

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/daned/daned/probe"
)

// ProbeFunc is the prober being cached (*probe.Prober, or anything with
// its Probe).
type ProbeFunc interface {
	Probe(ctx context.Context, addr netip.Addr, sni string) *probe.Result
}

// ProberConfig configures a caching prober. Zero values are the
// documented defaults.
type ProberConfig struct {
	// Upstream makes the probes. Required.
	Upstream ProbeFunc
	// Size bounds the entries; 0 means 100000.
	Size int
	// TTL is how long a successful probe result is reused, further capped
	// by the TLSA TTL the engine passes with WithProbeTTLCap; 0 means
	// 10m.
	TTL time.Duration
	// FailureTTL is how long a failed probe is remembered; 0 means 30s.
	FailureTTL time.Duration
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
	group     singleflight.Group
	probes    atomic.Uint64
	coalesced atomic.Uint64
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
	if cfg.TTL < 0 || cfg.FailureTTL < 0 {
		return nil, errors.New("cache: probe TTLs must not be negative")
	}
	l, err := NewLRU[probeKey, *probe.Result](cfg.Size, cfg.Now)
	if err != nil {
		return nil, err
	}
	return &Prober{cfg: cfg, lru: l}, nil
}

// Probe returns a cached result for the address and SNI when it can
// (unless the context bypasses probe caching), else joins or starts the
// one probe. A caller whose context ends stops waiting; the probe goes on
// for the others. The result is shared: callers must not modify it.
func (p *Prober) Probe(ctx context.Context, addr netip.Addr, sni string) *probe.Result {
	key := probeKey{addr: addr, sni: sni}
	if !bypassOf(ctx).Probes {
		if it, ok := p.lru.Get(key); ok {
			markHit(ctx)
			return it.Value
		}
	}
	ttl := p.cfg.TTL
	if c, ok := probeTTLCap(ctx); ok && c < ttl {
		ttl = c
	}
	ch := p.group.DoChan(addr.String()+"|"+sni, func() (any, error) {
		p.probes.Add(1)
		r := p.cfg.Upstream.Probe(context.WithoutCancel(ctx), addr, sni)
		t := ttl
		if r.Err != nil {
			t = min(t, p.cfg.FailureTTL)
		}
		p.lru.Add(key, r, t)
		return r, nil
	})
	select {
	case res := <-ch:
		if res.Shared {
			p.coalesced.Add(1)
			markCoalesced(ctx)
		}
		return res.Val.(*probe.Result)
	case <-ctx.Done():
		return &probe.Result{Addr: netip.AddrPortFrom(addr, 0), ServerName: sni,
			Err: fmt.Errorf("%w: %w", probe.ErrTimeout, ctx.Err())}
	}
}

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
