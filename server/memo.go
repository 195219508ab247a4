package server

import (
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/daned/daned/cache"
	"github.com/daned/daned/engine"
	danev1 "github.com/daned/daned/proto/dane/v1"
	"github.com/daned/daned/protoconv"
)

// wire is the gRPC door's rendering of a verdict, made once per verdict
// and kept with it by the decision layer (cache.Verdict.Memo).
type wire struct {
	// resp is the verdict as the API says it, without the per-call
	// fields (from_cache, ttl, trace_id); its sub-messages are shared
	// with other verdicts. Never modified.
	resp *danev1.ValidateResponse
	// hosts are resp's mx_hosts as encoded on the wire, one field per
	// host, shared between verdicts like the hosts.
	hosts [][]byte
}

// wireKey is the gRPC door's key for cache.Verdict.Memo.
type wireKey struct{}

// wireOf returns the verdict's wire rendering, made on first use.
func (s *Server) wireOf(vd *cache.Verdict) *wire {
	return vd.Memo(wireKey{}, s.render).(*wire)
}

func (s *Server) render(r *engine.Result) any {
	resp := protoconv.ToProto(r)
	resp.Ttl, resp.FromCache = nil, false
	return &wire{resp: resp, hosts: s.shared.share(resp)}
}

// response returns the request's own response for a decision: the
// verdict's top level copied, with this call's fields.
func response(d cache.Decision, w *wire) *danev1.ValidateResponse {
	r := shallowCopy(w.resp)
	r.FromCache = d.Source == cache.Cached
	r.Ttl = durationpb.New(d.Remaining)
	return r
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

// preEncoded returns r, a response of this request's own, with its hosts
// replaced by their encoding made when the verdict was rendered: the
// same bytes on the wire, which every client decodes as mx_hosts, without
// encoding the bulk of the verdict again on every call. Only for a
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
