package web

import (
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/daned/daned/telemetry"
)

// TestSpans checks that every request is a span with its route and
// status, and that a check's span carries the verdict.
func TestSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	up := newResults(t, delivered("example.com"))
	base := serve(t, newHandler(t, up, Config{TracerProvider: tp})).URL
	checkPage(t, base, "example.com")
	r := get(t, base+"/v1/validate?domain=example.com")
	get(t, base+"/nowhere")

	spans := rec.Ended()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3", len(spans))
	}
	want := []struct {
		route  string
		status int64
		action string
	}{{"/check", 200, "DELIVER"}, {"/v1/validate", 200, "DELIVER"}, {"other", 404, ""}}
	for i, s := range spans {
		attrs := map[attribute.Key]attribute.Value{}
		for _, a := range s.Attributes() {
			attrs[a.Key] = a.Value
		}
		if s.Name() != "web.request" || attrs[attrRoute].AsString() != want[i].route || attrs[attrStatus].AsInt64() != want[i].status {
			t.Errorf("span %d: %s route %q status %d, want web.request %q %d", i, s.Name(), attrs[attrRoute].AsString(), attrs[attrStatus].AsInt64(), want[i].route, want[i].status)
		}
		if got := attrs[attrAction].AsString(); got != want[i].action {
			t.Errorf("span %d: action %q, want %q", i, got, want[i].action)
		}
	}
	// The JSON answer carries the request's trace, as the gRPC door's
	// does.
	if id := spans[1].SpanContext().TraceID().String(); r.status != http.StatusOK || !strings.Contains(r.body, `"traceId":"`+id+`"`) {
		t.Errorf("the JSON answer does not carry trace id %s: %s", id, r.body)
	}
}

// TestMetrics checks what the page counts, through daned's own
// instruments: requests by route and status, verdicts shown, refusals.
func TestMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(t.Context()) })
	wm, err := telemetry.NewWebMetrics(mp)
	if err != nil {
		t.Fatal(err)
	}
	up := newResults(t, delivered("example.com"))
	base := serve(t, newHandler(t, up, Config{Metrics: wm, Limiter: buckets(t, 0.001, 2), MaxBody: 16})).URL
	checkPage(t, base, "example.com")                                                                              // validated: 200
	get(t, base+"/v1/validate?domain=example.com")                                                                 // from the cache: 200
	checkPage(t, base, "example.com")                                                                              // 429
	do(t, http.MethodPost, base+"/v1/validate", "application/json", strings.NewReader(`{"domain":"example.com"}`)) // 413

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	sums := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, dp := range s.DataPoints {
					var kv []string
					for _, a := range dp.Attributes.ToSlice() {
						kv = append(kv, string(a.Key)+"="+a.Value.String())
					}
					sums[m.Name+"{"+strings.Join(kv, ",")+"}"] += dp.Value
				}
			}
		}
	}
	for k, want := range map[string]int64{
		"dane.web.requests{route=/check,status=200}":                     1,
		"dane.web.requests{route=/check,status=429}":                     1,
		"dane.web.requests{route=/v1/validate,status=200}":               1,
		"dane.web.requests{route=/v1/validate,status=413}":               1,
		"dane.web.checks{action=DELIVER,from_cache=false,recheck=false}": 1,
		"dane.web.checks{action=DELIVER,from_cache=true,recheck=false}":  1,
		"dane.web.refused{reason=rate_limited}":                          1,
		"dane.web.refused{reason=too_large}":                             1,
	} {
		if sums[k] != want {
			t.Errorf("%s = %d, want %d (have %v)", k, sums[k], want, sums)
		}
	}
}
