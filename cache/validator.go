package cache

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/daned/daned/dnsname"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/flight"
)

// Engine validates destinations: *engine.Engine.
type Engine interface {
	Validate(ctx context.Context, domain string, opts engine.Options) (*engine.Result, error)
}

// ValidatorConfig configures the decision layer. Zero values are the
// documented defaults.
type ValidatorConfig struct {
	// Upstream makes the validations (the engine). Required.
	Upstream Engine
	// Size bounds the cached verdicts; 0 means 100000, as for every cache
	// of this package.
	Size int
	// NoCache keeps no verdicts: identical concurrent requests still
	// share one validation.
	NoCache bool
	// RefreshAhead is the fraction of a cached verdict's lifetime after
	// which a request for it also revalidates it in the background; 0
	// means 0.8.
	RefreshAhead float64
	// DNS and Probes are the caching resolver and prober the engine reads
	// through, so that Invalidate drops a domain's DNS answers and probe
	// results too; nil when they are not cached.
	DNS    *Resolver
	Probes *Prober
	// Policies holds the MTA-STS policies the engine applies
	// (*manager.Manager), so that Invalidate drops the domain's policy
	// too; nil when MTA-STS is off.
	Policies PolicyCache
	// Shared is the second level (package shared, over Redis): verdicts
	// a replica of the fleet made are read from it on a local miss, with
	// their absolute expiry, and one replica validates a domain while the
	// others wait for its verdict; Invalidate reaches every replica
	// through it. nil (and NoCache) keep this process to itself. The
	// DNS and Probes caches take the same store in their own configs.
	Shared SharedStore
	// Now is the clock of the verdict cache; nil means time.Now.
	Now func() time.Time
	// TracerProvider makes the spans of background refreshes; nil means
	// the global provider.
	TracerProvider trace.TracerProvider
	// Logger receives failed refreshes; nil means slog.Default().
	Logger *slog.Logger
}

type verdictKey struct {
	domain     string
	policyOnly bool
}

type flightKey struct {
	verdictKey
	fresh bool
}

// Verdict is one validation's result as the decision layer holds it. It
// is shared by every request it answers and must not be modified.
type Verdict struct {
	// Result is the engine's result. Its FromCache and TTL are as the
	// validation made them: a Decision says how old it is now.
	Result *engine.Result
	// Span is the span of the validation that reached it, which requests
	// answered from the cache or coalesced link to.
	Span trace.SpanContext

	memos [maxMemos]atomic.Pointer[any] // by MemoKey: each door's rendering of Result
}

// maxMemos is how many front doors can keep a memo on a verdict.
const maxMemos = 4

// MemoKey names one front door's memo on every Verdict. Each door makes
// its own once, with NewMemoKey, when its package is initialised.
type MemoKey int

var memoKeys atomic.Int32

// NewMemoKey returns a new memo key. It panics past the fixed number of
// slots a Verdict has (4): a program has a few front doors, not many.
func NewMemoKey() MemoKey {
	n := memoKeys.Add(1) - 1
	if n >= maxMemos {
		panic("cache: more than 4 memo keys")
	}
	return MemoKey(n)
}

// Memo returns what a front door made of the verdict, making it once with
// build: the gRPC door keeps its wire encoding here, so that a cache hit
// does not encode the verdict again. build must not keep or modify the
// Result; concurrent first calls may each build, and one result is kept.
func (v *Verdict) Memo(key MemoKey, build func(*engine.Result) any) any {
	if m := v.memos[key].Load(); m != nil {
		return *m
	}
	m := build(v.Result)
	if v.memos[key].CompareAndSwap(nil, &m) {
		return m
	}
	return *v.memos[key].Load()
}

// PolicyCache is a cache of MTA-STS policies: *manager.Manager.
// Invalidate forgets a domain's policy, in memory and in any persistent
// store, and reports whether one was held.
type PolicyCache interface {
	Invalidate(domain string) (bool, error)
}

// Decision is the answer to one request.
type Decision struct {
	*Verdict
	// Source says whether the request ran the validation, shared a
	// concurrent one, or was answered from the cache.
	Source flight.Source
	// Remaining is what is left of the verdict's lifetime: all of it for
	// a fresh or shared validation.
	Remaining time.Duration
}

