// Command loadclient drives a running daned with unary calls over a few
// persistent connections and reports the rate and latency percentiles.
// It is leaner than ghz (typed messages, conn.Invoke in a loop), so on a
// small machine it shows the server's ceiling rather than the client's.
// Every run is bounded by -n calls and by -max-time.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	danev1 "github.com/daned/daned/proto/dane/v1"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8053", "daned address")
	call := flag.String("call", "validate", "validate (dane.v1.DaneService/Validate) or health (grpc.health.v1.Health/Check)")
	domain := flag.String("domain", "ee-spki.test", "domain of the Validate calls")
	n := flag.Int("n", 100000, "total calls")
	c := flag.Int("c", 50, "concurrent callers")
	conns := flag.Int("connections", 4, "connections shared round-robin by the callers")
	maxTime := flag.Duration("max-time", time.Minute, "stop after this long even if -n is not reached")
	flag.Parse()
	if err := run(*addr, *call, *domain, *n, *c, *conns, *maxTime); err != nil {
		log.Fatal(err)
	}
}

func run(addr, call, domain string, n, c, nconns int, maxTime time.Duration) error {
	if n < 1 || c < 1 || nconns < 1 {
		return fmt.Errorf("-n, -c and -connections must be at least 1")
	}
	var invoke func(ctx context.Context, cc *grpc.ClientConn) error
	switch call {
	case "validate":
		req := &danev1.ValidateRequest{Domain: domain}
		invoke = func(ctx context.Context, cc *grpc.ClientConn) error {
			var out danev1.ValidateResponse
			return cc.Invoke(ctx, danev1.DaneService_Validate_FullMethodName, req, &out)
		}
	case "health":
		req := &healthpb.HealthCheckRequest{}
		invoke = func(ctx context.Context, cc *grpc.ClientConn) error {
			var out healthpb.HealthCheckResponse
			return cc.Invoke(ctx, healthpb.Health_Check_FullMethodName, req, &out)
		}
	default:
		return fmt.Errorf("-call %q: want validate or health", call)
	}
	var ccs []*grpc.ClientConn
	for range nconns {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer cc.Close()
		ccs = append(ccs, cc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), maxTime)
	defer cancel()
	// Warm every connection (and daned's cache) before the clock starts.
	for _, cc := range ccs {
		if err := invoke(ctx, cc); err != nil {
			return fmt.Errorf("warm-up call: %w", err)
		}
	}
	var left atomic.Int64
	left.Store(int64(n))
	var errs atomic.Int64
	lat := make([][]time.Duration, c)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range c {
		cc := ccs[w%len(ccs)]
		lat[w] = make([]time.Duration, 0, n/c+1)
		wg.Go(func() {
			for left.Add(-1) >= 0 && ctx.Err() == nil {
				t := time.Now()
				if err := invoke(ctx, cc); err != nil {
					errs.Add(1)
					continue
				}
				lat[w] = append(lat[w], time.Since(t))
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	if len(all) == 0 {
		return fmt.Errorf("no call succeeded (%d errors)", errs.Load())
	}
	pct := func(p float64) time.Duration { return all[min(len(all)-1, int(float64(len(all))*p))] }
	fmt.Printf("call=%s calls=%d errors=%d c=%d connections=%d wall=%v rate=%.0f/s p50=%v p90=%v p99=%v\n",
		call, len(all), errs.Load(), c, nconns, wall.Round(time.Millisecond), float64(len(all))/wall.Seconds(),
		pct(0.50).Round(time.Microsecond), pct(0.90).Round(time.Microsecond), pct(0.99).Round(time.Microsecond))
	return nil
}
