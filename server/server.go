// Package server is daned's gRPC adapter: it validates each request,
// calls the engine, and maps the result to the dane.v1 API. It also
// registers the standard health and reflection services.
//
// It holds no DANE logic: verdicts come from package engine, and a
// verdict (even DEFER or REJECT) is an OK call. gRPC status codes are for
// problems with the call itself.
package server

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
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
	danev1 "github.com/daned/daned/proto/dane/v1"
	"github.com/daned/daned/telemetry"
)

// Validator is what the server needs of the engine.
type Validator interface {
	Validate(ctx context.Context, domain string, opts engine.Options) (*engine.Result, error)
}

// Config configures a Server. Zero values are the documented defaults.
type Config struct {
	// Engine answers validations. Required.
	Engine Validator
	// Logger receives one record per verdict; nil means slog.Default().
	Logger *slog.Logger
	// CacheSize bounds the cached verdicts; 0 means verdicts are not
	// cached (identical concurrent requests still share one validation).
	CacheSize int
	// RefreshAhead is the fraction of a cached verdict's lifetime after
	// which a request for it also refreshes it in the background; 0 means
	// 0.8.
	RefreshAhead float64
	// Forget drops the cached DNS answers and probe results of a domain
	// for Invalidate; nil when they are not cached.
	Forget Forgetter
	// StreamConcurrency bounds the requests of one ValidateStream worked
	// on at once; 0 means 16.
	StreamConcurrency int
	// Now is the clock of the verdict cache and of VerifyPeer's DANE-TA
	// validity checks; nil means time.Now.
	Now func() time.Time
	// Metrics counts validations; nil counts nothing.
	Metrics *telemetry.Metrics
	// TracerProvider makes the spans of background refreshes; nil means
	// the global provider.
	TracerProvider trace.TracerProvider
}

// Server implements dane.v1.DaneService.
type Server struct {
	danev1.UnimplementedDaneServiceServer
	engine            Validator
	log               *slog.Logger
	health            *health.Server
	v                 verdicts
	forget            Forgetter
	streamConcurrency int
	metrics           *telemetry.Metrics
	tracer            trace.Tracer
	now               func() time.Time // Config.Now; nil means time.Now
}

// New returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Engine == nil {
		return nil, errors.New("server: an engine is required")
	}
	if cfg.CacheSize < 0 || cfg.StreamConcurrency < 0 || cfg.RefreshAhead < 0 || cfg.RefreshAhead >= 1 {
		return nil, errors.New("server: cache size and stream concurrency must not be negative, refresh-ahead must be in [0, 1)")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RefreshAhead == 0 {
		cfg.RefreshAhead = 0.8
	}
	if cfg.StreamConcurrency == 0 {
		cfg.StreamConcurrency = 16
	}
	if cfg.TracerProvider == nil {
		cfg.TracerProvider = otel.GetTracerProvider()
	}
	s := &Server{engine: cfg.Engine, log: cfg.Logger, health: health.NewServer(), forget: cfg.Forget,
		streamConcurrency: cfg.StreamConcurrency, metrics: cfg.Metrics, tracer: cfg.TracerProvider.Tracer("github.com/daned/daned/server")}
	s.v.refreshAt = cfg.RefreshAhead
	s.v.shared = newSharing()
	s.now = cfg.Now
	if cfg.CacheSize > 0 {
		l, err := cache.NewLRU[verdictKey, verdict](cfg.CacheSize, cfg.Now)
		if err != nil {
			return nil, err
		}
		s.v.lru = l
	}
	return s, nil
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
	domain, err := s.normalize(req.GetDomain(), req.GetPolicyOnly())
	if err != nil {
		span.SetStatus(codes.Error, "invalid domain")
		return nil, callError(err)
	}
	v, how, err := s.verdict(ctx, domain, req.GetPolicyOnly(), req.GetBypassCache())
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		return nil, callError(err)
	}
	resp := v.resp
	sc := span.SpanContext()
	if span.IsRecording() {
		span.SetAttributes(attrDomain.String(domain), attrAction.String(actionName(resp)),
			attrReason.String(reasonName(resp)), attrPolicy.String(strings.TrimPrefix(resp.GetPolicy().String(), "POLICY_")))
		switch how {
		case fromCache:
			span.SetAttributes(attrCacheHit)
			span.AddLink(trace.Link{SpanContext: v.span, Attributes: []attribute.KeyValue{attribute.String("dane.link", "cached verdict reached by")}})
		case coalesced:
			span.SetAttributes(attrCoalesced)
			span.AddLink(trace.Link{SpanContext: v.span, Attributes: []attribute.KeyValue{attribute.String("dane.link", "verdict shared with")}})
		}
	}
	if sc.HasTraceID() {
		if how != fromCache {
			resp = shallowCopy(resp) // a fresh or shared response is the cache's; never modify it
		}
		resp.TraceId = sc.TraceID().String()
	}
	if how == fromCache && len(v.hosts) == len(resp.MxHosts) && grpc.ServerTransportStreamFromContext(ctx) != nil {
		resp = preEncoded(resp, v.hosts) // resp is this request's own copy
	}
	s.metrics.Validation(ctx, actionName(resp), reasonName(resp), how == fromCache, time.Since(start))
	s.log.LogAttrs(ctx, slog.LevelInfo, "verdict",
		slog.String("domain", resp.GetDomain()),
		slog.String("action", actionName(resp)),
		slog.String("reason", reasonName(resp)),
		slog.String("status", resp.GetStatusCode()),
		slog.Duration("duration", time.Since(start)),
		slog.Bool("from_cache", how == fromCache),
		slog.Bool("coalesced", how == coalesced),
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
	attrCoalesced = attribute.Bool("dane.coalesced", true)
)

// actionName and reasonName are the enum names without their prefixes,
// as in spans, metrics and logs ("DELIVER", "TLSA_NO_MATCH").
func actionName(r *danev1.ValidateResponse) string {
	return strings.TrimPrefix(r.GetAction().String(), "ACTION_")
}

func reasonName(r *danev1.ValidateResponse) string {
	return strings.TrimPrefix(r.GetReason().String(), "REASON_")
}

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
	n := s.invalidate(domain)
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
