// Package server is daned's gRPC front door: it checks each request,
// asks the decision layer (cache.Validator: the verdict cache,
// coalescing, refresh and Invalidate every door shares) for the verdict,
// and renders it in the dane.v1 API, keeping the wire encoding of each
// verdict so that a cache hit is not encoded again. It also registers the
// standard health and reflection services, and answers VerifyPeer with
// the pure peer check of package dane.
//
// A verdict (even DEFER or REJECT) is an OK call. gRPC status codes are
// for problems with the call itself.
package server

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	grpccodes "google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/daned/daned/cache"
	"github.com/daned/daned/dnsname"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/flight"
	danev1 "github.com/daned/daned/proto/dane/v1"
	"github.com/daned/daned/telemetry"
)

// Decider is the decision layer the server asks: *cache.Validator.
type Decider interface {
	Decide(ctx context.Context, domain string, opts engine.Options) (cache.Decision, error)
	Invalidate(domain string) int
}

// Config configures a Server. Zero values are the documented defaults.
type Config struct {
	// Verdicts answers validations. Required.
	Verdicts Decider
	// Logger receives one record per verdict; nil means slog.Default().
	Logger *slog.Logger
	// StreamConcurrency bounds the requests of one ValidateStream worked
	// on at once; 0 means 16.
	StreamConcurrency int
	// Now is the clock of VerifyPeer's DANE-TA validity checks; nil
	// means time.Now.
	Now func() time.Time
	// Metrics counts validations; nil counts nothing.
	Metrics *telemetry.Metrics
	// WebPKIRoots are the roots VerifyPeer checks the chain of an MX host
	// under an enforced MTA-STS policy against (RFC 8461 §4.2); nil means
	// the system roots, which honour SSL_CERT_FILE and SSL_CERT_DIR.
	WebPKIRoots *x509.CertPool
	// TLSRPT serves ReportSessions, SendReports and TlsRptCounts; nil
	// when TLS reporting is off (they answer FAILED_PRECONDITION).
	TLSRPT TLSRPT
}

// Server implements dane.v1.DaneService.
type Server struct {
	danev1.UnimplementedDaneServiceServer
	verdicts          Decider
	log               *slog.Logger
	health            *health.Server
	shared            cache.Pool[byte] // identical host encodings of rendered verdicts, held once
	streamConcurrency int
	metrics           *telemetry.Metrics
	now               func() time.Time // Config.Now; nil means time.Now
	roots             *x509.CertPool   // Config.WebPKIRoots, or the system roots
	tlsrpt            TLSRPT
}

// New returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Verdicts == nil {
		return nil, errors.New("server: a decision layer (Verdicts) is required")
	}
	if cfg.StreamConcurrency < 0 {
		return nil, errors.New("server: stream concurrency must not be negative")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StreamConcurrency == 0 {
		cfg.StreamConcurrency = 16
	}
	roots := cfg.WebPKIRoots
	if roots == nil {
		// Without system roots every MTA-STS chain is CERT_NOT_TRUSTED,
		// which VerifyPeer then says.
		roots, _ = x509.SystemCertPool()
	}
	return &Server{verdicts: cfg.Verdicts, log: cfg.Logger, health: health.NewServer(),
		streamConcurrency: cfg.StreamConcurrency, metrics: cfg.Metrics, now: cfg.Now, roots: roots, tlsrpt: cfg.TLSRPT}, nil
}

// Register registers the DANE service, grpc.health.v1 (SERVING) and
// reflection on s.
func (s *Server) Register(g *grpc.Server) {
	danev1.RegisterDaneServiceServer(g, s)
	healthpb.RegisterHealthServer(g, s.health)
	reflection.Register(g)
	s.SetServing(true)
}

// SetServing flips the health status of the whole server and of the DANE
// service; daned sets it to NOT_SERVING at the start of shutdown so that
// load balancers stop sending requests during the lame-duck period.
func (s *Server) SetServing(serving bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(danev1.DaneService_ServiceDesc.ServiceName, st)
}

