package socketmap

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/daned/daned/cache"
	"github.com/daned/daned/dane"
	"github.com/daned/daned/dnsname"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/mtasts"
)

// Span attributes of a request.
var (
	attrName   = attribute.Key("socketmap.name")
	attrKey    = attribute.Key("socketmap.key")
	attrReply  = attribute.Key("socketmap.reply")
	attrPolicy = attribute.Key("socketmap.policy")
)

// handle answers one request and records it (metrics, span, debug log).
// wellFormed is false when the payload had no space between name and key.
func (s *Server) handle(ctx context.Context, caller, name, key string, wellFormed bool) Reply {
	start := time.Now()
	ctx, span := s.tracer.Start(ctx, "socketmap.request", trace.WithSpanKind(trace.SpanKindServer))
	m, known := ParseMap(name)
	r := s.answer(ctx, caller, m, known, name, key, wellFormed)
	metricName := m.String()
	if !known {
		metricName = "other"
	}
	policy := policyOf(r)
	d := time.Since(start)
	s.cfg.Metrics.Request(ctx, metricName, r.Kind.String(), policy, d)
	if span.IsRecording() {
		span.SetAttributes(attrName.String(metricName), attrKey.String(short(key)), attrReply.String(r.Kind.String()), attrPolicy.String(policy))
	}
	span.End()
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.LogAttrs(ctx, slog.LevelDebug, "socketmap request",
			slog.String("caller", caller), slog.String("name", short(name)), slog.String("key", short(key)),
			slog.String("reply", r.String()), slog.Duration("duration", d))
	}
	return r
}

// answer is the reply to one request.
func (s *Server) answer(ctx context.Context, caller string, m Map, known bool, name, key string, wellFormed bool) Reply {
	if !wellFormed {
		return perm("malformed request: want \"<name> <key>\"")
	}
	if !known {
		return perm("unknown map name " + strconv.Quote(short(name)) + ": want QUERY or QUERYwithTLSRPT")
	}
	switch classify(key) {
	case keyParent, keyNexthop:
		return NotFound
	case keyInvalid:
		return perm("invalid key " + strconv.Quote(short(key)) + ": empty, or white space or control characters")
	}
	if s.cfg.Limiter != nil && !s.cfg.Limiter.Allow(caller) {
		s.cfg.Metrics.Refused(ctx, "rate_limited")
		return temp("4.7.0", "rate limit exceeded: daned refuses further requests from this client for now; retry later")
	}
	if s.cached != nil {
		// A cached verdict is answered from the replies rendered when it
		// was first asked for: no deadline to set up, no result to copy.
		if d, ok := s.cached.Cached(ctx, key, policyOnly); ok {
			return d.Memo(repliesKey, renderReplies).(*replies)[m-MapQuery]
		}
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	res, err := s.cfg.Validator.Validate(rctx, key, policyOnly)
	if err != nil {
		return s.errReply(ctx, rctx, key, err)
	}
	var sts *STS
	if res.Verdict.Action == dane.ActionDeliver && daneLevel(res) == "" {
		if s.cfg.STS == nil {
			sts = STSOf(res)
		} else if sts, err = s.cfg.STS.Policy(rctx, res.Domain); err != nil {
			return s.errReply(ctx, rctx, key, err)
		}
	}
	return PolicyReply(m, res, sts)
}

// policyOnly are the options of every validation the door asks for:
// Postfix makes the TLS connection itself.
var policyOnly = engine.Options{PolicyOnly: true}

// replies are a verdict's replies, one per map, as the door keeps them
// with the verdict in the decision layer (cache.Verdict.Memo).
type replies [2]Reply

// repliesKey is the socketmap door's memo on every verdict.
var repliesKey = cache.NewMemoKey()

// renderReplies makes a verdict's replies. It is what answer does with a
// result when the policy comes from the result itself (Config.STS nil).
func renderReplies(res *engine.Result) any {
	var sts *STS
	if res.Verdict.Action == dane.ActionDeliver && daneLevel(res) == "" {
		sts = STSOf(res)
	}
	return &replies{PolicyReply(MapQuery, res, sts), PolicyReply(MapQueryWithTLSRPT, res, sts)}
}

// STSOf is the MTA-STS policy the validation found for the domain, as a
// reply needs it: nil when MTA-STS was not consulted (DANE decided, or no
// policy source is configured) or no policy applies. A policy the
// decision layer had to take from its cache because a refetch failed is
// still the policy (RFC 8461 §5.1); a policy that could not be had at all
// is none: Postfix then applies its own level, as RFC 8461 §5 says a
// sender without a policy does.
func STSOf(res *engine.Result) *STS {
	r := res.MTASTS
	if r == nil || !r.HasPolicy() {
		return nil
	}
	out := &STS{Domain: r.Domain, Patterns: r.Policy.MX, Policy: strings.Split(strings.TrimSuffix(r.Policy.Format(), "\n"), "\n")}
	switch r.Policy.Mode {
	case mtasts.ModeEnforce:
		out.Mode = STSEnforce
	case mtasts.ModeTesting:
		out.Mode = STSTesting
	default:
		out.Mode = STSNone
	}
	return out
}

// errReply is the reply to a request whose answer failed.
func (s *Server) errReply(ctx, rctx context.Context, key string, err error) Reply {
	switch {
	case errors.Is(err, dnsname.ErrInvalid):
		return perm(err.Error())
	case ctx.Err() != nil:
		// The connection or the server is closing; the reply is unlikely
		// to arrive.
		return temp("4.3.0", "daned is shutting down")
	case errors.Is(rctx.Err(), context.DeadlineExceeded):
		return Reply{Kind: KindTimeout, Data: "no verdict for " + short(key) + " within " + s.cfg.RequestTimeout.String()}
	}
	s.log.LogAttrs(ctx, slog.LevelWarn, "socketmap: validation failed", slog.String("key", short(key)), slog.Any("error", err))
	return temp("4.3.0", "daned could not validate "+short(key)+": internal error")
}

// policyOf is the policy word of an OK reply ("dane-only", "dane",
// "secure"), "" for other replies.
func policyOf(r Reply) string {
	if r.Kind != KindOK {
		return ""
	}
	p, _, _ := strings.Cut(r.Data, " ")
	return p
}

// short bounds a client-supplied string for a message, log or span.
func short(s string) string {
	const limit = 255
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "…"
}
