package cache

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/daned/daned/flight"
	"github.com/daned/daned/resolver"
)

// Lookuper answers DNSSEC-aware lookups: *resolver.Resolver, and this
// package's Resolver, which wraps one. engine.Lookuper is the same
// method.
type Lookuper interface {
	Lookup(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error)
}

// ResolverConfig configures a caching resolver. Zero values are the
// documented defaults.
type ResolverConfig struct {
	// Upstream answers the misses. Required.
	Upstream Lookuper
	// Size bounds the entries; 0 means 100000.
	Size int
	// MinTTL raises the lifetime of short-lived answers; 0 means no floor
	// (an answer with TTL 0 is not cached).
	MinTTL time.Duration
	// MaxTTL caps the lifetime of any answer; 0 means 1h.
	MaxTTL time.Duration
	// FailureTTL is how long a failed lookup (SERVFAIL, bogus, timeout) is
	// remembered, so that a broken domain is neither hammered nor stuck;
	// 0 means 30s.
	FailureTTL time.Duration
	// FetchTimeout bounds one shared upstream lookup, whatever its callers'
	// deadlines; 0 means 10s.
	FetchTimeout time.Duration
	// Shared is the store the replicas of a fleet share (package
	// shared): answers are read from it on a local miss and written to
	// it, each with its absolute expiry, and one replica sends the query
	// while the others wait for its answer. Failed lookups stay local
	// (for FailureTTL). nil: this process alone.
	Shared SharedStore
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

type dnsKey struct {
	name  string
	qtype uint16
}

type dnsEntry struct {
	ans *resolver.Answer
	err error
}

// Resolver caches DNS answers, with their security state, for their TTL
// (negative answers for their RFC 2308 TTL, failures for FailureTTL), and
// makes concurrent identical lookups share one upstream query.
type Resolver struct {
	cfg       ResolverConfig
	lru       *LRU[dnsKey, dnsEntry]
	group     flight.Group[dnsKey, dnsEntry]
	queries   atomic.Uint64
	coalesced atomic.Uint64
	shared    atomic.Uint64
}

// NewResolver returns a caching resolver.
func NewResolver(cfg ResolverConfig) (*Resolver, error) {
	if cfg.Upstream == nil {
		return nil, errors.New("cache: an upstream resolver is required")
	}
	if cfg.Size == 0 {
		cfg.Size = 100000
	}
	if cfg.MaxTTL == 0 {
		cfg.MaxTTL = time.Hour
	}
	if cfg.FailureTTL == 0 {
		cfg.FailureTTL = 30 * time.Second
	}
	if cfg.FetchTimeout == 0 {
		cfg.FetchTimeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MinTTL < 0 || cfg.MaxTTL < cfg.MinTTL || cfg.FailureTTL < 0 || cfg.FetchTimeout < 0 {
		return nil, errors.New("cache: TTL bounds must satisfy 0 <= min <= max and durations must not be negative")
	}
	l, err := NewLRU[dnsKey, dnsEntry](cfg.Size, cfg.Now)
	if err != nil {
		return nil, err
	}
	return &Resolver{cfg: cfg, lru: l}, nil
}

// Lookup answers from the cache when it can, else joins or starts the
// one upstream lookup for this name and type (Group's rule: a caller
// whose context ends stops waiting; the shared lookup goes on for the
// others and fills the cache). A cached answer's TTL is what remains of
// it.
func (r *Resolver) Lookup(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error) {
	return r.lookup(ctx, name, qtype, false)
}

// LookupFresh is Lookup without the cached answer: a validation that must
// see the DNS as it is now (a re-check, a refresh) still shares a lookup
// under way and refills the cache.
func (r *Resolver) LookupFresh(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error) {
	return r.lookup(ctx, name, qtype, true)
}

func (r *Resolver) lookup(ctx context.Context, name string, qtype uint16, fresh bool) (*resolver.Answer, error) {
	key := dnsKey{name: strings.ToLower(dns.Fqdn(name)), qtype: qtype}
	if !fresh {
		if it, ok := r.lru.Get(key); ok {
			markHit(ctx)
			return withRemaining(it), it.Value.err
		}
	}
	e, src, err := r.group.Do(ctx, key, func(ctx context.Context) (dnsEntry, bool, error) {
		if r.cfg.Shared != nil {
			return r.viaStore(ctx, key, name, fresh)
		}
		return r.fetch(ctx, key, name), false, nil
	})
	if err != nil {
		return nil, &resolver.QueryError{Name: key.name, Type: qtype, Kind: resolver.ErrTimeout, Rcode: -1, Err: err}
	}
	if src == flight.Joined {
		r.coalesced.Add(1)
		markCoalesced(ctx)
	}
	return e.ans, e.err
}

// fetch sends the query upstream and caches its answer.
func (r *Resolver) fetch(ctx context.Context, key dnsKey, name string) dnsEntry {
	fctx, cancel := context.WithTimeout(ctx, r.cfg.FetchTimeout)
	defer cancel()
	r.queries.Add(1)
	a, err := r.cfg.Upstream.Lookup(fctx, name, key.qtype)
	r.lru.Add(key, dnsEntry{ans: a, err: err}, r.lifetime(a, err))
	return dnsEntry{ans: a, err: err}
}

// lifetime is how long an answer is cached.
func (r *Resolver) lifetime(a *resolver.Answer, err error) time.Duration {
	if err != nil {
		return r.cfg.FailureTTL
	}
	ttl := time.Duration(a.TTL) * time.Second
	if ttl < r.cfg.MinTTL {
		ttl = r.cfg.MinTTL
	}
	return min(ttl, r.cfg.MaxTTL)
}

// viaStore answers a local miss from the shared store, or queries once
// for the fleet under the answer's lease and shares the answer. A fresh
// lookup queries here and shares its answer.
func (r *Resolver) viaStore(ctx context.Context, key dnsKey, name string, fresh bool) (dnsEntry, bool, error) {
	skey := dnsSharedKey(key)
	var mine *dnsEntry
	share := func(ctx context.Context) ([]byte, time.Time, error) {
		e := r.fetch(ctx, key, name)
		mine = &e
		b, err := resolver.MarshalAnswer(e.ans, e.err)
		if err != nil {
			return nil, time.Time{}, errNotShared // not a lookup failure (the caller left)
		}
		return b, r.cfg.Now().Add(r.lifetime(e.ans, e.err)), nil
	}
	if fresh {
		if b, exp, err := share(ctx); err == nil {
			r.cfg.Shared.Put(ctx, skey, b, exp)
		}
		return *mine, false, nil
	}
	p, exp, hit, _ := r.cfg.Shared.Do(ctx, skey, share)
	if mine != nil {
		return *mine, false, nil
	}
	if hit {
		if a, lerr, err := resolver.UnmarshalAnswer(p); err == nil && sameQuery(a, lerr, key) {
			r.shared.Add(1)
			markShared(ctx)
			r.lru.AddUntil(key, dnsEntry{ans: a, err: lerr}, r.lifetime(a, lerr), exp)
			if it, ok := r.lru.Live(key); ok {
				return dnsEntry{ans: withRemaining(it), err: lerr}, true, nil
			}
		}
	}
	return r.fetch(ctx, key, name), false, nil
}

// withRemaining returns the cached answer with its TTL lowered to what is
// left of it, so that a verdict resting on it expires with it. The
// records are shared, never modified.
func withRemaining(it Item[dnsEntry]) *resolver.Answer {
	if it.Value.ans == nil {
		return nil
	}
	a := *it.Value.ans
	if left := uint32(it.Remaining / time.Second); left < a.TTL {
		a.TTL = left
	}
	return &a
}

// cachedTypes are the types daned looks up; Forget drops them all.
var cachedTypes = []uint16{dns.TypeMX, dns.TypeA, dns.TypeAAAA, dns.TypeCNAME, dns.TypeTLSA, dns.TypeTXT}

// sameQuery reports whether a shared outcome answers key's query: the
// entry is authentic, but a replica's upstream might name it otherwise.
func sameQuery(a *resolver.Answer, lerr error, key dnsKey) bool {
	if a != nil {
		return a.Name == key.name && a.Type == key.qtype
	}
	var qe *resolver.QueryError
	return errors.As(lerr, &qe) && qe.Type == key.qtype
}

// Forget drops every cached answer for the names, for their _25._tcp
// TLSA names, and for their MTA-STS names (the _mta-sts TXT record and
// the mta-sts policy host, RFC 8461 §3), and returns how many entries it
// dropped.
func (r *Resolver) Forget(names ...string) int {
	n := 0
	for _, k := range dnsKeys(names) {
		if r.lru.Remove(k) {
			n++
		}
	}
	return n
}

// dnsKeys returns the keys Forget drops for names.
func dnsKeys(names []string) []dnsKey {
	var keys []dnsKey
	for _, name := range names {
		fq := strings.ToLower(dns.Fqdn(name))
		for _, owner := range []string{fq, "_25._tcp." + fq, "_mta-sts." + fq, "mta-sts." + fq} {
			for _, t := range cachedTypes {
				keys = append(keys, dnsKey{name: owner, qtype: t})
			}
		}
	}
	return keys
}

// Shared returns how many lookups were answered from the shared store.
func (r *Resolver) Shared() uint64 { return r.shared.Load() }

// Stats returns the cache counters.
func (r *Resolver) Stats() Stats { return r.lru.Stats() }

// Queries returns how many lookups were sent upstream.
func (r *Resolver) Queries() uint64 { return r.queries.Load() }

// Coalesced returns how many lookups shared another's upstream query.
func (r *Resolver) Coalesced() uint64 { return r.coalesced.Load() }
