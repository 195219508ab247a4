package engine

import (
	"context"
	"errors"

	"github.com/miekg/dns"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/mtasts"
	"github.com/daned/daned/probe"
	"github.com/daned/daned/resolver"
)

// Span names. They are few and fixed; what varies goes in attributes.
const (
	spanValidate = "dane.validate"
	spanHost     = "dane.host"
	spanLookup   = "dns.lookup"
	spanProbe    = "smtp.probe"
	spanMatch    = "dane.match"
	spanSTS      = "mta_sts.policy"
)

// Attribute keys: OpenTelemetry semantic conventions where they exist, a
// dane.* namespace for the rest.
const (
	attrDomain      = attribute.Key("dane.domain")
	attrAction      = attribute.Key("dane.action")
	attrReason      = attribute.Key("dane.reason")
	attrPolicy      = attribute.Key("dane.policy")
	attrStatus      = attribute.Key("dane.status_code")
	attrHost        = attribute.Key("dane.mx.host")
	attrPreference  = attribute.Key("dane.mx.preference")
	attrTLSABase    = attribute.Key("dane.tlsa.base_domain")
	attrMatched     = attribute.Key("dane.tlsa.matched")
	attrMatchedRec  = attribute.Key("dane.tlsa.record")
	attrUsable      = attribute.Key("dane.usable")
	attrQName       = attribute.Key("dns.question.name")
	attrQType       = attribute.Key("dns.question.type")
	attrRcode       = attribute.Key("dns.response_code")
	attrSecurity    = attribute.Key("dns.security")
	attrAnswers     = attribute.Key("dns.answer.count")
	attrServerAddr  = attribute.Key("server.address")
	attrPeerAddr    = attribute.Key("network.peer.address")
	attrPeerPort    = attribute.Key("network.peer.port")
	attrTLSVersion  = attribute.Key("tls.protocol.version")
	attrTLSCipher   = attribute.Key("tls.cipher")
	attrSNI         = attribute.Key("tls.client.server_name")
	attrSTARTTLS    = attribute.Key("smtp.starttls.offered")
	attrProbeStage  = attribute.Key("dane.probe.stage")
	attrChainLength = attribute.Key("tls.server.chain.length")
	attrSTSMode     = attribute.Key("mta_sts.mode")
	attrSTSID       = attribute.Key("mta_sts.record_id")
	attrSTSCached   = attribute.Key("mta_sts.from_cache")
	attrSTSFailure  = attribute.Key("mta_sts.failure")
)

// tracerName identifies daned's engine spans.
const tracerName = "github.com/daned/daned/engine"

func (e *Engine) tracer() trace.Tracer { return e.cfg.TracerProvider.Tracer(tracerName) }

// traceLookup wraps one DNS lookup in a span: the question, the answer's
// security state and rcode, or the failure.
func (v *validation) traceLookup(ctx context.Context, name string, qtype uint16, f func(context.Context) (*resolver.Answer, error)) (*resolver.Answer, error) {
	return traceLookup(ctx, v.e.tracer(), name, qtype, f)
}

// TraceLookups returns l with a span around every lookup, as the engine
// makes for its own: for the lookups made on the engine's behalf by
// others that share its resolver, such as the MTA-STS policy source's TXT
// and address lookups. tp nil means the global provider.
func TraceLookups(l Lookuper, tp trace.TracerProvider) Lookuper {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tracedLookuper{l, tp.Tracer(tracerName)}
}

type tracedLookuper struct {
	next   Lookuper
	tracer trace.Tracer
}

func (t tracedLookuper) Lookup(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error) {
	return traceLookup(ctx, t.tracer, name, qtype, func(ctx context.Context) (*resolver.Answer, error) {
		return t.next.Lookup(ctx, name, qtype)
	})
}

func traceLookup(ctx context.Context, tracer trace.Tracer, name string, qtype uint16, f func(context.Context) (*resolver.Answer, error)) (*resolver.Answer, error) {
	ctx, span := tracer.Start(ctx, spanLookup, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attrQName.String(dns.Fqdn(name)), attrQType.String(dns.TypeToString[qtype])))
	defer span.End()
	a, err := f(ctx)
	if err != nil {
		var qe *resolver.QueryError
		if errors.As(err, &qe) && qe.Rcode >= 0 {
			span.SetAttributes(attrRcode.String(dns.RcodeToString[qe.Rcode]))
		}
		if errors.Is(err, resolver.ErrBogus) {
			span.SetAttributes(attrSecurity.String(resolver.Bogus.String()))
		}
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return nil, err
	}
	span.SetAttributes(attrRcode.String(dns.RcodeToString[a.Rcode]), attrSecurity.String(a.Security.String()),
		attrAnswers.Int(len(a.Records)))
	return a, nil
}

