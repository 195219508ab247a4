package telemetry

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// WebMetrics are the instruments of the diagnostics page (package web,
// whose Metrics interface it implements): dane_web_requests_total{route,
// status}, dane_web_request_duration_seconds{route},
// dane_web_checks_total{action,from_cache,recheck} and
// dane_web_refused_total{reason}. A nil *WebMetrics records nothing.
type WebMetrics struct {
	requests metric.Int64Counter
	duration metric.Float64Histogram
	checks   metric.Int64Counter
	refused  metric.Int64Counter
	sets     sync.Map // attribute key → metric.MeasurementOption, made once
}

// NewWebMetrics creates the page's instruments on mp, with the meter
// daned's other instruments use.
func NewWebMetrics(mp metric.MeterProvider) (*WebMetrics, error) {
	meter := mp.Meter("github.com/daned/daned")
	m := &WebMetrics{}
	var errs [4]error
	m.requests, errs[0] = meter.Int64Counter("dane.web.requests",
		metric.WithDescription("Requests the diagnostics page answered, by route and HTTP status."), metric.WithUnit("{request}"))
	m.duration, errs[1] = meter.Float64Histogram("dane.web.request.duration",
		metric.WithDescription("Time to answer a request of the diagnostics page."), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
	m.checks, errs[2] = meter.Int64Counter("dane.web.checks",
		metric.WithDescription("Verdicts the diagnostics page and its JSON API showed, by action, whether the cache answered, and whether it was a re-check."), metric.WithUnit("{check}"))
	m.refused, errs[3] = meter.Int64Counter("dane.web.refused",
		metric.WithDescription("Checks the diagnostics page turned away: rate_limited, recheck_limited, deadline, too_large, cross_site."), metric.WithUnit("{refusal}"))
	return m, errors.Join(errs[:]...)
}

// set returns the measurement option of an attribute set, made once per
// key (the sets are few: routes, statuses, actions and reasons are).
func (m *WebMetrics) set(key string, kv ...attribute.KeyValue) metric.MeasurementOption {
	if v, ok := m.sets.Load(key); ok {
		return v.(metric.MeasurementOption)
	}
	v, _ := m.sets.LoadOrStore(key, metric.WithAttributeSet(attribute.NewSet(kv...)))
	return v.(metric.MeasurementOption)
}

// Request records one answered request.
func (m *WebMetrics) Request(ctx context.Context, route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	code := strconv.Itoa(status)
	m.requests.Add(ctx, 1, m.set("r\x00"+route+"\x00"+code, attribute.String("route", route), attribute.String("status", code)))
	m.duration.Record(ctx, d.Seconds(), m.set("d\x00"+route, attribute.String("route", route)))
}

// Check records one verdict shown.
func (m *WebMetrics) Check(ctx context.Context, action string, fromCache, recheck bool) {
	if m == nil {
		return
	}
	key := "c\x00" + action + "\x00" + strconv.FormatBool(fromCache) + strconv.FormatBool(recheck)
	m.checks.Add(ctx, 1, m.set(key, attribute.String("action", action), attribute.Bool("from_cache", fromCache), attribute.Bool("recheck", recheck)))
}

// Refused counts a check turned away.
func (m *WebMetrics) Refused(ctx context.Context, reason string) {
	if m == nil {
		return
	}
	m.refused.Add(ctx, 1, m.set("x\x00"+reason, attribute.String("reason", reason)))
}
