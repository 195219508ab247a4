package telemetry_test

import (
	"context"
	"testing"
	"time"

	"github.com/daned/daned/telemetry"
)

func TestWebMetrics(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{MetricsListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	m, err := telemetry.NewWebMetrics(tel.MeterProvider)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m.Request(ctx, "/check", 200, 5*time.Millisecond)
	m.Request(ctx, "/check", 200, 7*time.Millisecond)
	m.Request(ctx, "/v1/validate", 429, time.Millisecond)
	m.Check(ctx, "DEFER", true, false)
	m.Check(ctx, "DEFER", true, false)
	m.Check(ctx, "DELIVER", false, true)
	m.Refused(ctx, "rate_limited")

	fams := scrape(t, tel.MetricsAddr)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"dane_web_requests_total", map[string]string{"route": "/check", "status": "200"}, 2},
		{"dane_web_requests_total", map[string]string{"route": "/v1/validate", "status": "429"}, 1},
		{"dane_web_request_duration_seconds", map[string]string{"route": "/check"}, 2},
		{"dane_web_checks_total", map[string]string{"action": "DEFER", "from_cache": "true", "recheck": "false"}, 2},
		{"dane_web_checks_total", map[string]string{"action": "DELIVER", "from_cache": "false", "recheck": "true"}, 1},
		{"dane_web_refused_total", map[string]string{"reason": "rate_limited"}, 1},
	} {
		if got, ok := value(fams, c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
}

func TestNilWebMetricsRecordNothing(t *testing.T) {
	var m *telemetry.WebMetrics
	m.Request(context.Background(), "/check", 200, time.Second)
	m.Check(context.Background(), "DELIVER", false, false)
	m.Refused(context.Background(), "deadline")
}