// startHost opens the span of one MX host.
func (v *validation) startHost(ctx context.Context, h *Host) (context.Context, trace.Span) {
	return v.e.tracer().Start(ctx, spanHost, trace.WithAttributes(attrHost.String(h.Name), attrPreference.Int(int(h.Preference))))
}

// endHost closes a host span with the host's outcome.
func endHost(span trace.Span, h *Host) {
	span.SetAttributes(attrPolicy.String(h.Policy.String()), attrReason.String(h.Reason.String()), attrUsable.Bool(h.Usable))
	if h.TLSABase != "" {
		span.SetAttributes(attrTLSABase.String(h.TLSABase))
	}
	if !h.Usable {
		span.SetStatus(codes.Error, h.Detail)
	}
	span.End()
}

// traceProbe wraps one STARTTLS probe in a span whose events are the
// probe's steps, at the times they happened.
func (v *validation) traceProbe(ctx context.Context, h *Host, ip string, sni string, f func(context.Context) *probe.Result) *probe.Result {
	ctx, span := v.e.tracer().Start(ctx, spanProbe, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attrServerAddr.String(h.Name), attrPeerAddr.String(ip), attrSNI.String(sni)))
	defer span.End()
	r := f(ctx)
	for _, st := range r.Steps {
		attrs := []attribute.KeyValue{attribute.Int64("duration_us", st.Duration.Microseconds())}
		if st.Err != nil {
			attrs = append(attrs, attribute.String("error", st.Err.Error()))
		}
		span.AddEvent(st.Stage.String(), trace.WithTimestamp(st.Start), trace.WithAttributes(attrs...))
	}
	if r.Addr.Port() != 0 {
		span.SetAttributes(attrPeerPort.Int(int(r.Addr.Port())))
	}
	span.SetAttributes(attrSTARTTLS.Bool(r.STARTTLSOffered), attrProbeStage.String(r.Reached.String()))
	if r.TLS {
		span.SetAttributes(attrTLSVersion.String(probe.VersionName(r.TLSVersion)), attrTLSCipher.String(CipherSuiteName(r.CipherSuite)),
			attrChainLength.Int(len(r.Chain)))
	}
	if r.Err != nil {
		span.RecordError(r.Err)
		span.SetStatus(codes.Error, r.Err.Error())
	}
	return r
}

// traceMatch records the authentication of one chain.
func (v *validation) traceMatch(ctx context.Context, h *Host, f func() dane.Result) dane.Result {
	_, span := v.e.tracer().Start(ctx, spanMatch, trace.WithAttributes(attrHost.String(h.Name), attribute.Int("dane.tlsa.records", len(h.TLSA))))
	defer span.End()
	m := f()
	span.SetAttributes(attrReason.String(m.Reason.String()), attrMatched.Int(m.Matched))
	if m.Matched >= 0 && m.Matched < len(h.TLSA) {
		span.SetAttributes(attrMatchedRec.String(recordText(h.TLSA[m.Matched].Record)))
	}
	if !m.Authenticated() {
		span.SetStatus(codes.Error, m.Detail)
	}
	return m
}

// stsPolicy asks the policy source for the domain's MTA-STS policy in a
// span of its own, under which the source's TXT lookup and HTTPS fetch
// appear when it makes them.
func (v *validation) stsPolicy(ctx context.Context, domain string) mtasts.PolicyResult {
	ctx, span := v.e.tracer().Start(ctx, spanSTS, trace.WithAttributes(attrDomain.String(domain)))
	defer span.End()
	pr := v.e.cfg.MTASTS.Policy(ctx, domain)
	mode := pr.Policy.Mode.String()
	if mode == "" {
		mode = "no policy"
	}
	span.SetAttributes(attrSTSMode.String(mode), attrSTSCached.Bool(pr.FromCache))
	if pr.RecordID != "" {
		span.SetAttributes(attrSTSID.String(pr.RecordID))
	}
	if pr.Failure != mtasts.ReasonNone {
		span.SetAttributes(attrSTSFailure.String(pr.Failure.ResultType()))
		span.SetStatus(codes.Error, pr.Detail)
	}
	return pr
}

// endValidate closes the validation span with the verdict.
func endValidate(span trace.Span, res *Result) {
	v := res.Verdict
	span.SetAttributes(attrAction.String(v.Action.String()), attrReason.String(v.Reason.String()),
		attrPolicy.String(v.Policy.String()), attribute.Int("dane.mx.count", len(res.Hosts)),
		attribute.String("dane.policy_source", res.PolicySource.String()))
	if v.Status.Code != "" {
		span.SetAttributes(attrStatus.String(v.Status.Code))
	}
	if v.Action != dane.ActionDeliver {
		span.SetStatus(codes.Error, v.Text)
	}
	span.End()
}
