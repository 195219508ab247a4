package telemetry_test

import (
	"context"
	"testing"

	"github.com/daned/daned/mtasts/manager"
	"github.com/daned/daned/telemetry"
)

// TestSharedPoliciesMetric: the uses of the shared MTA-STS policies are
// scraped by outcome.
func TestSharedPoliciesMetric(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{MetricsListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	if err := tel.Metrics.ObserveSharedPolicies(func() manager.SharedStats {
		return manager.SharedStats{Hits: 5, Misses: 2, Rejected: 1, Errors: 3, Writes: 4}
	}); err != nil {
		t.Fatal(err)
	}
	fams := scrape(t, tel.MetricsAddr)
	for outcome, want := range map[string]float64{"hit": 5, "miss": 2, "rejected": 1, "error": 3, "write": 4} {
		if got, ok := value(fams, "dane_mta_sts_shared_total", map[string]string{"outcome": outcome}); !ok || got != want {
			t.Errorf("dane_mta_sts_shared_total{outcome=%q} = %v (found %v), want %v", outcome, got, ok, want)
		}
	}
	var none *telemetry.Metrics
	if err := none.ObserveSharedPolicies(nil); err != nil {
		t.Fatal(err)
	}
}
