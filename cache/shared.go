package cache

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/daned/daned/engine"
)

// SharedStore is the decision layer's second level: a store of entries
// that daned's replicas share (*shared.Store, over Redis). The verdict
// cache, the DNS cache and the probe cache each look there on a local
// miss, and write there what they make, as bytes with an absolute
// expiry; the store authenticates entries, so that a Get never returns
// bytes another replica did not write for that key. Every method is
// bounded in time and never fails the caller: a store that cannot answer
// reports a miss and leaves the work to this replica.
type SharedStore interface {
	// Get returns the payload at key and its absolute expiry, or false.
	Get(ctx context.Context, key string) (payload []byte, expires time.Time, ok bool)
	// Put stores payload at key until expires (best effort).
	Put(ctx context.Context, key string, payload []byte, expires time.Time)
	// Do returns the payload at key, or makes it once for the fleet
	// with fn under key's lease (the other replicas wait for it) and
	// stores it; shared reports a payload from the store. fn's error is
	// returned as it is, and its result is then not stored.
	Do(ctx context.Context, key string, fn func(context.Context) ([]byte, time.Time, error)) (payload []byte, expires time.Time, shared bool, err error)
	// Lead runs fn under key's lease and stores its result, unless
	// another replica holds the lease (it is doing the same work): then
	// fn does not run and Lead reports false.
	Lead(ctx context.Context, key string, fn func(context.Context) ([]byte, time.Time, error)) (ran bool)
	// Invalidate deletes keys and tells every other replica to drop inv
	// from its local caches.
	Invalidate(ctx context.Context, inv Invalidation, keys []string)
	// Listen sets what the store calls for each invalidation another
	// replica sends, and after it was unreachable (invalidations may
	// have been missed: drop what is held locally).
	Listen(onInvalidate func(Invalidation), onResync func())
}

// Invalidation is what Invalidate drops on every replica: a domain's
// verdicts, the DNS answers of its names (as Resolver.Forget) and the
// probe results of its addresses (as Prober.Forget).
type Invalidation struct {
	Domain string
	Names  []string
	Addrs  []netip.Addr
}

// errNotShared is fn's answer to SharedStore.Do for a result that is not
// to be shared (a failed lookup): the store keeps nothing, its waiters
// take over.
var errNotShared = errors.New("cache: not shared")

// The shared keys (the store prefixes them, "daned:" by default):
//
//	v:0:<domain>        a verdict (v:1: with PolicyOnly)
//	d:<qtype>:<name>    a DNS answer (qtype in decimal, name lower-case FQDN)
//	p:<addr>/<sni>      a probe result
func verdictSharedKey(k verdictKey) string {
	if k.policyOnly {
		return "v:1:" + k.domain
	}
	return "v:0:" + k.domain
}

func dnsSharedKey(k dnsKey) string {
	return "d:" + strconv.Itoa(int(k.qtype)) + ":" + k.name
}

func probeSharedKey(k probeKey) string {
	return "p:" + k.addr.String() + "/" + k.sni
}

// attrShared marks a span answered from the shared store.
var attrShared = attribute.Bool("dane.cache.shared", true)

func markShared(ctx context.Context) { trace.SpanFromContext(ctx).SetAttributes(attrShared) }

// viaStore answers a local miss from the shared store, or validates once
// for the fleet under the verdict's lease and shares the verdict. The
// verdict from the store keeps its absolute expiry: no replica serves it
// past its TTL.
func (v *Validator) viaStore(ctx context.Context, key verdictKey, opts engine.Options) (*Verdict, bool, error) {
	var mine *Verdict
	p, exp, hit, err := v.store.Do(ctx, verdictSharedKey(key), func(ctx context.Context) ([]byte, time.Time, error) {
		vd, err := v.validate(ctx, key, opts)
		if err != nil {
			return nil, time.Time{}, err
		}
		mine = vd
		b, err := engine.MarshalResult(vd.Result)
		if err != nil {
			v.cfg.Logger.Warn("verdict not shared", "domain", key.domain, "err", err)
			return nil, time.Time{}, errNotShared
		}
		return b, v.cfg.Now().Add(vd.Result.TTL), nil
	})
	if mine != nil {
		return mine, false, nil
	}
	if hit {
		if vd, ok := v.adopt(key, p, exp); ok {
			markShared(ctx)
			return vd, true, nil
		}
	} else if err != nil && !errors.Is(err, errNotShared) {
		return nil, false, err // the validation's own error
	}
	// Unreadable here (another release's format): validate.
	vd, err := v.validate(ctx, key, opts)
	if err == nil {
		v.put(ctx, key, vd)
	}
	return vd, false, err
}

