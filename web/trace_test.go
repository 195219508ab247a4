package web

import (
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
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
