package cache

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

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