// Validate implements dane.v1.DaneService.Validate.
//
// The request's span (made by the gRPC stats handler) carries the domain
// and the verdict; a verdict from the cache, or shared with a concurrent
// identical request, is marked so and linked to the span of the
// validation that reached it.
func (s *Server) Validate(ctx context.Context, req *danev1.ValidateRequest) (*danev1.ValidateResponse, error) {
	start := time.Now()
	s.metrics.InFlight(ctx, 1)
	defer s.metrics.InFlight(ctx, -1)
	span := trace.SpanFromContext(ctx)
	fresh := req.GetBypassCache()
	d, err := s.verdicts.Decide(ctx, req.GetDomain(), engine.Options{PolicyOnly: req.GetPolicyOnly(), FreshDNS: fresh, FreshProbes: fresh})
	if err != nil {
		if errors.Is(err, dnsname.ErrInvalid) {
			span.SetStatus(codes.Error, "invalid domain")
		} else {
			span.SetStatus(codes.Error, err.Error())
		}
		return nil, callError(err)
	}
	w := s.wireOf(d.Verdict)
	sc := span.SpanContext()
	resp := w.response(d, traceID(sc), grpc.ServerTransportStreamFromContext(ctx) != nil)
	if span.IsRecording() {
		span.SetAttributes(attrDomain.String(d.Result.Domain), attrAction.String(w.action),
			attrReason.String(w.reason), attrPolicy.String(w.policy))
		switch d.Source {
		case flight.Cached:
			span.SetAttributes(attrCacheHit)
			span.AddLink(trace.Link{SpanContext: d.Span, Attributes: []attribute.KeyValue{attribute.String("dane.link", "cached verdict reached by")}})
		case flight.Joined:
			span.SetAttributes(attrCoalesced)
			span.AddLink(trace.Link{SpanContext: d.Span, Attributes: []attribute.KeyValue{attribute.String("dane.link", "verdict shared with")}})
		}
	}
	s.metrics.Validation(ctx, w.action, w.reason, d.Source == flight.Cached, time.Since(start))
	// One info line per validation run or shared; a cache hit is counted
	// in the metrics (dane_validations_total{from_cache}) and logged at
	// debug: at a fleet's rates a line per hit would cost more than the
	// hit itself and say nothing the counters do not.
	level := slog.LevelInfo
	if d.Source == flight.Cached {
		level = slog.LevelDebug
	}
	s.log.LogAttrs(ctx, level, "verdict",
		slog.String("domain", d.Result.Domain),
		slog.String("action", w.action),
		slog.String("reason", w.reason),
		slog.String("status", w.status),
		slog.Duration("duration", time.Since(start)),
		slog.Bool("from_cache", d.Source == flight.Cached),
		slog.Bool("coalesced", d.Source == flight.Joined),
		slog.String("trace_id", traceID(sc)),
		slog.String("span_id", spanID(sc)))
	return resp, nil
}

// Span attributes of a Validate request.
var (
	attrDomain    = attribute.Key("dane.domain")
	attrAction    = attribute.Key("dane.action")
	attrReason    = attribute.Key("dane.reason")
	attrPolicy    = attribute.Key("dane.policy")
	attrCacheHit  = attribute.Bool("dane.cache.hit", true)
	attrCoalesced = attribute.Bool("dane.cache.coalesced", true)
)

func traceID(sc trace.SpanContext) string {
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}

func spanID(sc trace.SpanContext) string {
	if !sc.HasSpanID() {
		return ""
	}
	return sc.SpanID().String()
}

// Invalidate implements dane.v1.DaneService.Invalidate.
func (s *Server) Invalidate(ctx context.Context, req *danev1.InvalidateRequest) (*danev1.InvalidateResponse, error) {
	domain, err := dnsname.Normalize(req.GetDomain())
	if err != nil {
		return nil, callError(err)
	}
	n := s.verdicts.Invalidate(domain)
	s.log.LogAttrs(ctx, slog.LevelInfo, "invalidate", slog.String("domain", domain), slog.Int("removed", n))
	return &danev1.InvalidateResponse{Domain: domain, Removed: uint32(n)}, nil
}

// callError maps an engine error to a gRPC status.
func callError(err error) error {
	switch {
	case errors.Is(err, dnsname.ErrInvalid):
		return status.Error(grpccodes.InvalidArgument, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(grpccodes.DeadlineExceeded, "the request deadline ran out before a verdict was reached")
	case errors.Is(err, context.Canceled):
		return status.Error(grpccodes.Canceled, "the request was cancelled")
	}
	return status.Error(grpccodes.Internal, err.Error())
}
