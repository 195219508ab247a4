package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/daned/daned/cache"
	"github.com/daned/daned/limit"
)

// Defaults of Config's zero values.
const (
	// DefaultTimeout bounds one check: DNS, probes and the verdict.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxBody bounds a request body (POST /check, POST
	// /v1/validate).
	DefaultMaxBody = 64 << 10
)

// Config configures a Handler. Zero values are the documented defaults.
type Config struct {
	// Validator is the decision layer every door shares. Required.
	Validator *cache.Validator
	// Limiter is the per-client-IP token bucket every check (page or
	// JSON) draws on; nil means no limit. The client is the IP address
	// of the connection (RemoteAddr, an IPv6 address by its /64, as
	// limit.Key names callers): X-Forwarded-For and the like are never
	// trusted, so behind a proxy every client shares the proxy's bucket.
	Limiter *limit.Buckets
	// RecheckLimiter is the stricter per-client-IP bucket of re-checks
	// (POST /check, and JSON requests with bypass_cache), which bypass
	// every cache and probe the hosts again; nil means no limit beyond
	// Limiter. A re-check draws on both.
	RecheckLimiter *limit.Buckets
	// TLSRPT returns the TXT records at the domain's TLS-RPT name
	// (_smtp._tls.<domain>, tlsrpt.RecordName), each record's strings
	// joined; no records and no error when there are none. It should
	// refuse a DNSSEC-bogus answer with an error. nil means the page
	// does not show TLS-RPT status.
	TLSRPT func(ctx context.Context, domain string) ([]string, error)
	// Timeout bounds one check; 0 means DefaultTimeout (30s). A check
	// that runs out answers 504 (DEADLINE_EXCEEDED).
	Timeout time.Duration
	// MaxBody bounds a request body in bytes; 0 means DefaultMaxBody
	// (64 KiB). A larger body answers 413.
	MaxBody int64
	// Now is the clock of the page ("checked 5 s ago", certificate
	// validity); nil means time.Now.
	Now func() time.Time
	// Logger receives a record per check; nil means slog.Default().
	Logger *slog.Logger
	// TracerProvider makes a span per request; nil means the global
	// provider.
	TracerProvider trace.TracerProvider
	// Metrics counts requests, checks and refusals
	// (*telemetry.WebMetrics); nil counts nothing.
	Metrics Metrics
}

// Metrics are the page's instruments: *telemetry.WebMetrics.
type Metrics interface {
	// Request records one answered request: its route ("/check",
	// "/v1/validate", "/", "/static/", "other") and HTTP status.
	Request(ctx context.Context, route string, status int, d time.Duration)
	// Check records one verdict shown (the action as the API names it:
	// "DEFER").
	Check(ctx context.Context, action string, fromCache, recheck bool)
	// Refused counts a check turned away: "rate_limited",
	// "recheck_limited", "deadline", "too_large", "cross_site".
	Refused(ctx context.Context, reason string)
}

// noMetrics counts nothing.
type noMetrics struct{}

func (noMetrics) Request(context.Context, string, int, time.Duration) {}
func (noMetrics) Check(context.Context, string, bool, bool)           {}
func (noMetrics) Refused(context.Context, string)                     {}

// Handler serves the page, its assets and the JSON API. It implements
// http.Handler and is safe for concurrent use.
type Handler struct {
	cfg      Config
	log      *slog.Logger
	tracer   trace.Tracer
	draining atomic.Bool
	static   *assets
}

// New returns the Handler of cfg.
func New(cfg Config) (*Handler, error) {
	if cfg.Validator == nil {
		return nil, errors.New("web: a decision layer (Validator) is required")
	}
	if cfg.Timeout < 0 || cfg.MaxBody < 0 {
		return nil, errors.New("web: timeout and body limit must not be negative")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.TracerProvider == nil {
		cfg.TracerProvider = otel.GetTracerProvider()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = noMetrics{}
	}
	st, err := loadAssets()
	if err != nil {
		return nil, err
	}
	return &Handler{cfg: cfg, log: cfg.Logger, tracer: cfg.TracerProvider.Tracer("github.com/daned/daned/web"), static: st}, nil
}

// SetServing switches checks on or off: daned turns them off at the start
// of shutdown, so that a check is answered 503 (UNAVAILABLE) rather than
// cut off. The form and the assets are still served.
func (h *Handler) SetServing(serving bool) { h.draining.Store(!serving) }

// Span attributes of a request.
var (
	attrRoute  = attribute.Key("http.route")
	attrDomain = attribute.Key("dane.domain")
	attrAction = attribute.Key("dane.action")
	attrReason = attribute.Key("dane.reason")
	attrStatus = attribute.Key("http.response.status_code")
	attrCached = attribute.Key("dane.cache.hit")
)

// ServeHTTP routes a request. Every response carries the security headers
// (setSecurityHeaders), errors included.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	setSecurityHeaders(w.Header())
	route, serve := h.route(r.URL.Path)
	ctx, span := h.tracer.Start(r.Context(), "web.request", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attrRoute.String(route), attribute.String("http.request.method", r.Method)))
	defer span.End()
	rw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	serve(rw, r.WithContext(ctx))
	span.SetAttributes(attrStatus.Int(rw.status))
	h.cfg.Metrics.Request(ctx, route, rw.status, time.Since(start))
	if rw.status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(rw.status))
	}
}