// adopt makes a verdict of a payload from the store and caches it until
// its expiry.
func (v *Validator) adopt(key verdictKey, p []byte, exp time.Time) (*Verdict, bool) {
	res, err := engine.UnmarshalResult(p)
	if err != nil || res.Domain != key.domain || res.PolicyOnly != key.policyOnly {
		v.cfg.Logger.Warn("shared verdict unreadable: validating", "domain", key.domain, "err", err)
		return nil, false
	}
	if !v.cfg.Now().Before(exp) {
		return nil, false
	}
	v.shared.share(res)
	vd := &Verdict{Result: res}
	v.lru.AddUntil(key, vd, res.TTL, exp)
	return vd, true
}

// fromStore returns the shared verdict for key, without caching it.
func (v *Validator) fromStore(ctx context.Context, key verdictKey) (*Verdict, bool) {
	p, _, ok := v.store.Get(ctx, verdictSharedKey(key))
	if !ok {
		return nil, false
	}
	res, err := engine.UnmarshalResult(p)
	if err != nil {
		return nil, false
	}
	return &Verdict{Result: res}, true
}

// put shares a verdict this replica made (a fresh validation, a refresh).
func (v *Validator) put(ctx context.Context, key verdictKey, vd *Verdict) {
	if v.store == nil || vd.Result.TTL <= 0 {
		return
	}
	b, err := engine.MarshalResult(vd.Result)
	if err != nil {
		v.cfg.Logger.Warn("verdict not shared", "domain", key.domain, "err", err)
		return
	}
	v.store.Put(ctx, verdictSharedKey(key), b, v.cfg.Now().Add(vd.Result.TTL))
}

// refreshNow revalidates key. With a shared store, a verdict another
// replica refreshed already is adopted, and of the replicas that would
// refresh the same verdict at once (they hold it with the same expiry)
// only the lease holder validates: the others keep theirs until it
// expires, then read the new one.
func (v *Validator) refreshNow(ctx context.Context, key verdictKey) error {
	opts := engine.Options{FreshDNS: true}
	if v.store == nil {
		_, err := v.validate(ctx, key, opts)
		return err
	}
	if p, exp, ok := v.store.Get(ctx, verdictSharedKey(key)); ok {
		if it, held := v.lru.Live(key); !held || exp.After(v.cfg.Now().Add(it.Remaining)) {
			if _, ok := v.adopt(key, p, exp); ok {
				return nil
			}
		}
	}
	var verr error
	v.store.Lead(ctx, verdictSharedKey(key), func(ctx context.Context) ([]byte, time.Time, error) {
		vd, err := v.validate(ctx, key, opts)
		if err != nil {
			verr = err
			return nil, time.Time{}, err
		}
		b, err := engine.MarshalResult(vd.Result)
		if err != nil {
			return nil, time.Time{}, errNotShared
		}
		return b, v.cfg.Now().Add(vd.Result.TTL), nil
	})
	return verr
}

// invalidated is the store's call for an invalidation from another
// replica: the local part of Invalidate, with what this replica's own
// verdicts rest on too.
func (v *Validator) invalidated(inv Invalidation) {
	for _, po := range []bool{false, true} {
		if vd, ok := v.lru.Peek(verdictKey{inv.Domain, po}); ok {
			rests(vd.Result, &inv, nil)
		}
	}
	v.drop(inv)
}

// resync is the store's call after it was unreachable: invalidations may
// have been missed, so nothing held locally is trusted any more. The
// next requests read the shared store again, or validate.
func (v *Validator) resync() {
	v.lru.Purge()
	if v.cfg.DNS != nil {
		v.cfg.DNS.lru.Purge()
	}
	if v.cfg.Probes != nil {
		v.cfg.Probes.lru.Purge()
	}
	v.cfg.Logger.Info("shared store back: local caches dropped, invalidations may have been missed")
}
