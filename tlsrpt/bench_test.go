package tlsrpt_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/daned/daned/internal/fakeclock"
	"github.com/daned/daned/tlsrpt"
)

// BenchmarkAggregatorMemory reports the heap one aggregated policy takes:
// a DANE policy (one TLSA record, one MX host) of its own policy domain,
// with successes and one failure detail, as a fleet's day holds them by
// the thousand.
func BenchmarkAggregatorMemory(b *testing.B) {
	const policies = 20000
	clk := fakeclock.New(day.Add(time.Hour))
	for range b.N {
		a, err := tlsrpt.NewAggregator(tlsrpt.AggregatorConfig{Now: clk.Now})
		if err != nil {
			b.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range policies {
			p := tlsaPolicy(fmt.Sprintf("mx%d.example%d.com", i, i))
			a.Add(ok(day, p), ok(day, p), fail(day, p, tlsrpt.ResultTLSAInvalid, "192.0.2.25"))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/policies, "B/policy")
		runtime.KeepAlive(a)
		a.Close()
	}
}

// BenchmarkAggregatorAdd is the cost of counting one session into an
// existing aggregate, the common case.
func BenchmarkAggregatorAdd(b *testing.B) {
	clk := fakeclock.New(day.Add(time.Hour))
	a, err := tlsrpt.NewAggregator(tlsrpt.AggregatorConfig{Now: clk.Now})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	var ss []tlsrpt.Session
	for i := range 100 {
		p := tlsaPolicy(fmt.Sprintf("mx%d.example.com", i))
		ss = append(ss, ok(day, p), fail(day, p, tlsrpt.ResultTLSAInvalid, "192.0.2.25"))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		a.Add(ss[i%len(ss)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sessions/s")
}
