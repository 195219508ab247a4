package telemetry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/daned/daned/cache"
	"github.com/daned/daned/mtasts"
	"github.com/daned/daned/mtasts/fetch"
	"github.com/daned/daned/probe"
	"github.com/daned/daned/resolver"
	"github.com/daned/daned/shared"
	"github.com/daned/daned/telemetry"
)

func TestExporterChoice(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		exporting bool
		wantErr   bool
	}{
		{name: "nothing configured: no export", exporting: false},
		{name: "none", env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}, exporting: false},
		{name: "an OTLP endpoint alone turns OTLP on", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, exporting: true},
		{name: "console", env: map[string]string{"OTEL_TRACES_EXPORTER": "console"}, exporting: true},
		{name: "unknown exporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "carrier-pigeon"}, wantErr: true},
		{name: "unknown protocol", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "smoke"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
				t.Setenv(k, tt.env[k])
			}
			tel, err := telemetry.Setup(context.Background(), telemetry.Config{})
			if tt.wantErr {
				if err == nil {
					t.Fatal("a bad configuration was accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer tel.Shutdown(context.Background())
			if tel.Exporting != tt.exporting {
				t.Fatalf("exporting = %v, want %v", tel.Exporting, tt.exporting)
			}
		})
	}
}

type fakeLookup struct{ err error }

func (f fakeLookup) Lookup(_ context.Context, name string, qtype uint16) (*resolver.Answer, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &resolver.Answer{Name: dns.Fqdn(name), Type: qtype, Security: resolver.Secure, TTL: 60}, nil
}

type fakeProbe struct{ err error }

func (f fakeProbe) Probe(context.Context, netip.Addr, string) *probe.Result {
	return &probe.Result{Err: f.err}
}

// scrape fetches /metrics and parses it with the Prometheus text parser.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams
}

