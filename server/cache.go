package server

import (
	"context"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/singleflight"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/daned/daned/cache"
	"github.com/daned/daned/dnsname"
	"github.com/daned/daned/engine"
	danev1 "github.com/daned/daned/proto/dane/v1"
)

// Forgetter drops cached DNS answers and probe results (Invalidate).
type Forgetter interface {
	Forget(names []string, addrs []netip.Addr) int
}

type verdictKey struct {
	domain     string
	policyOnly bool
}

// verdict is a response with the span of the validation that reached it,
// which cache hits and coalesced requests link to.
type verdict struct {
	resp *danev1.ValidateResponse
	span trace.SpanContext
	// hosts are resp's mx_hosts as encoded on the wire, one field per
	// host, shared between verdicts like the hosts; nil when not cached.
	hosts [][]byte
}

// origin says how a request got its verdict.
type origin int

const (
	fresh     origin = iota // this request's own validation
	fromCache               // the verdict cache
	coalesced               // a concurrent identical request's validation
)

// verdicts caches whole responses, so that a hit costs a lookup and one
// small copy, and makes concurrent identical requests share one
// validation.
type verdicts struct {
	lru        *cache.LRU[verdictKey, verdict] // nil: no caching
	group      singleflight.Group
	refreshing sync.Map // verdictKey → struct{}: refreshes under way
	refreshAt  float64  // fraction of the lifetime after which a hit refreshes
	coalesced  atomic.Uint64
	refreshes  atomic.Uint64
	validated  atomic.Uint64 // validations run by the engine
	shared     *sharing      // identical sub-messages of cached verdicts, held once
}

// Stats are the verdict cache's counters.
type Stats struct {
	cache.Stats
	Coalesced   uint64 // requests that shared another's validation
	Refreshes   uint64 // background refreshes started
	Validations uint64 // validations run by the engine (refreshes included)
}

// Stats returns the verdict cache's counters.
func (s *Server) Stats() Stats {
	st := Stats{Coalesced: s.v.coalesced.Load(), Refreshes: s.v.refreshes.Load(), Validations: s.v.validated.Load()}
	if s.v.lru != nil {
		st.Stats = s.v.lru.Stats()
	}
	return st
}

// verdict answers from the cache or runs (or joins) a validation. A
// response from the cache is the caller's own copy (its top level; the
// hosts are shared); any other response is shared with the cache and
// other callers and must not be modified.
func (s *Server) verdict(ctx context.Context, domain string, policyOnly, bypass bool) (verdict, origin, error) {
	key := verdictKey{domain, policyOnly}
	if s.v.lru != nil && !bypass {
		if it, ok := s.v.lru.Get(key); ok {
			if it.Remaining < time.Duration(float64(it.TTL)*(1-s.v.refreshAt)) {
				s.refresh(ctx, key)
			}
			return verdict{resp: cached(it.Value.resp, it.Remaining), span: it.Value.span, hosts: it.Value.hosts}, fromCache, nil
		}
	}
	flight := domain + "|" + strconv.FormatBool(policyOnly) + "|" + strconv.FormatBool(bypass)
	me := new(byte) // identifies this caller if its function is the one that runs
	ch := s.v.group.DoChan(flight, func() (any, error) {
		// The shared validation is bounded by the engine's own deadline,
		// not by the first caller's: a caller that gives up must not take
		// the answer away from the others.
		//
		// A request can miss the cache just before a flight stores its
		// verdict and start this flight just after that one ended: look
		// again before validating, so that identical requests cost one
		// validation, not one per unlucky scheduling.
		if s.v.lru != nil && !bypass {
			if it, ok := s.v.lru.Live(key); ok {
				return flightResult{verdict: verdict{resp: cached(it.Value.resp, it.Remaining), span: it.Value.span, hosts: it.Value.hosts}, leader: me, hit: true}, nil
			}
		}
		wctx := context.WithoutCancel(ctx)
		if bypass {
			wctx = cache.WithBypass(wctx, cache.Bypass{DNS: true, Probes: true})
		}
		v, err := s.validate(wctx, key)
		return flightResult{verdict: v, leader: me}, err
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return verdict{}, fresh, r.Err
		}
		fr := r.Val.(flightResult)
		if fr.hit {
			// Every caller of the flight got this one copy: give each its
			// own, as a hit from the cache does.
			v := fr.verdict
			v.resp = shallowCopy(v.resp)
			return v, fromCache, nil
		}
		if fr.leader != me {
			s.v.coalesced.Add(1)
			return fr.verdict, coalesced, nil
		}
		return fr.verdict, fresh, nil
	case <-ctx.Done():
		return verdict{}, fresh, ctx.Err()
	}
}

// flightResult is what a shared validation hands its callers.
type flightResult struct {
	verdict
	leader *byte
	hit    bool // the verdict was found in the cache on a second look
}

// validate runs the engine and caches the verdict for its TTL.
func (s *Server) validate(ctx context.Context, key verdictKey) (verdict, error) {
	s.v.validated.Add(1)
	res, err := s.engine.Validate(ctx, key.domain, engine.Options{PolicyOnly: key.policyOnly})
	if err != nil {
		return verdict{}, err
	}
	v := verdict{resp: ToProto(res), span: trace.SpanContextFromContext(ctx)}
	if s.v.lru != nil {
		v.hosts = s.v.shared.share(v.resp)
		s.v.lru.Add(key, v, res.TTL)
	}
	return v, nil
}

