package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	danev1 "github.com/daned/daned/proto/dane/v1"
)

// BenchmarkFloodFromOneCaller measures what a flood from one caller
// (127.0.0.1: 64 goroutines on 8 connections, Validate in a loop, the
// verdict cached, or bypass_cache so that each is a validation) does to
// another caller (127.0.0.2: a cached Validate every 5 ms), with no
// flood, with a flood and no rate limit, and with a flood and
// --rate-limit 1000 --rate-burst 1000. The resolver refuses at once
// (quickResolver), so a validation is a DNS round trip, no probe. ns/op is the pacing; mean-µs,
// p50-µs and p99-µs are the other caller's latencies, flood-ok/s and
// flood-refused/s what the flooder got.
//
//	go test -run '^$' -bench FloodFromOneCaller -benchtime 1000x ./cmd/daned
func BenchmarkFloodFromOneCaller(b *testing.B) {
	for _, bc := range []struct {
		name   string
		flood  bool
		bypass bool // the flood skips the caches: a validation each
		args   []string
	}{
		{name: "no-flood"},
		{name: "cached-flood-no-limit", flood: true},
		{name: "cached-flood-limit-1000/s", flood: true, args: []string{"--rate-limit", "1000", "--rate-burst", "1000"}},
		{name: "uncached-flood-no-limit", flood: true, bypass: true},
		{name: "uncached-flood-limit-1000/s", flood: true, bypass: true, args: []string{"--rate-limit", "1000", "--rate-burst", "1000"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			d := startDaned(b, append([]string{"--listen", "127.0.0.1:0"}, bc.args...)...)
			req := &danev1.ValidateRequest{Domain: "example.com", PolicyOnly: true}
			victim := danev1.NewDaneServiceClient(d.dial(b, insecure.NewCredentials(), fromSource("127.0.0.2")))
			if _, err := victim.Validate(context.Background(), req); err != nil { // fills the cache
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			var ok, refused atomic.Int64
			freq := &danev1.ValidateRequest{Domain: "example.com", PolicyOnly: true, BypassCache: bc.bypass}
			if bc.flood {
				for c := range 8 {
					conn := d.dial(b, insecure.NewCredentials(), fromSource("127.0.0.1"), grpc.WithUserAgent(fmt.Sprint("flooder-", c)))
					api := danev1.NewDaneServiceClient(conn)
					for range 8 {
						wg.Go(func() {
							for ctx.Err() == nil {
								_, err := api.Validate(ctx, freq)
								switch status.Code(err) {
								case codes.OK:
									ok.Add(1)
								case codes.ResourceExhausted:
									refused.Add(1)
								}
							}
						})
					}
				}
				time.Sleep(200 * time.Millisecond) // let the flood build up
			}
			lat := make([]time.Duration, 0, b.N)
			start := time.Now()
			ok0, ref0 := ok.Load(), refused.Load()
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			var sum time.Duration
			b.ResetTimer()
			for range b.N {
				<-tick.C
				t0 := time.Now()
				if _, err := victim.Validate(context.Background(), req); err != nil {
					b.Fatalf("the other caller: %v", err)
				}
				lat = append(lat, time.Since(t0))
				sum += lat[len(lat)-1]
			}
			b.StopTimer()
			el := time.Since(start).Seconds()
			cancel()
			wg.Wait()
			slices.Sort(lat)
			b.ReportMetric(float64(sum.Microseconds())/float64(len(lat)), "mean-µs")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(ok.Load()-ok0)/el, "flood-ok/s")
			b.ReportMetric(float64(refused.Load()-ref0)/el, "flood-refused/s")
		})
	}
}
