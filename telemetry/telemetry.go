// Package telemetry sets up OpenTelemetry for daned: traces exported the
// standard way, as the OTEL_* environment variables say (nothing is
// exported unless they ask for it), W3C trace context taken from callers,
// and metrics served to Prometheus. It also defines daned's own
// instruments and the thin wrappers that count what reaches the network.
//
// It holds no DANE logic and never logs or exports secrets.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Config configures Setup. Zero values are the documented defaults.
type Config struct {
	// ServiceName is the service.name resource attribute unless
	// OTEL_SERVICE_NAME says otherwise; "" means "daned".
	ServiceName string
	// Version is the service.version resource attribute.
	Version string
	// MetricsListen is the address of the Prometheus endpoint (path
	// /metrics); "" serves no metrics endpoint (the instruments still
	// work, for tests).
	MetricsListen string
	// Logger receives exporter errors; nil means slog.Default().
	Logger *slog.Logger
}

// Telemetry holds the providers daned's components use.
type Telemetry struct {
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Metrics        *Metrics
	// Registry is the Prometheus registry behind /metrics.
	Registry *prometheus.Registry
	// MetricsAddr is the address the metrics endpoint listens on ("" when
	// there is none).
	MetricsAddr string
	// Exporting reports whether spans are exported.
	Exporting bool

	shutdown []func(context.Context) error
}

// Setup configures tracing and metrics and installs them as the global
// OpenTelemetry providers.
//
// Traces: OTEL_TRACES_EXPORTER chooses the exporter (otlp, console or
// none, go.opentelemetry.io/contrib/exporters/autoexport). When it is
// unset, spans are exported over OTLP only if an OTLP endpoint is set
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
// otherwise nothing is exported and no span is recorded. The sampler and
// resource come from OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG,
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES. Trace context is taken
// from callers as W3C traceparent and baggage either way.
func Setup(ctx context.Context, cfg Config) (*Telemetry, error) {
	if cfg.ServiceName == "" {
		cfg.ServiceName = "daned"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	t := &Telemetry{}
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { cfg.Logger.Warn("telemetry", "err", err) }))

	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", cfg.ServiceName), attribute.String("service.version", cfg.Version)),
		resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithHost())
	if err != nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}

	exp, err := autoexport.NewSpanExporter(ctx, autoexport.WithFallbackSpanExporter(fallbackExporter))
	if err != nil {
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER: %w", err)
	}
	if _, none := exp.(noExport); none || autoexport.IsNoneSpanExporter(exp) {
		t.TracerProvider = noop.NewTracerProvider()
	} else {
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		t.TracerProvider, t.Exporting = tp, true
		t.shutdown = append(t.shutdown, tp.Shutdown)
	}
	otel.SetTracerProvider(t.TracerProvider)

	t.Registry = prometheus.NewRegistry()
	t.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reader, err := otelprom.New(otelprom.WithRegisterer(t.Registry))
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithResource(res))
	t.MeterProvider = mp
	t.shutdown = append(t.shutdown, mp.Shutdown)
	otel.SetMeterProvider(mp)
	if t.Metrics, err = NewMetrics(mp); err != nil {
		return nil, err
	}

	if cfg.MetricsListen != "" {
		if err := t.serveMetrics(cfg.MetricsListen, cfg.Logger); err != nil {
			_ = t.Shutdown(ctx)
			return nil, err
		}
	}
	return t, nil
}

// noExport marks "no exporter configured": Setup then records no spans.
type noExport struct{}

func (noExport) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (noExport) Shutdown(context.Context) error                             { return nil }

// fallbackExporter applies when OTEL_TRACES_EXPORTER is unset: OTLP when
// an OTLP endpoint is configured, else nothing.
func fallbackExporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return noExport{}, nil
	}
	proto := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		proto = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch proto {
	case "grpc":
		return otlptracegrpc.New(ctx)
	case "", "http/protobuf":
		return otlptracehttp.New(ctx)
	}
	return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL %q: want grpc or http/protobuf", proto)
}

func (t *Telemetry) serveMetrics(addr string, log *slog.Logger) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(t.Registry, promhttp.HandlerOpts{Registry: t.Registry}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	t.MetricsAddr = lis.Addr().String()
	go func() {
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics endpoint stopped", "err", err)
		}
	}()
	t.shutdown = append(t.shutdown, srv.Shutdown)
	return nil
}

// Shutdown flushes the exporters and stops the metrics endpoint.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for i := len(t.shutdown) - 1; i >= 0; i-- {
		errs = append(errs, t.shutdown[i](ctx))
	}
	t.shutdown = nil
	return errors.Join(errs...)
}