// refresh revalidates a verdict in the background when it is asked for
// in the last part of its life, so that a busy domain never goes cold for
// the fleet. DNS answers are fetched afresh (they expire with the
// verdict); probe results are reused while they live.
//
// The refresh is a trace of its own, linked to the request that started
// it.
func (s *Server) refresh(ctx context.Context, key verdictKey) {
	if _, busy := s.v.refreshing.LoadOrStore(key, struct{}{}); busy {
		return
	}
	s.v.refreshes.Add(1)
	link := trace.LinkFromContext(ctx, attribute.String("dane.link", "refresh requested by"))
	go func() {
		defer s.v.refreshing.Delete(key)
		ctx, span := s.tracer.Start(context.Background(), "dane.refresh", trace.WithNewRoot(), trace.WithLinks(link),
			trace.WithAttributes(attribute.String("dane.domain", key.domain), attribute.Bool("dane.policy_only", key.policyOnly)))
		defer span.End()
		ctx = cache.WithBypass(ctx, cache.Bypass{DNS: true})
		if _, err := s.validate(ctx, key); err != nil {
			span.SetStatus(codes.Error, err.Error())
			s.log.Warn("refresh failed", "domain", key.domain, "err", err)
		}
	}()
}

// cached returns a copy of a cached response marked as such, with what
// remains of its lifetime. The hosts are shared, never modified.
func cached(r *danev1.ValidateResponse, remaining time.Duration) *danev1.ValidateResponse {
	c := shallowCopy(r)
	c.FromCache = true
	c.Ttl = durationpb.New(remaining)
	return c
}

// shallowCopy copies the top level of a response; the sub-messages are
// shared (they are read-only once built). TestShallowCopyCarriesEveryField
// fails when a field is added to the API and not here.
func shallowCopy(r *danev1.ValidateResponse) *danev1.ValidateResponse {
	return &danev1.ValidateResponse{
		Domain:           r.Domain,
		Policy:           r.Policy,
		Action:           r.Action,
		Reason:           r.Reason,
		StatusCode:       r.StatusCode,
		StatusText:       r.StatusText,
		TlsrptResultType: r.TlsrptResultType,
		MxHosts:          r.MxHosts,
		CheckedAt:        r.CheckedAt,
		Ttl:              r.Ttl,
		FromCache:        r.FromCache,
		MxSecurity:       r.MxSecurity,
		ImplicitMx:       r.ImplicitMx,
		PolicyOnly:       r.PolicyOnly,
		TraceId:          r.TraceId,
	}
}

// invalidate drops a domain's verdicts and, through the forgetter, the
// DNS answers and probe results they rest on.
func (s *Server) invalidate(domain string) int {
	names := []string{domain}
	var addrs []netip.Addr
	n := 0
	if s.v.lru != nil {
		for _, po := range []bool{false, true} {
			key := verdictKey{domain, po}
			if v, ok := s.v.lru.Peek(key); ok {
				for _, h := range v.resp.GetMxHosts() {
					names = append(names, h.GetName())
					names = append(names, h.GetCnameChain()...)
					if b := h.GetTlsaBaseDomain(); b != "" {
						names = append(names, b)
					}
					for _, a := range h.GetAddresses() {
						if ip, err := netip.ParseAddr(a.GetIp()); err == nil {
							addrs = append(addrs, ip)
						}
					}
				}
			}
			if s.v.lru.Remove(key) {
				n++
			}
		}
	}
	if s.forget != nil {
		n += s.forget.Forget(names, addrs)
	}
	return n
}

// normalize is dnsname.Normalize, skipped for a name the verdict cache
// holds as a key: keys are Normalize's output, and Normalize returns its
// output unchanged, so a cache hit for a well-formed name costs no
// parsing (it was half the cost of a hit; docs/BENCHMARKS.md).
func (s *Server) normalize(domain string, policyOnly bool) (string, error) {
	if s.v.lru != nil {
		if _, ok := s.v.lru.Peek(verdictKey{domain, policyOnly}); ok {
			return domain, nil
		}
	}
	return dnsname.Normalize(domain)
}

// preEncoded returns r, a response of this request's own, with its hosts
// replaced by their encoding made when the verdict was cached: the same
// bytes on the wire, which every client decodes as mx_hosts, without
// encoding the bulk of the verdict again on every hit. Only for a
// response about to be sent: Go code reading r no longer sees the hosts.
func preEncoded(r *danev1.ValidateResponse, hosts [][]byte) *danev1.ValidateResponse {
	n := 0
	for _, h := range hosts {
		if h == nil {
			return r // a host that could not be encoded: send as is
		}
		n += len(h)
	}
	raw := make([]byte, 0, n)
	for _, h := range hosts {
		raw = append(raw, h...)
	}
	r.MxHosts = nil
	r.ProtoReflect().SetUnknown(raw)
	return r
}
