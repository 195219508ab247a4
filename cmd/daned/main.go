// Command daned serves DANE verdicts over gRPC: may a mail fleet deliver
// to a domain, over which hosts, with what security, and if not, why. For
// domains without DANE it applies their MTA-STS policy (RFC 8461), kept
// across restarts in the state store under --state-dir. With
// --http-listen it also serves the diagnostics page for receiving admins
// and its JSON API (package web), on the same verdicts.
//
// Every flag has a DANED_* environment variable; daned --help lists them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"

	"github.com/daned/daned/collector"
	"github.com/daned/daned/internal/config"
	"github.com/daned/daned/server"
	"github.com/daned/daned/socketmap"
	"github.com/daned/daned/telemetry"
)

func main() {
	// Signals first, before any flag is read: SIGHUP's default action
	// ends the process, and a reload request (a certificate renewal hook,
	// a configuration manager) may come while daned is still starting.
	// From here to exit SIGHUP is caught; run reloads TLS on each one once
	// it serves, including one that came before.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, hup); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "daned:", err)
		os.Exit(2)
	}
}

// run starts the server and blocks until ctx ends, then shuts down:
// health NOT_SERVING, a lame-duck period, GracefulStop bounded by a
// deadline, then Stop. Each value received from hup (SIGHUP) once the
// listener is up reloads the TLS files; nil never reloads.
func run(ctx context.Context, args []string, stderr io.Writer, hup <-chan os.Signal) error {
	fs := flag.NewFlagSet("daned", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var ec config.EngineFlags
	ec.Register(fs)
	ec.RegisterStateDir(fs)
	listen := fs.String("listen", "127.0.0.1:8053", "gRPC listen address (host:port)")
	lameDuck := fs.Duration("lame-duck", 2*time.Second, "time between reporting NOT_SERVING and refusing new requests at shutdown")
	shutdownTimeout := fs.Duration("shutdown-timeout", 10*time.Second, "longest wait for in-flight requests at shutdown before they are cut off")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	metricsListen := fs.String("metrics-listen", "127.0.0.1:9464", "Prometheus metrics endpoint (host:port, path /metrics); empty disables it")
	socketmapListen := fs.String("socketmap-listen", "", "Postfix socketmap policy server (smtp_tls_policy_maps = socketmap:inet:HOST:PORT:QUERY): host:port, or a Unix socket path for a chrooted Postfix; plaintext, so a host:port off loopback needs --insecure-listen; empty: off")
	var rpt config.TLSRPTFlags
	rpt.Register(fs)
	var sf config.SharedFlags
	sf.Register(fs)
	var tr transport
	tr.register(fs)
	var wf webFlags
	wf.register(fs)
	fs.Usage = config.Usage(fs, "Usage: daned [flags]\n\ndaned answers DANE (RFC 7672) delivery questions for a mail fleet over gRPC\n(and, with --http-listen, on a diagnostics web page and a JSON API).")
	if err := config.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (see --help)", fs.Args())
	}
	if err := tr.check(); err != nil {
		return err
	}
	if err := wf.check(); err != nil {
		return err
	}
	// Log lines are batched (one per verdict would otherwise be a system
	// call each) and flushed every logFlush and at exit.
	logw := telemetry.NewLogWriter(stderr, logFlush)
	defer logw.Close()
	logger, err := newLogger(logw, *logLevel, *logFormat)
	if err != nil {
		return err
	}
	// Traces go where the OTEL_* environment says (nowhere by default).
	tel, err := telemetry.Setup(ctx, telemetry.Config{MetricsListen: *metricsListen, Logger: logger})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(sctx); err != nil {
			logger.Warn("telemetry shutdown", "err", err)
		}
	}()
	ec.Metrics = tel.Metrics
	ec.Logger = logger
	// The shared store first: BuildService shares the caches through it.
	// Built.Close closes it, after the last request.
	store, err := sf.Open(&ec)
	if err != nil {
		return err
	}
	built, err := ec.BuildService()
	if err != nil {
		return err
	}
	// After GracefulStop: the MTA-STS manager stops its refresher and
	// fetches, and the state store is closed, once no request needs them.
	defer func() {
		if err := built.Close(); err != nil {
			logger.Warn("closing", "err", err)
		}
	}()
	if built.STS != nil {
		if err := tel.Metrics.ObservePolicies(built.STS.CountByMode); err != nil {
			return err
		}
		if ec.Shared != nil {
			if err := tel.Metrics.ObserveSharedPolicies(built.STS.SharedStats); err != nil {
				return err
			}
		}
	}
	rptMetrics, err := telemetry.NewTLSRPTMetrics(tel.MeterProvider)
	if err != nil {
		return err
	}
	reports, err := rpt.BuildTLSRPT(&ec, built, rptMetrics)
	if err != nil {
		return err
	}
	sc := server.Config{Verdicts: built.Verdicts, Logger: logger, Metrics: tel.Metrics}
	if reports != nil {
		// Before built.Close (deferred above): the counts are committed
		// to the state store before it closes.
		defer func() {
			if err := reports.Close(); err != nil {
				logger.Warn("closing TLS reporting", "err", err)
			}
		}()
		sc.TLSRPT = reports
		if rpt.Socket != "" {
			dg, err := listenDatagrams(rpt.Socket, reports, rptMetrics, logger)
			if err != nil {
				return err
			}
			defer dg.Close()
		}
	}
	srv, err := server.New(sc)
	if err != nil {
		return err
	}
	sources := []telemetry.CacheSource{{Name: "verdict", Stats: built.Verdicts.CacheStats, Coalesced: built.Verdicts.Coalesced}}
	if built.DNS != nil {
		sources = append(sources, telemetry.CacheSource{Name: "dns", Stats: built.DNS.Stats, Coalesced: built.DNS.Coalesced},
			telemetry.CacheSource{Name: "probe", Stats: built.Probes.Stats, Coalesced: built.Probes.Coalesced})
	}
	if err := tel.Metrics.ObserveCaches(sources...); err != nil {
		return err
	}
	sharedState := "off (this replica alone)"
	if store != nil {
		if err := tel.Metrics.ObserveShared(store.Stats); err != nil {
			return err
		}
		sharedState = "redis " + store.String()
	}
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	opts, tlsSrv, limits, err := tr.options(lis.Addr())
	if err != nil {
		lis.Close()
		return err
	}
	err = tel.Metrics.ObserveRefusals(func() (uint64, uint64, int) {
		if limits == nil {
			return 0, 0, 0
		}
		st := limits.Stats()
		return st.RateLimited, st.Denied, st.Callers
	})
	if err != nil {
		lis.Close()
		return err
	}
	var sm *socketmap.Server
	var smAddr string
	if *socketmapListen != "" {
		if sm, smAddr, err = serveSocketmap(*socketmapListen, tr.insecureListen, built, limits, tel, logger); err != nil {
			lis.Close()
			return err
		}
	}
	var ws *webServer
	webURL := ""
	if wf.listen != "" {
		if ws, err = serveWeb(&wf, &ec, built, tlsSrv, tr.insecureListen, limits, tel, logger); err != nil {
			if sm != nil {
				sm.Close()
			}
			lis.Close()
			return err
		}
		webURL = ws.url
		defer ws.close() // when gRPC fails; after a shutdown, a no-op
	}
	stopReload := reloadOnHUP(ctx, hup, tlsSrv, logger)
	defer stopReload()
	g := grpc.NewServer(append(opts, grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(tel.TracerProvider), otelgrpc.WithMeterProvider(tel.MeterProvider))))...)
	srv.Register(g)
	served := make(chan error, 1)
	go func() { served <- g.Serve(lis) }()
	stateDir := "none (memory only)"
	if built.Store != nil {
		stateDir = built.Store.Path()
	}
	logger.Info("daned serving", "listen", lis.Addr().String(), "socketmap", smAddr, "web", webURL, "resolver", ec.Resolver, "metrics", tel.MetricsAddr, "tracing", tel.Exporting,
		"tls", tlsSrv != nil, "mutual_tls", tlsSrv != nil && tlsSrv.MutualTLS(), "limits", limits.String(),
		"mta_sts", ec.MTASTS, "tlsrpt", rpt.Enabled, "tlsrpt_socket", rpt.Socket, "state", stateDir, "shared", sharedState)
	_ = logw.Flush() // whoever waits for this line need not wait for the batch

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	srv.SetServing(false)
	ws.drain()
	logger.Info("shutting down", "lame_duck", *lameDuck)
	time.Sleep(*lameDuck)
	stopped := make(chan struct{})
	go func() { g.GracefulStop(); close(stopped) }()
	webStopped := make(chan struct{})
	go func() {
		defer close(webStopped)
		// Finishes the checks in flight; an idle connection is closed.
		ws.shutdown(*shutdownTimeout, logger)
	}()
	smStopped := make(chan struct{})
	go func() {
		defer close(smStopped)
		if sm != nil {
			// Finishes the requests read so far; a connection Postfix
			// holds idle is closed, which it retries once on another.
			sctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
			defer cancel()
			if err := sm.Shutdown(sctx); err != nil {
				logger.Warn("socketmap requests cut off", "after", *shutdownTimeout)
			}
		}
	}()
	select {
	case <-stopped:
	case <-time.After(*shutdownTimeout):
		logger.Warn("in-flight requests cut off", "after", *shutdownTimeout)
		g.Stop()
	}
	<-smStopped
	<-webStopped
	logger.Info("stopped")
	return nil
}

