package cache

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Bypass says which cached answers a request must not use. Fresh answers
// still refill the cache.
type Bypass struct {
	DNS    bool // no cached DNS answers
	Probes bool // no cached probe results
}

type bypassKey struct{}

// WithBypass returns a context whose lookups skip the cached answers b
// names.
func WithBypass(ctx context.Context, b Bypass) context.Context {
	return context.WithValue(ctx, bypassKey{}, b)
}

func bypassOf(ctx context.Context) Bypass {
	b, _ := ctx.Value(bypassKey{}).(Bypass)
	return b
}

type probeTTLKey struct{}

// WithProbeTTLCap returns a context under which probe results are cached
// for at most d: the engine passes the TLSA RRset's TTL, so that a probe
// result never outlives the records it was judged against.
func WithProbeTTLCap(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, probeTTLKey{}, d)
}

func probeTTLCap(ctx context.Context) (time.Duration, bool) {
	d, ok := ctx.Value(probeTTLKey{}).(time.Duration)
	return d, ok
}

// Span attributes that show, in a trace, where an answer came from.
var (
	attrHit       = attribute.Bool("dane.cache.hit", true)
	attrCoalesced = attribute.Bool("dane.cache.coalesced", true)
)

// markHit marks the caller's span (a DNS lookup or probe span) as
// answered from the cache.
func markHit(ctx context.Context) { trace.SpanFromContext(ctx).SetAttributes(attrHit) }

// markCoalesced marks the caller's span as having shared a concurrent
// request's work.
func markCoalesced(ctx context.Context) { trace.SpanFromContext(ctx).SetAttributes(attrCoalesced) }
