package server

import (
	"crypto/sha256"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/daned/daned/cache"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/flight"
	danev1 "github.com/daned/daned/proto/dane/v1"
	"github.com/daned/daned/protoconv"
)

// wire is the gRPC door's rendering of a verdict, made once per verdict
// and kept with it by the decision layer (cache.Verdict.Memo): the
// response's wire encoding, in two parts, without the per-call fields
// (from_cache, ttl, trace_id), which a call adds as fields of its own.
type wire struct {
	// top is the encoding of the response's own fields, mx_hosts aside.
	top []byte
	// hosts are the mx_hosts fields (tag, length, message), one per
	// host, shared between verdicts: a fleet's domains sit at a few
	// providers, so 100,000 cached domains name a few hundred hosts.
	hosts [][]byte
	// size is len(top) plus the hosts' lengths.
	size int
	// action, reason and policy are the enum names without their
	// prefixes, as in spans, metrics and logs ("DELIVER").
	action, reason, policy string
	// status is the enhanced status code, for the log.
	status string
}

// wireKey is the gRPC door's memo on every verdict.
var wireKey = cache.NewMemoKey()

// wireOf returns the verdict's wire rendering, made on first use.
func (s *Server) wireOf(vd *cache.Verdict) *wire {
	return vd.Memo(wireKey, s.render).(*wire)
}

// deterministic encodings make equal hosts equal bytes, which is what
// shares them.
var deterministic = proto.MarshalOptions{Deterministic: true}

// mxHostsField is the field number of ValidateResponse.mx_hosts.
var mxHostsField = (&danev1.ValidateResponse{}).ProtoReflect().Descriptor().Fields().ByName("mx_hosts").Number()

func (s *Server) render(r *engine.Result) any {
	resp := protoconv.ToProto(r)
	w := &wire{
		action: strings.TrimPrefix(resp.GetAction().String(), "ACTION_"),
		reason: strings.TrimPrefix(resp.GetReason().String(), "REASON_"),
		policy: strings.TrimPrefix(resp.GetPolicy().String(), "POLICY_"),
		status: resp.GetStatusCode(),
	}
	for _, h := range resp.MxHosts {
		b, err := deterministic.Marshal(h)
		if err != nil {
			w.hosts = nil // cannot happen for a valid message; send as is
			break
		}
		field := protowire.AppendTag(make([]byte, 0, len(b)+8), mxHostsField, protowire.BytesType)
		field = protowire.AppendBytes(field, b)
		field = s.shared.Share(sha256.Sum256(field), field)
		w.hosts = append(w.hosts, field)
		w.size += len(field)
	}
	top := shallowCopy(resp)
	top.MxHosts, top.Ttl, top.FromCache = nil, nil, false
	b, err := deterministic.Marshal(top)
	if err != nil || (w.hosts == nil && len(resp.MxHosts) > 0) {
		w.top, w.hosts = nil, nil
	} else {
		w.top = b
		w.size += len(b)
	}
	return w
}

// response returns the call's own response for a decision. Through a
// gRPC transport (wired) it is the per-call fields plus the verdict's
// encoding as unknown fields: the same bytes on the wire, which every
// client decodes as a normal ValidateResponse, without encoding the
// verdict again on every call. Otherwise (an in-process caller, or when
// the encoding could not be made) it is the whole response made afresh:
// nothing of it is kept.
func (w *wire) response(d cache.Decision, traceID string, wired bool) *danev1.ValidateResponse {
	if wired && w.top != nil {
		r := &danev1.ValidateResponse{FromCache: d.Source == flight.Cached, Ttl: durationpb.New(d.Remaining), TraceId: traceID}
		raw := make([]byte, 0, w.size)
		raw = append(raw, w.top...)
		for _, h := range w.hosts {
			raw = append(raw, h...)
		}
		r.ProtoReflect().SetUnknown(raw)
		return r
	}
	r := protoconv.ToProto(d.Result)
	r.FromCache = d.Source == flight.Cached
	r.Ttl = durationpb.New(d.Remaining)
	r.TraceId = traceID
	return r
}

// shallowCopy copies the top level of a response; the sub-messages are
// shared (they are read-only once built). TestShallowCopyCarriesEveryField
// fails when a field is added to the API and not here.
func shallowCopy(r *danev1.ValidateResponse) *danev1.ValidateResponse {
	return &danev1.ValidateResponse{
		Domain:             r.Domain,
		Policy:             r.Policy,
		Action:             r.Action,
		Reason:             r.Reason,
		StatusCode:         r.StatusCode,
		StatusText:         r.StatusText,
		TlsrptResultType:   r.TlsrptResultType,
		MxHosts:            r.MxHosts,
		CheckedAt:          r.CheckedAt,
		Ttl:                r.Ttl,
		FromCache:          r.FromCache,
		MxSecurity:         r.MxSecurity,
		ImplicitMx:         r.ImplicitMx,
		PolicyOnly:         r.PolicyOnly,
		TraceId:            r.TraceId,
		PolicySource:       r.PolicySource,
		PolicySourceDetail: r.PolicySourceDetail,
		MtaSts:             r.MtaSts,
	}
}
