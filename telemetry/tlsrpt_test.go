package telemetry_test

import (
	"context"
	"testing"

	"github.com/daned/daned/telemetry"
	"github.com/daned/daned/tlsrpt"
)

func TestTLSRPTMetrics(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{MetricsListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	m, err := telemetry.NewTLSRPTMetrics(tel.MeterProvider)
	if err != nil {
		t.Fatal(err)
	}
	m.Session(tlsrpt.PolicyTLSA, "success")
	m.Session(tlsrpt.PolicyTLSA, "tlsa-invalid")
	m.Session(tlsrpt.PolicyTLSA, "tlsa-invalid")
	m.Refused("late")
	m.Report("sent")
	m.Datagram("accepted")
	m.Dropped(5)
	fams := scrape(t, tel.MetricsAddr)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"dane_tlsrpt_sessions_total", map[string]string{"policy_type": "tlsa", "result": "tlsa-invalid"}, 2},
		{"dane_tlsrpt_sessions_total", map[string]string{"policy_type": "tlsa", "result": "success"}, 1},
		{"dane_tlsrpt_refused_total", map[string]string{"reason": "late"}, 1},
		{"dane_tlsrpt_reports_total", map[string]string{"outcome": "sent"}, 1},
		{"dane_tlsrpt_datagrams_total", map[string]string{"outcome": "accepted"}, 1},
		{"dane_tlsrpt_datagrams_total", map[string]string{"outcome": "dropped"}, 5},
	} {
		if got, ok := value(fams, c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	var nilm *telemetry.TLSRPTMetrics
	nilm.Session(tlsrpt.PolicySTS, "success")
	nilm.Dropped(1)
}