// ValidatorStats are the decision layer's counters.
type ValidatorStats struct {
	Stats              // the verdict cache
	Coalesced   uint64 // requests that shared another's validation
	Refreshes   uint64 // background refreshes started
	Validations uint64 // validations run by the engine (refreshes included)
}

// Validator is the decision layer every front door calls: it answers from
// the verdict cache, makes identical concurrent requests share one
// validation, revalidates busy verdicts before they expire, and drops a
// domain everywhere on Invalidate. It is safe for concurrent use.
type Validator struct {
	cfg        ValidatorConfig
	lru        *LRU[verdictKey, *Verdict] // nil: NoCache
	group      flight.Group[flightKey, *Verdict]
	tracer     trace.Tracer
	refreshing sync.Map // verdictKey → struct{}: refreshes under way
	bg         sync.WaitGroup
	mu         sync.RWMutex // guards closed against bg.Add
	closed     bool
	shared     sharing
	store      SharedStore // nil: alone
	coalesced  atomic.Uint64
	refreshes  atomic.Uint64
	validated  atomic.Uint64
}

// NewValidator returns the decision layer over cfg.Upstream.
func NewValidator(cfg ValidatorConfig) (*Validator, error) {
	if cfg.Upstream == nil {
		return nil, errors.New("cache: an engine is required")
	}
	if cfg.Size < 0 || cfg.RefreshAhead < 0 || cfg.RefreshAhead >= 1 {
		return nil, errors.New("cache: the verdict cache size must not be negative, refresh-ahead must be in [0, 1)")
	}
	if cfg.Size == 0 {
		cfg.Size = 100000
	}
	if cfg.RefreshAhead == 0 {
		cfg.RefreshAhead = 0.8
	}
	if cfg.TracerProvider == nil {
		cfg.TracerProvider = otel.GetTracerProvider()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &Validator{cfg: cfg, tracer: cfg.TracerProvider.Tracer("github.com/daned/daned/cache")}
	if !cfg.NoCache {
		l, err := NewLRU[verdictKey, *Verdict](cfg.Size, cfg.Now)
		if err != nil {
			return nil, err
		}
		v.lru = l
		if cfg.Shared != nil {
			v.store = cfg.Shared
			v.store.Listen(v.invalidated, v.resync)
		}
	}
	return v, nil
}

// Cached answers a request from the verdict cache alone: it never
// validates and never waits, so a front door can try it before it sets
// up what a validation needs (a deadline, say). It reports false when
// the verdict is not cached, the cache is off, the options ask for a
// fresh validation, or the domain is invalid. A verdict in the last part
// of its life is refreshed in the background, as by Decide.
func (v *Validator) Cached(ctx context.Context, domain string, opts engine.Options) (Decision, bool) {
	if v.lru == nil || opts.FreshDNS || opts.FreshProbes {
		return Decision{}, false
	}
	key := verdictKey{domain, opts.PolicyOnly}
	if d, ok := v.hit(ctx, key); ok {
		return d, true
	}
	name, err := dnsname.Normalize(domain)
	if err != nil || name == domain {
		return Decision{}, false
	}
	key.domain = name
	return v.hit(ctx, key)
}

// Decide answers a request for domain (as the caller gave it: it is
// normalised here). Fresh options (FreshDNS, FreshProbes) bypass the
// verdict cache too; the fresh verdict refills it. The error is non-nil
// only when the domain is invalid (it wraps dnsname.ErrInvalid) or ctx
// ended first.
func (v *Validator) Decide(ctx context.Context, domain string, opts engine.Options) (Decision, error) {
	fresh := opts.FreshDNS || opts.FreshProbes
	key := verdictKey{domain, opts.PolicyOnly}
	if v.lru != nil && !fresh {
		// Keys are Normalize's output, and Normalize returns its output
		// unchanged: a hit for a well-formed name costs no parsing (it
		// was half the cost of a hit; docs/BENCHMARKS.md).
		if d, ok := v.hit(ctx, key); ok {
			return d, nil
		}
	}
	name, err := dnsname.Normalize(domain)
	if err != nil {
		return Decision{}, err
	}
	if name != domain {
		key.domain = name
		if v.lru != nil && !fresh {
			if d, ok := v.hit(ctx, key); ok {
				return d, nil
			}
		}
	}
	vd, src, err := v.group.Do(ctx, flightKey{key, fresh}, func(wctx context.Context) (*Verdict, bool, error) {
		// A request can miss the cache just before a flight stores its
		// verdict and start this flight just after that one ended: look
		// again, so that identical requests cost one validation, not one
		// per unlucky scheduling.
		if v.lru != nil && !fresh {
			if it, ok := v.lru.Live(key); ok {
				return it.Value, true, nil
			}
		}
		if v.store != nil && !fresh {
			return v.viaStore(wctx, key, opts)
		}
		vd, err := v.validate(wctx, key, opts)
		if err == nil {
			v.put(wctx, key, vd)
		}
		return vd, false, err
	})
	if err != nil {
		return Decision{}, err
	}
	d := Decision{Verdict: vd, Source: src, Remaining: vd.Result.TTL}
	switch src {
	case flight.Joined:
		v.coalesced.Add(1)
	case flight.Cached:
		if it, ok := v.lru.Live(key); ok && it.Value == vd {
			d.Remaining = it.Remaining
		}
	}
	return d, nil
}

// hit answers from the cache, starting a refresh when the verdict is in
// the last part of its life.
func (v *Validator) hit(ctx context.Context, key verdictKey) (Decision, bool) {
	it, ok := v.lru.Get(key)
	if !ok {
		return Decision{}, false
	}
	if it.Remaining < time.Duration(float64(it.TTL)*(1-v.cfg.RefreshAhead)) {
		v.refresh(ctx, key)
	}
	return Decision{Verdict: it.Value, Source: flight.Cached, Remaining: it.Remaining}, true
}

// Validate is Decide for a caller that wants the engine's result alone,
// with FromCache and TTL (what remains of it) saying how old it is: the
// same method as engine.Engine's, so that the decision layer can stand
// wherever the engine did. The result is the caller's own copy at its top
// level; its hosts are shared and must not be modified.
func (v *Validator) Validate(ctx context.Context, domain string, opts engine.Options) (*engine.Result, error) {
	d, err := v.Decide(ctx, domain, opts)
	if err != nil {
		return nil, err
	}
	r := *d.Result
	r.FromCache = d.Source == flight.Cached
	r.TTL = d.Remaining
	return &r, nil
}

// validate runs the engine and caches the verdict for its TTL.
func (v *Validator) validate(ctx context.Context, key verdictKey, opts engine.Options) (*Verdict, error) {
	v.validated.Add(1)
	opts.PolicyOnly = key.policyOnly
	res, err := v.cfg.Upstream.Validate(ctx, key.domain, opts)
	if err != nil {
		return nil, err
	}
	if v.lru != nil {
		v.shared.share(res) // before anyone else sees res
	}
	vd := &Verdict{Result: res, Span: trace.SpanContextFromContext(ctx)}
	if v.lru != nil {
		v.lru.Add(key, vd, res.TTL)
	}
	return vd, nil
}

// refresh revalidates a verdict in the background when it is asked for
// in the last part of its life, so that a busy domain never goes cold for
// the fleet. DNS answers are fetched afresh (they expire with the
// verdict); probe results are reused while they live.
//
// The refresh is a trace of its own, linked to the request that started
// it.
func (v *Validator) refresh(ctx context.Context, key verdictKey) {
	if _, busy := v.refreshing.LoadOrStore(key, struct{}{}); busy {
		return
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.closed {
		v.refreshing.Delete(key)
		return
	}
	v.refreshes.Add(1)
	link := trace.LinkFromContext(ctx, attribute.String("dane.link", "refresh requested by"))
	v.bg.Go(func() {
		defer v.refreshing.Delete(key)
		ctx, span := v.tracer.Start(context.Background(), "dane.refresh", trace.WithNewRoot(), trace.WithLinks(link),
			trace.WithAttributes(attribute.String("dane.domain", key.domain), attribute.Bool("dane.policy_only", key.policyOnly)))
		defer span.End()
		if err := v.refreshNow(ctx, key); err != nil {
			span.SetStatus(codes.Error, err.Error())
			v.cfg.Logger.Warn("refresh failed", "domain", key.domain, "err", err)
		}
	})
}

// Close stops starting refreshes and waits for those under way.
func (v *Validator) Close() {
	v.mu.Lock()
	v.closed = true
	v.mu.Unlock()
	v.bg.Wait()
}

// Invalidate drops a domain's verdicts and, in the DNS and probe caches,
// the answers and probe results they rest on: the domain's (its MTA-STS
// TXT record and policy host included), its MX hosts', their aliases' and
// TLSA base domains', and their addresses'; and its cached MTA-STS
// policy. It returns how many entries it dropped. domain must be
// normalised (dnsname.Normalize).
//
// With a shared store it drops them on every replica: it deletes the
// shared entries (the domain's verdicts, and the DNS answers and probe
// results of the names and addresses its verdicts, local or shared, rest
// on) and tells the other replicas to drop the same locally. The count is
// of this replica's entries.
func (v *Validator) Invalidate(domain string) int {
	inv := Invalidation{Domain: domain, Names: []string{domain}}
	var probeKeys []probeKey
	if v.lru != nil {
		for _, po := range []bool{false, true} {
			key := verdictKey{domain, po}
			vd, ok := v.lru.Peek(key)
			if !ok && v.store != nil {
				vd, ok = v.fromStore(context.Background(), key)
			}
			if ok {
				probeKeys = rests(vd.Result, &inv, probeKeys)
			}
		}
	}
	n := v.drop(inv)
	if v.store != nil {
		keys := []string{verdictSharedKey(verdictKey{domain, false}), verdictSharedKey(verdictKey{domain, true})}
		if v.cfg.DNS != nil {
			for _, k := range dnsKeys(inv.Names) {
				keys = append(keys, dnsSharedKey(k))
			}
		}
		if v.cfg.Probes != nil {
			for _, k := range probeKeys {
				keys = append(keys, probeSharedKey(k))
			}
		}
		v.store.Invalidate(context.Background(), inv, keys)
	}
	return n
}

// rests adds to inv the names and addresses r rests on, and returns
// probes with the probe keys of its addresses.
func rests(r *engine.Result, inv *Invalidation, probes []probeKey) []probeKey {
	for _, h := range r.Hosts {
		inv.Names = append(inv.Names, h.Name)
		inv.Names = append(inv.Names, h.CNAMEChain...)
		if h.TLSABase != "" {
			inv.Names = append(inv.Names, h.TLSABase)
		}
		for _, a := range h.Addresses {
			inv.Addrs = append(inv.Addrs, a.IP)
			// The SNI of the probe: the TLSA base domain when there
			// is one, else the host name (engine); both, to be sure.
			probes = append(probes, probeKey{a.IP, h.Name})
			if h.TLSABase != "" && h.TLSABase != h.Name {
				probes = append(probes, probeKey{a.IP, h.TLSABase})
			}
		}
	}
	return probes
}

// drop drops inv from this replica's caches (the local part of
// Invalidate) and returns how many entries it dropped.
func (v *Validator) drop(inv Invalidation) int {
	domain := inv.Domain
	n := 0
	if v.lru != nil {
		for _, po := range []bool{false, true} {
			if v.lru.Remove(verdictKey{domain, po}) {
				n++
			}
		}
	}
	if v.cfg.DNS != nil {
		n += v.cfg.DNS.Forget(inv.Names...)
	}
	if v.cfg.Probes != nil {
		n += v.cfg.Probes.Forget(inv.Addrs...)
	}
	if v.cfg.Policies != nil {
		had, err := v.cfg.Policies.Invalidate(domain)
		if err != nil {
			// Gone from memory all the same; the store keeps it until it
			// expires or the next fetch replaces it.
			v.cfg.Logger.Warn("dropping the cached MTA-STS policy", "domain", domain, "err", err)
		}
		if had {
			n++
		}
	}
	return n
}

// Stats returns the decision layer's counters.
func (v *Validator) Stats() ValidatorStats {
	st := ValidatorStats{Coalesced: v.coalesced.Load(), Refreshes: v.refreshes.Load(), Validations: v.validated.Load()}
	if v.lru != nil {
		st.Stats = v.lru.Stats()
	}
	return st
}

// Coalesced returns how many requests shared another's validation (for
// telemetry.CacheSource).
func (v *Validator) Coalesced() uint64 { return v.coalesced.Load() }

// CacheStats returns the verdict cache's counters (for
// telemetry.CacheSource).
func (v *Validator) CacheStats() Stats { return v.Stats().Stats }
