package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/daned/daned/internal/danedtest"
	danev1 "github.com/daned/daned/proto/dane/v1"
	"github.com/daned/daned/server"
	"github.com/daned/daned/tlsrpt"
	"github.com/daned/daned/tlsrpt/collect"
	"github.com/daned/daned/tlsrpt/reporter"
)

// rpt is TLS reporting as daned wires it, without a reporter.
type rpt struct {
	*collect.Collector
	agg *tlsrpt.Aggregator
}

func (r rpt) SendNow(context.Context, bool) ([]reporter.Sent, error) { return nil, nil }
func (r rpt) Live(d string) []tlsrpt.Counts                          { return r.agg.Live(d) }

// BenchmarkReportSessions is the rate at which daned takes session
// results over gRPC, in batches of 1,000 from 100 recipient domains whose
// verdicts are cached (an MTA reports what it has just delivered), each
// result given its DANE policy from the verdict and counted.
func BenchmarkReportSessions(b *testing.B) {
	const batchSize, domains = 1000, 100
	verdicts := danedtest.Verdicts(b, newRealisticEngine(b, 100), 1000)
	agg, err := tlsrpt.NewAggregator(tlsrpt.AggregatorConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer agg.Close()
	col, err := collect.New(collect.Config{Validator: verdicts, Aggregator: agg})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := server.New(server.Config{Verdicts: verdicts, TLSRPT: rpt{col, agg}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	c := danev1.NewDaneServiceClient(danedtest.Serve(b, srv))
	ctx := context.Background()
	now := timestamppb.New(time.Now().Add(-time.Minute))
	req := &danev1.ReportSessionsRequest{}
	for i := range batchSize {
		domain := fmt.Sprintf("d%d.example", i%domains)
		res, _ := verdicts.Validate(ctx, domain, engineOptions) // warm the verdict
		r := &danev1.SessionResult{Domain: domain, MxHost: res.Hosts[i%2].Name, Success: i%10 != 0, Time: now,
			ReceivingIp: "192.0.2.25", SendingMtaIp: "198.51.100.7"}
		if !r.Success {
			r.ResultType = "validation-failure"
		}
		req.Results = append(req.Results, r)
	}
	if _, err := verdicts.Validate(ctx, "d0.example", engineOptions); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.ReportSessions(ctx, req)
			if err != nil || resp.GetAccepted() != batchSize {
				b.Errorf("%v, %d accepted: %v", err, resp.GetAccepted(), resp.GetRefused())
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "sessions/s")
}
