package telemetry_test

import (
	"context"
	"testing"
	"time"

	"github.com/daned/daned/telemetry"
)

func TestSocketmapMetrics(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{MetricsListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	m, err := telemetry.NewSocketmapMetrics(tel.MeterProvider)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m.Request(ctx, "QUERY", "OK", "dane-only", 50*time.Microsecond)
	m.Request(ctx, "QUERY", "OK", "dane-only", 70*time.Microsecond)
	m.Request(ctx, "QUERYwithTLSRPT", "TEMP", "", 2*time.Second)
	m.Connections(ctx, 3)
	m.Connections(ctx, -1)
	m.Refused(ctx, "read_timeout")
	m.Refused(ctx, "read_timeout")
	m.Refused(ctx, "max_connections")

	fams := scrape(t, tel.MetricsAddr)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"dane_socketmap_requests_total", map[string]string{"name": "QUERY", "reply": "OK", "policy": "dane-only"}, 2},
		{"dane_socketmap_requests_total", map[string]string{"name": "QUERYwithTLSRPT", "reply": "TEMP", "policy": ""}, 1},
		{"dane_socketmap_request_duration_seconds", map[string]string{"name": "QUERY", "reply": "OK"}, 2},
		{"dane_socketmap_connections", nil, 2},
		{"dane_socketmap_refused_total", map[string]string{"reason": "read_timeout"}, 2},
		{"dane_socketmap_refused_total", map[string]string{"reason": "max_connections"}, 1},
	} {
		if got, ok := value(fams, c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
}

func TestNilSocketmapMetricsRecordNothing(t *testing.T) {
	var m *telemetry.SocketmapMetrics
	m.Request(context.Background(), "QUERY", "OK", "dane", time.Second)
	m.Connections(context.Background(), 1)
	m.Refused(context.Background(), "oversize")
}
