package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/internal/testworld"
	"github.com/daned/daned/probe"
	"github.com/daned/daned/resolver"
)

// BenchmarkColdParallel validates, with no cache anywhere in daned, a
// domain of 4 MX hosts × 2 addresses whose 8 SMTP servers each wait
// 200 ms before their banner, over the loopback test world and a real
// Unbound. Every iteration uses a fresh engine, so all 8 probes run
// again (Unbound keeps its own DNS cache, as a deployment's would).
// probes-wall-ratio is the wall time over one server's delay: about 1
// when the probes run in parallel, about 8 when they run in sequence.
func BenchmarkColdParallel(b *testing.B) {
	const delay = 200 * time.Millisecond
	w := testworld.StartT(b, testworld.Options{Scenarios: []testworld.ScenarioSpec{testworld.ParallelScenario(4, 2, delay)}})
	u := testworld.StartUnboundT(b, w)
	res, err := resolver.New(resolver.Config{Server: u.Addr()})
	if err != nil {
		b.Fatal(err)
	}
	pr, err := probe.New(probe.Config{Port: w.SMTPPort(), HeloName: "bench.test", StepTimeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var total time.Duration
	n := 0
	for b.Loop() {
		e, err := engine.New(engine.Config{Resolver: res, Prober: pr, Targets: probe.TargetPolicy{Allow: w.ProbeAllow()}})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		r, err := e.Validate(ctx, "parallel.test", engine.Options{})
		total += time.Since(start)
		n++
		if err != nil {
			b.Fatal(err)
		}
		probed := 0
		for _, h := range r.Hosts {
			for _, a := range h.Addresses {
				if a.Reason == dane.ReasonOK {
					probed++
				}
			}
		}
		if r.Verdict.Action != dane.ActionDeliver || len(r.Hosts) != 4 || probed != 8 {
			b.Fatalf("verdict %+v with %d hosts and %d addresses authenticated; want deliver, 4 hosts, 8 addresses", r.Verdict, len(r.Hosts), probed)
		}
	}
	b.ReportMetric(float64(total)/float64(n)/float64(delay), "probes-wall-ratio")
}