// route returns the route's name (for spans) and its handler.
func (h *Handler) route(path string) (string, http.HandlerFunc) {
	switch {
	case path == "/":
		return "/", h.serveIndex
	case path == "/check":
		return "/check", h.serveCheck
	case path == "/v1/validate":
		return "/v1/validate", h.serveAPI
	case len(path) > len(staticPrefix) && path[:len(staticPrefix)] == staticPrefix:
		return staticPrefix, h.serveStatic
	}
	return "other", h.serveNotFound
}

// setSecurityHeaders sets what every response carries: a Content Security
// Policy that allows no script at all, no inline style, no plugin, no
// framing and no form target but this server; no MIME sniffing; no
// referrer beyond this origin.
func setSecurityHeaders(hd http.Header) {
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
}

// ContentSecurityPolicy is the policy of every response.
const ContentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// statusWriter remembers the status a handler wrote, for the span.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// clientKey names the client's bucket: the connection's IP address as
// every door keys callers (limit.AddrKey). Forwarding headers are not
// trusted: anyone can write them.
func clientKey(r *http.Request) string {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return limit.AddrKey(ap.Addr())
	}
	return "addr:" + r.RemoteAddr
}

// admit takes a token from the client's buckets: one from Limiter, and
// for a re-check one from RecheckLimiter too. It returns what the client
// is allowed when it refuses, "" when it admits.
func (h *Handler) admit(r *http.Request, recheck bool) string {
	key := clientKey(r)
	if recheck && !h.cfg.RecheckLimiter.Allow(key) {
		h.cfg.Metrics.Refused(r.Context(), "recheck_limited")
		return "re-checks are limited to " + h.cfg.RecheckLimiter.Describe() + " per client"
	}
	if !h.cfg.Limiter.Allow(key) {
		h.cfg.Metrics.Refused(r.Context(), "rate_limited")
		return "checks are limited to " + h.cfg.Limiter.Describe() + " per client"
	}
	return ""
}

// callError is a failed call, as the JSON API and the error page show it.
type callError struct {
	status  int    // HTTP status
	code    string // gRPC code name: "INVALID_ARGUMENT"
	message string // safe to show
}

func (e *callError) Error() string { return e.code + ": " + e.message }

// Title, Code and Message are what the error page shows.
func (e *callError) Title() string   { return http.StatusText(e.status) }
func (e *callError) Code() string    { return e.code }
func (e *callError) Message() string { return e.message }

// decideError maps an error of the decision layer.
func (h *Handler) decideError(r *http.Request, err error, domain string) *callError {
	switch {
	case errors.Is(err, errInvalidDomain):
		return &callError{http.StatusBadRequest, "INVALID_ARGUMENT", err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		h.cfg.Metrics.Refused(r.Context(), "deadline")
		return &callError{http.StatusGatewayTimeout, "DEADLINE_EXCEEDED",
			"no verdict for " + short(domain) + " within " + h.cfg.Timeout.String() + ": a name server or mail server answers too slowly, or not at all"}
	case errors.Is(err, context.Canceled):
		return &callError{499, "CANCELLED", "the request was cancelled"}
	}
	h.log.LogAttrs(r.Context(), slog.LevelWarn, "web: validation failed", slog.String("domain", short(domain)), slog.Any("error", err))
	return &callError{http.StatusInternalServerError, "INTERNAL", "daned could not validate " + short(domain) + ": internal error"}
}

// short bounds a client-supplied string for a message, log or span,
// without cutting a character in two.
func short(s string) string {
	const limit = 255
	if len(s) <= limit {
		return s
	}
	return strings.ToValidUTF8(s[:limit], "") + "…"
}
