package server_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/daned/daned/internal/danedtest"
	danev1 "github.com/daned/daned/proto/dane/v1"
	"github.com/daned/daned/server"
)

// sink is an OTLP/gRPC trace collector that counts and drops spans.
type sink struct {
	collectortrace.UnimplementedTraceServiceServer
	spans atomic.Int64
}

func (s *sink) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			s.spans.Add(int64(len(ss.GetSpans())))
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// BenchmarkGRPCTracing is the cached Validate over real gRPC, as daned
// serves it (otelgrpc stats handler, W3C propagation), with tracing off
// (no SDK: non-recording spans) and with every request's span sampled
// and exported over OTLP/gRPC to a collector on loopback (every request,
// or one in ten as OTEL_TRACES_SAMPLER=parentbased_traceidratio with
// OTEL_TRACES_SAMPLER_ARG=0.1 would). The difference is the cost of
// tracing on the cached path (docs/BENCHMARKS.md). The collector runs in
// the same process, on the same two cores, so its decoding is counted
// too: an overestimate of daned's own cost.
func BenchmarkGRPCTracing(b *testing.B) {
	for _, mode := range []struct {
		name    string
		sampler sdktrace.Sampler // nil: tracing off
	}{
		{"off", nil},
		{"exporting-all", sdktrace.AlwaysSample()},
		{"exporting-10pct", sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.1))},
	} {
		exporting := mode.sampler != nil
		b.Run(mode.name, func(b *testing.B) {
			var tp trace.TracerProvider = noop.NewTracerProvider()
			col := &sink{}
			if exporting {
				lis, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				g := grpc.NewServer()
				collectortrace.RegisterTraceServiceServer(g, col)
				go func() { _ = g.Serve(lis) }()
				b.Cleanup(g.Stop)
				exp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpoint(lis.Addr().String()), otlptracegrpc.WithInsecure())
				if err != nil {
					b.Fatal(err)
				}
				sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithSampler(mode.sampler))
				b.Cleanup(func() { _ = sdk.Shutdown(context.Background()) })
				tp = sdk
			}
			log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
			s, err := server.New(server.Config{Verdicts: danedtest.Verdicts(b, newRealisticEngine(b, 100), 1000), Logger: log})
			if err != nil {
				b.Fatal(err)
			}
			first := danedtest.Serve(b, s, grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(tp),
				otelgrpc.WithPropagators(propagation.TraceContext{}))))
			conns := []*grpc.ClientConn{first}
			for range 3 {
				c, err := grpc.NewClient(first.Target(), grpc.WithTransportCredentials(insecure.NewCredentials()))
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = c.Close() })
				conns = append(conns, c)
			}
			ctx := context.Background()
			req := &danev1.ValidateRequest{Domain: "customer.example"}
			if _, err := danev1.NewDaneServiceClient(conns[0]).Validate(ctx, req); err != nil {
				b.Fatal(err)
			}
			var mu sync.Mutex
			i := 0
			b.SetParallelism(25) // 50 callers on 2 cores
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				mu.Lock()
				c := danev1.NewDaneServiceClient(conns[i%len(conns)])
				i++
				mu.Unlock()
				for pb.Next() {
					r, err := c.Validate(ctx, req)
					if err != nil || !r.GetFromCache() {
						b.Errorf("%v %v", r.GetFromCache(), err)
						return
					}
				}
			})
			b.StopTimer()
			if exporting {
				if sdk, ok := tp.(*sdktrace.TracerProvider); ok {
					_ = sdk.ForceFlush(ctx)
				}
				if col.spans.Load() == 0 && b.N > 100 {
					b.Fatal("no span reached the collector")
				}
				b.ReportMetric(float64(col.spans.Load())/float64(b.N), "spans/op")
			}
		})
	}
}
