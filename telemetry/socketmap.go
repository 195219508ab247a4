package telemetry

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// SocketmapMetrics are the instruments of the Postfix socketmap door
// (package socketmap, whose Metrics interface it implements):
// dane_socketmap_requests_total{name,reply,policy},
// dane_socketmap_request_duration_seconds{name,reply},
// dane_socketmap_connections and dane_socketmap_refused_total{reason}. A
// nil *SocketmapMetrics records nothing.
type SocketmapMetrics struct {
	duration metric.Float64Histogram
	conns    metric.Int64UpDownCounter
	refused  metric.Int64Counter
	// kinds holds a counter per kind of request (socketmapKey →
	// *socketmapKind), read by the requests counter's callback at each
	// collection: counting a request is one atomic add, which matters at
	// the socketmap's rates (tens of thousands of requests a second).
	kinds   sync.Map
	reasons sync.Map // reason → metric.MeasurementOption
}

// NewSocketmapMetrics creates the socketmap instruments on mp, with the
// meter daned's other instruments use.
func NewSocketmapMetrics(mp metric.MeterProvider) (*SocketmapMetrics, error) {
	meter := mp.Meter("github.com/daned/daned")
	m := &SocketmapMetrics{}
	var errs [5]error
	var requests metric.Int64ObservableCounter
	requests, errs[0] = meter.Int64ObservableCounter("dane.socketmap.requests",
		metric.WithDescription("Socketmap requests answered, by map name, reply word and the policy of an OK reply."), metric.WithUnit("{request}"))
	m.duration, errs[1] = meter.Float64Histogram("dane.socketmap.request.duration",
		metric.WithDescription("Time to answer a socketmap request."), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
	m.conns, errs[2] = meter.Int64UpDownCounter("dane.socketmap.connections",
		metric.WithDescription("Open socketmap connections."), metric.WithUnit("{connection}"))
	m.refused, errs[3] = meter.Int64Counter("dane.socketmap.refused",
		metric.WithDescription("Socketmap connections and requests turned away: max_connections, rate_limited, oversize, malformed, read_timeout."), metric.WithUnit("{refusal}"))
	if errs[0] == nil {
		_, errs[4] = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			m.kinds.Range(func(_, v any) bool {
				k := v.(*socketmapKind)
				o.ObserveInt64(requests, k.n.Load(), k.count)
				return true
			})
			return nil
		}, requests)
	}
	return m, errors.Join(errs[:]...)
}

type socketmapKey struct{ name, reply, policy string }

// socketmapKind is one kind of request: its count and attribute sets,
// made once (bounded: 3 names × 5 replies × 4 policies).
type socketmapKind struct {
	n        atomic.Int64
	count    metric.ObserveOption
	duration metric.RecordOption
}

func (m *SocketmapMetrics) kind(k socketmapKey) *socketmapKind {
	if v, ok := m.kinds.Load(k); ok {
		return v.(*socketmapKind)
	}
	v, _ := m.kinds.LoadOrStore(k, &socketmapKind{
		count: metric.WithAttributeSet(attribute.NewSet(attribute.String("name", k.name), attribute.String("reply", k.reply),
			attribute.String("policy", k.policy))),
		duration: metric.WithAttributeSet(attribute.NewSet(attribute.String("name", k.name), attribute.String("reply", k.reply))),
	})
	return v.(*socketmapKind)
}

// Request records one answered request.
func (m *SocketmapMetrics) Request(ctx context.Context, name, reply, policy string, d time.Duration) {
	if m == nil {
		return
	}
	k := m.kind(socketmapKey{name, reply, policy})
	k.n.Add(1)
	m.duration.Record(ctx, d.Seconds(), k.duration)
}

// Connections moves the open-connections gauge by delta.
func (m *SocketmapMetrics) Connections(ctx context.Context, delta int64) {
	if m == nil {
		return
	}
	m.conns.Add(ctx, delta)
}

// Refused counts a connection or request turned away.
func (m *SocketmapMetrics) Refused(ctx context.Context, reason string) {
	if m == nil {
		return
	}
	v, ok := m.reasons.Load(reason)
	if !ok {
		v, _ = m.reasons.LoadOrStore(reason, metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reason))))
	}
	m.refused.Add(ctx, 1, v.(metric.MeasurementOption))
}
