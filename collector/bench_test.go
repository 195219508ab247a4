package collector_test

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daned/daned/collector"
	"github.com/daned/daned/tlsrpt"
)

// countingSink counts sessions and says when it has seen want datagrams
// (with the dropped ones, counted by countingMetrics).
type countingSink struct {
	datagrams atomic.Int64
	dropped   atomic.Int64
	want      int64
	done      chan struct{}
}

func (s *countingSink) Add(...tlsrpt.Session) { s.seen(&s.datagrams) }

func (s *countingSink) seen(c *atomic.Int64) {
	c.Add(1)
	if s.datagrams.Load()+s.dropped.Load() == s.want {
		close(s.done)
	}
}

type countingMetrics struct{ s *countingSink }

func (countingMetrics) Datagram(string)    {}
func (countingMetrics) Sessions(int)       {}
func (m countingMetrics) Dropped(n uint64) { m.s.seen(&m.s.dropped) }

// BenchmarkDatagrams measures datagrams per second from a sender over
// the real socket to the sink: read, queued, parsed, handed over. The
// sender blocks while the kernel's queue is full (libtlsrpt would have
// lost the datagram instead), so the figure is the collector's
// throughput. Datagrams the collector dropped from its own queue are
// reported as dropped/op.
func BenchmarkDatagrams(b *testing.B) {
	s := &countingSink{want: int64(b.N), done: make(chan struct{})}
	d := start(b, collector.Config{Sink: s, Metrics: countingMetrics{s}})
	c, err := net.Dial("unixgram", d.Path())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	dg := []byte(failureSTS)
	b.SetBytes(int64(len(dg)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	go func() {
		for range b.N {
			if _, err := c.Write(dg); err != nil {
				b.Error(err)
				return
			}
		}
	}()
	select {
	case <-s.done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("the sink saw %d datagrams and %d were dropped, of %d sent", s.datagrams.Load(), s.dropped.Load(), b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "datagrams/s")
	b.ReportMetric(float64(s.dropped.Load())/float64(b.N), "dropped/op")
}
