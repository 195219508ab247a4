package server_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/daned/daned/internal/testworld"
	danev1 "github.com/daned/daned/proto/dane/v1"
)

// BenchmarkColdSTS measures cold verdicts of the MTA-STS world over gRPC:
// before each validation Invalidate drops everything daned holds about
// the domain (verdict, DNS answers, probe results, the MTA-STS policy), so
// each one makes every DNS lookup (MX, A/AAAA, TLSA where DANE is asked,
// the _mta-sts TXT record and the policy host's addresses), the HTTPS
// policy fetch, the STARTTLS probe and the WebPKI or DANE check afresh.
// Unbound's cache stays warm: the figure is daned's own work on loopback.
// It reports the p50 and p99 latency in milliseconds.
//
//	go test -run '^$' -bench ColdSTS -benchtime 300x ./server/
func BenchmarkColdSTS(b *testing.B) {
	w := testworld.StartT(b, testworld.Options{Scenarios: testworld.STSScenarios()})
	u := testworld.StartUnboundT(b, w)
	ec := stsConfig(w, u.Addr(), b.TempDir())
	ec.Now = nil // the real clock: the policy's expiry is checked against it
	for _, domain := range []string{
		"sts-enforce.test",   // unsigned: MTA-STS enforce, WebPKI check of the MX host
		"sts-signed.test",    // signed, TLSA denied by DNSSEC: MTA-STS enforce
		"sts-dane-wins.test", // signed with TLSA: DANE only, no policy fetched
	} {
		b.Run(domain, func(b *testing.B) {
			d := startSTSDaned(b, w, ec)
			ctx := context.Background()
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				b.StopTimer()
				if _, err := d.client.Invalidate(ctx, &danev1.InvalidateRequest{Domain: domain}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				r, err := d.client.Validate(ctx, &danev1.ValidateRequest{Domain: domain})
				lat = append(lat, time.Since(start))
				if err != nil || r.GetAction() != danev1.Action_ACTION_DELIVER || r.GetFromCache() {
					b.Fatalf("Validate(%s): %v %v %s", domain, err, r.GetAction(), r.GetStatusText())
				}
				if domain != "sts-dane-wins.test" && r.GetMtaSts().GetFromCache() {
					b.Fatal("the policy came from the cache")
				}
			}
			slices.Sort(lat)
			pct := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
		})
	}
}
