// Command loadclient drives a running daned with unary calls over a few
// persistent connections and reports the rate and latency percentiles.
// It is leaner than ghz (typed messages, conn.Invoke in a loop), so on a
// small machine it shows the server's ceiling rather than the client's.
// With -raw it does not even decode the responses (it keeps their bytes,
// as a fleet's busiest caller forwarding verdicts would), so that client
// and server sharing one machine measures the server. Every run is
// bounded by -n calls and by -max-time.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"

	"github.com/daned/daned/internal/rawcodec"
	danev1 "github.com/daned/daned/proto/dane/v1"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8053", "daned address")
	call := flag.String("call", "validate", "validate (dane.v1.DaneService/Validate) or health (grpc.health.v1.Health/Check)")
	domain := flag.String("domain", "ee-spki.test", "domain of the Validate calls; several, comma-separated, are asked in turn by each caller (with a verdict cache of one entry, every call is a local miss)")
	n := flag.Int("n", 100000, "total calls")
	c := flag.Int("c", 50, "concurrent callers")
	conns := flag.Int("connections", 4, "connections shared round-robin by the callers")
	maxTime := flag.Duration("max-time", time.Minute, "stop after this long even if -n is not reached")
	raw := flag.Bool("raw", false, "keep each response's bytes without decoding them")
	pid := flag.Int("server-pid", 0, "also report the CPU time the server process (this pid) and this client spent per call: a measure that other load on the machine does not skew")
	flag.Parse()
	if err := run(*addr, *call, *domain, *n, *c, *conns, *maxTime, *raw, *pid); err != nil {
		log.Fatal(err)
	}
}

func run(addr, call, domain string, n, c, nconns int, maxTime time.Duration, raw bool, pid int) error {
	if n < 1 || c < 1 || nconns < 1 {
		return fmt.Errorf("-n, -c and -connections must be at least 1")
	}
	var invoke func(ctx context.Context, cc *grpc.ClientConn, i int) error
	var method string
	var reqs []proto.Message
	var out func() any
	switch call {
	case "validate":
		method = danev1.DaneService_Validate_FullMethodName
		for d := range strings.SplitSeq(domain, ",") {
			reqs = append(reqs, &danev1.ValidateRequest{Domain: d})
		}
		out = func() any { return new(danev1.ValidateResponse) }
	case "health":
		method, reqs = healthpb.Health_Check_FullMethodName, []proto.Message{&healthpb.HealthCheckRequest{}}
		out = func() any { return new(healthpb.HealthCheckResponse) }
	default:
		return fmt.Errorf("-call %q: want validate or health", call)
	}
	var received atomic.Int64
	invoke = func(ctx context.Context, cc *grpc.ClientConn, i int) error {
		req := reqs[i%len(reqs)]
		if raw {
			var b rawcodec.Bytes
			err := cc.Invoke(ctx, method, req, &b)
			received.Add(int64(len(b)))
			return err
		}
		return cc.Invoke(ctx, method, req, out())
	}
	dial := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if raw {
		dial = append(dial, grpc.WithDefaultCallOptions(grpc.ForceCodecV2(rawcodec.Codec{})))
	}
	var ccs []*grpc.ClientConn
	for range nconns {
		cc, err := grpc.NewClient(addr, dial...)
		if err != nil {
			return err
		}
		defer cc.Close()
		ccs = append(ccs, cc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), maxTime)
	defer cancel()
	end, _ := ctx.Deadline()
	// Warm every connection (and daned's cache) before the clock starts.
	for _, cc := range ccs {
		for i := range reqs {
			if err := invoke(ctx, cc, i); err != nil {
				return fmt.Errorf("warm-up call: %w", err)
			}
		}
	}
	var left atomic.Int64
	left.Store(int64(n))
	var errs atomic.Int64
	var firstErr atomic.Value // error text
	lat := make([][]time.Duration, c)
	var wg sync.WaitGroup
	serverCPU0, clientCPU0 := procCPU(pid), selfCPU()
	start := time.Now()
	for w := range c {
		cc := ccs[w%len(ccs)]
		lat[w] = make([]time.Duration, 0, n/c+1)
		wg.Go(func() {
			for i := w; left.Add(-1) >= 0 && ctx.Err() == nil && time.Now().Before(end); i++ {
				t := time.Now()
				if err := invoke(ctx, cc, i); err != nil {
					// Not a call cut off by -max-time: gRPC fails a call
					// whose deadline has passed before the context's own
					// timer has fired, which on a busy machine is a while
					// of fast failures.
					if ctx.Err() == nil && time.Now().Before(end) {
						errs.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
					}
					continue
				}
				lat[w] = append(lat[w], time.Since(t))
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	serverCPU, clientCPU := procCPU(pid)-serverCPU0, selfCPU()-clientCPU0
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	if len(all) == 0 {
		return fmt.Errorf("no call succeeded (%d errors)", errs.Load())
	}
	pct := func(p float64) time.Duration { return all[min(len(all)-1, int(float64(len(all))*p))] }
	size := ""
	if pid > 0 {
		size += fmt.Sprintf(" server-cpu/call=%v client-cpu/call=%v", (serverCPU / time.Duration(len(all))).Round(100*time.Nanosecond),
			(clientCPU / time.Duration(len(all))).Round(100*time.Nanosecond))
	}
	if raw {
		size += fmt.Sprintf(" bytes/response=%d", received.Load()/int64(len(all)+len(ccs)*len(reqs)))
	}
	fmt.Printf("call=%s calls=%d errors=%d c=%d connections=%d wall=%v rate=%.0f/s p50=%v p90=%v p99=%v%s\n",
		call, len(all), errs.Load(), c, nconns, wall.Round(time.Millisecond), float64(len(all))/wall.Seconds(),
		pct(0.50).Round(time.Microsecond), pct(0.90).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), size)
	if e := firstErr.Load(); e != nil {
		fmt.Printf("  first error: %s\n", e)
	}
	return nil
}

// procCPU is the user and system CPU time process pid has used (0 when
// pid is 0 or unreadable), from /proc/PID/stat in clock ticks (100 a
// second on Linux).
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may
	// hold spaces: state is field 3, utime 14, stime 15.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

// selfCPU is the CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