// value returns the value of the series of family name whose labels
// include want.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			if labels[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func TestMetricsEndpoint(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{MetricsListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	ctx := context.Background()
	m := tel.Metrics

	m.Validation(ctx, "DELIVER", "OK", false, 3*time.Millisecond)
	m.Validation(ctx, "DELIVER", "OK", true, 100*time.Microsecond)
	m.Validation(ctx, "DEFER", "TLSA_NO_MATCH", false, time.Second)
	m.InFlight(ctx, 2)
	ok := telemetry.CountingResolver{Upstream: fakeLookup{}, Metrics: m}
	bad := telemetry.CountingResolver{Upstream: fakeLookup{err: &resolver.QueryError{Kind: resolver.ErrBogus, Rcode: dns.RcodeServerFailure}}, Metrics: m}
	_, _ = ok.Lookup(ctx, "example.com", dns.TypeMX)
	_, _ = ok.Lookup(ctx, "example.com", dns.TypeMX)
	_, _ = bad.Lookup(ctx, "bogus.example", dns.TypeTLSA)
	telemetry.CountingProber{Upstream: fakeProbe{}, Metrics: m}.Probe(ctx, netip.MustParseAddr("192.0.2.1"), "mx")
	telemetry.CountingProber{Upstream: fakeProbe{err: fmt.Errorf("%w", probe.ErrNoSTARTTLS)}, Metrics: m}.Probe(ctx, netip.MustParseAddr("192.0.2.1"), "mx")
	lru, _ := cache.NewLRU[string, int](10, nil)
	lru.Add("a", 1, time.Minute)
	lru.Get("a")
	lru.Get("b")
	if err := m.ObserveCaches(telemetry.CacheSource{Name: "verdict", Stats: lru.Stats, Coalesced: func() uint64 { return 7 }}); err != nil {
		t.Fatal(err)
	}
	if err := m.ObserveRefusals(func() (uint64, uint64, int) { return 5, 2, 3 }); err != nil {
		t.Fatal(err)
	}
	_, _ = telemetry.Fetcher{Next: fakeFetch{}, Metrics: m}.Fetch(ctx, "example.com")
	_, _ = telemetry.Fetcher{Next: fakeFetch{err: &fetch.Error{Reason: mtasts.ReasonWebPKIInvalid}}, Metrics: m}.Fetch(ctx, "example.com")
	if err := m.ObservePolicies(func() map[mtasts.Mode]int { return map[mtasts.Mode]int{mtasts.ModeEnforce: 4, mtasts.ModeTesting: 1} }); err != nil {
		t.Fatal(err)
	}
	if err := m.ObserveShared(func() shared.Stats {
		return shared.Stats{Up: true, Hits: 9, Misses: 4, Errors: map[string]uint64{"get": 2}, Rejected: map[string]uint64{"forged": 1},
			LeasesAcquired: 3, LeasesWaited: 6, LeasesTakenOver: 1, InvalidationsReceived: 2}
	}); err != nil {
		t.Fatal(err)
	}

	fams := scrape(t, tel.MetricsAddr)
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"dane_validations_total", map[string]string{"action": "DELIVER", "reason": "OK", "from_cache": "false"}, 1},
		{"dane_validations_total", map[string]string{"action": "DELIVER", "from_cache": "true"}, 1},
		{"dane_validations_total", map[string]string{"action": "DEFER", "reason": "TLSA_NO_MATCH"}, 1},
		{"dane_validation_duration_seconds", map[string]string{"action": "DEFER"}, 1},
		{"dane_validations_inflight", nil, 2},
		{"dane_dns_queries_total", map[string]string{"type": "MX", "rcode": "NOERROR", "security": "secure"}, 2},
		{"dane_dns_queries_total", map[string]string{"type": "TLSA", "rcode": "SERVFAIL", "security": "bogus"}, 1},
		{"dane_probes_total", map[string]string{"outcome": "tls"}, 1},
		{"dane_probes_total", map[string]string{"outcome": "no_starttls"}, 1},
		{"dane_cache_hits_total", map[string]string{"cache": "verdict"}, 1},
		{"dane_cache_misses_total", map[string]string{"cache": "verdict"}, 1},
		{"dane_cache_size", map[string]string{"cache": "verdict"}, 1},
		{"dane_coalesced_total", map[string]string{"cache": "verdict"}, 7},
		{"dane_refused_total", map[string]string{"reason": "rate_limited"}, 5},
		{"dane_refused_total", map[string]string{"reason": "not_allowed"}, 2},
		{"dane_rate_limit_callers", nil, 3},
		{"dane_mta_sts_fetches_total", map[string]string{"outcome": "ok"}, 1},
		{"dane_mta_sts_fetches_total", map[string]string{"outcome": "sts-webpki-invalid"}, 1},
		{"dane_mta_sts_policies", map[string]string{"mode": "enforce"}, 4},
		{"dane_mta_sts_policies", map[string]string{"mode": "testing"}, 1},
		{"dane_mta_sts_policies", map[string]string{"mode": "none"}, 0},
		{"dane_shared_up", nil, 1},
		{"dane_shared_subscribed", nil, 0},
		{"dane_shared_lookups_total", map[string]string{"result": "hit"}, 9},
		{"dane_shared_lookups_total", map[string]string{"result": "miss"}, 4},
		{"dane_shared_errors_total", map[string]string{"op": "get"}, 2},
		{"dane_shared_rejected_total", map[string]string{"reason": "forged"}, 1},
		{"dane_shared_leases_total", map[string]string{"outcome": "waited"}, 6},
		{"dane_shared_leases_total", map[string]string{"outcome": "taken_over"}, 1},
		{"dane_shared_invalidations_total", map[string]string{"direction": "received"}, 2},
	}
	for _, c := range checks {
		got, ok := value(fams, c.name, c.labels)
		if !ok || got != c.want {
			var have []string
			for n := range fams {
				if strings.HasPrefix(n, "dane") {
					have = append(have, n)
				}
			}
			t.Errorf("%s%v = %v (found %v), want %v; families: %v", c.name, c.labels, got, ok, c.want, have)
		}
	}
	if _, ok := fams["process_resident_memory_bytes"]; !ok {
		t.Error("no process metrics")
	}
}

type fakeFetch struct{ err error }

func (f fakeFetch) Fetch(context.Context, string) (fetch.Result, error) { return fetch.Result{}, f.err }

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *telemetry.Metrics
	m.Validation(context.Background(), "DELIVER", "OK", false, time.Second)
	m.InFlight(context.Background(), 1)
	if err := m.ObserveCaches(); err != nil {
		t.Fatal(err)
	}
	if _, err := (telemetry.CountingResolver{Upstream: fakeLookup{err: errors.New("x")}}).Lookup(context.Background(), "a.example", dns.TypeA); err == nil {
		t.Fatal("error lost")
	}
}
