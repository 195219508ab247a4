package server

import (
	"context"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/daned/daned/cache"
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

// verdicts caches whole responses, so that a hit costs a lookup and one
// small copy, and makes concurrent identical requests share one
// validation.
type verdicts struct {
	lru        *cache.LRU[verdictKey, *danev1.ValidateResponse] // nil: no caching
	group      singleflight.Group
	refreshing sync.Map // verdictKey → struct{}: refreshes under way
	refreshAt  float64  // fraction of the lifetime after which a hit refreshes
	coalesced  atomic.Uint64
	refreshes  atomic.Uint64
}

// Stats are the verdict cache's counters.
type Stats struct {
	cache.Stats
	Coalesced uint64 // requests that shared another's validation
	Refreshes uint64 // background refreshes started
}

// Stats returns the verdict cache's counters.
func (s *Server) Stats() Stats {
	st := Stats{Coalesced: s.v.coalesced.Load(), Refreshes: s.v.refreshes.Load()}
	if s.v.lru != nil {
		st.Stats = s.v.lru.Stats()
	}
	return st
}

// verdict answers from the cache or runs (or joins) a validation.
func (s *Server) verdict(ctx context.Context, domain string, policyOnly, bypass bool) (*danev1.ValidateResponse, error) {
	key := verdictKey{domain, policyOnly}
	if s.v.lru != nil && !bypass {
		if it, ok := s.v.lru.Get(key); ok {
			if it.Remaining < time.Duration(float64(it.TTL)*(1-s.v.refreshAt)) {
				s.refresh(key)
			}
			return cached(it.Value, it.Remaining), nil
		}
	}
	flight := domain + "|" + strconv.FormatBool(policyOnly) + "|" + strconv.FormatBool(bypass)
	ch := s.v.group.DoChan(flight, func() (any, error) {
		// The shared validation is bounded by the engine's own deadline,
		// not by the first caller's: a caller that gives up must not take
		// the answer away from the others.
		wctx := context.WithoutCancel(ctx)
		if bypass {
			wctx = cache.WithBypass(wctx, cache.Bypass{DNS: true, Probes: true})
		}
		return s.validate(wctx, key)
	})
	select {
	case r := <-ch:
		if r.Shared {
			s.v.coalesced.Add(1)
		}
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*danev1.ValidateResponse), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// validate runs the engine and caches the verdict for its TTL.
func (s *Server) validate(ctx context.Context, key verdictKey) (*danev1.ValidateResponse, error) {
	res, err := s.engine.Validate(ctx, key.domain, engine.Options{PolicyOnly: key.policyOnly})
	if err != nil {
		return nil, err
	}
	resp := ToProto(res)
	if s.v.lru != nil {
		s.v.lru.Add(key, resp, res.TTL)
	}
	return resp, nil
}

// refresh revalidates a verdict in the background when it is asked for
// in the last part of its life, so that a busy domain never goes cold for
// the fleet. DNS answers are fetched afresh (they expire with the
// verdict); probe results are reused while they live.
func (s *Server) refresh(key verdictKey) {
	if _, busy := s.v.refreshing.LoadOrStore(key, struct{}{}); busy {
		return
	}
	s.v.refreshes.Add(1)
	go func() {
		defer s.v.refreshing.Delete(key)
		ctx := cache.WithBypass(context.Background(), cache.Bypass{DNS: true})
		if _, err := s.validate(ctx, key); err != nil {
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
			if r, ok := s.v.lru.Peek(key); ok {
				for _, h := range r.GetMxHosts() {
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