// serveSocketmap starts the socketmap front door on addr, on the same
// decision layer and the same per-caller rate limit as gRPC, and returns
// it with the address it listens on.
func serveSocketmap(addr string, insecureListen bool, built *config.Built, limits *server.Limits, tel *telemetry.Telemetry, logger *slog.Logger) (*socketmap.Server, string, error) {
	ln, err := socketmap.Listen(addr)
	if err != nil {
		return nil, "", fmt.Errorf("--socketmap-listen: %w", err)
	}
	if ln.Addr().Network() == "tcp" && !insecureListen && !isLoopback(ln.Addr()) {
		ln.Close()
		return nil, "", fmt.Errorf("refusing to serve socketmap on %s, which is not a loopback address: the protocol has no TLS; use a loopback address or a Unix socket, or give --insecure-listen", ln.Addr())
	}
	metrics, err := telemetry.NewSocketmapMetrics(tel.MeterProvider)
	if err != nil {
		ln.Close()
		return nil, "", err
	}
	sm, err := socketmap.New(socketmap.Config{Validator: built.Verdicts, Limiter: limits.Buckets(), Metrics: metrics,
		TracerProvider: tel.TracerProvider, Logger: logger})
	if err != nil {
		ln.Close()
		return nil, "", err
	}
	go func() {
		if err := sm.Serve(ln); err != nil && !errors.Is(err, socketmap.ErrServerClosed) {
			logger.Error("socketmap server", "err", err)
		}
	}()
	return sm, ln.Addr().String(), nil
}

// logFlush is how often batched log lines are written out: at most this
// much of the log is lost if the process dies.
const logFlush = 200 * time.Millisecond

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %v", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// listenDatagrams starts the collector of Postfix's TLSRPT datagrams on
// the Unix datagram socket path, counting into reports.
func listenDatagrams(path string, reports *config.TLSRPT, m *telemetry.TLSRPTMetrics, logger *slog.Logger) (*collector.Datagrams, error) {
	d, err := collector.New(collector.Config{Path: path, Sink: reports.Aggregator, Metrics: m, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("--tlsrpt-socket: %w", err)
	}
	go func() {
		if err := d.Serve(); err != nil && !errors.Is(err, collector.ErrClosed) {
			logger.Error("TLSRPT datagram collector", "err", err)
		}
	}()
	return d, nil
}
