package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/daned/daned/internal/config"
	"github.com/daned/daned/internal/tlsconfig"
	"github.com/daned/daned/limit"
	"github.com/daned/daned/server"
	"github.com/daned/daned/telemetry"
	"github.com/daned/daned/web"
)

// webFlags are the flags of the diagnostics page (package web): its
// listener and the per-client limits of a page that people, not mail
// servers, load. Its TLS is the gRPC listener's (--tls-cert, --tls-key,
// --client-ca, --client-allow, --insecure-listen).
type webFlags struct {
	listen       string
	rateLimit    float64
	rateBurst    int
	recheckLimit float64
}

func (f *webFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "http-listen", "", "diagnostics web page and JSON API (GET /check?domain=D, GET|POST /v1/validate): host:port; empty: off. HTTPS with --tls-cert and --tls-key, mutual TLS with --client-ca and --client-allow, as for gRPC; plain HTTP off loopback needs --insecure-listen")
	fs.Float64Var(&f.rateLimit, "http-rate-limit", 2, "checks per second allowed to each client IP address of the web page and its JSON API (apart from --rate-limit, which is the mail fleet's); 0 disables")
	fs.IntVar(&f.rateBurst, "http-rate-burst", 20, "token bucket size of each client IP address for --http-rate-limit (0: the rate rounded up)")
	fs.Float64Var(&f.recheckLimit, "http-recheck-limit", 0.1, "re-checks per second allowed to each client IP address of the web page: a re-check bypasses the verdict cache and probes the domain's mail servers again (0.1: one every 10 s); 0 disables the limit")
}

// check rejects inconsistent flags before anything starts.
func (f *webFlags) check() error {
	if f.rateLimit < 0 || f.rateBurst < 0 || f.recheckLimit < 0 {
		return errors.New("--http-rate-limit, --http-rate-burst and --http-recheck-limit must not be negative")
	}
	return nil
}

// The HTTP server's limits. A check may take the whole validation
// deadline (--validate-timeout), so the write deadline leaves it that
// and webWriteMargin to render; a request itself is small.
const (
	webReadHeaderTimeout = 5 * time.Second
	webReadTimeout       = 10 * time.Second
	webWriteMargin       = 15 * time.Second
	webIdleTimeout       = 2 * time.Minute
	webMaxHeaderBytes    = 16 << 10
	webMaxBody           = 64 << 10
)

// webServer is the diagnostics page being served.
type webServer struct {
	h   *web.Handler
	srv *http.Server
	url string
}

// serveWeb starts the diagnostics page on f.listen over the decision
// layer of built, with the TLS of tlsSrv (nil: plain HTTP, refused off
// loopback unless insecureListen) and the allow-list of limits.
func serveWeb(f *webFlags, ec *config.EngineFlags, built *config.Built, tlsSrv *tlsconfig.Server, insecureListen bool,
	limits *server.Limits, tel *telemetry.Telemetry, logger *slog.Logger) (*webServer, error) {
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return nil, fmt.Errorf("--http-listen: %w", err)
	}
	if tlsSrv == nil && !insecureListen && !isLoopback(ln.Addr()) {
		ln.Close()
		return nil, fmt.Errorf("refusing to serve the web page without TLS on %s, which is not a loopback address: give --tls-cert and --tls-key (and --client-ca for mutual TLS), or --insecure-listen to accept plain HTTP there", ln.Addr())
	}
	checks, err := limit.New(limit.Config{Rate: f.rateLimit, Burst: f.rateBurst})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("--http-rate-limit: %w", err)
	}
	rechecks, err := limit.New(limit.Config{Rate: f.recheckLimit})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("--http-recheck-limit: %w", err)
	}
	metrics, err := telemetry.NewWebMetrics(tel.MeterProvider)
	if err != nil {
		ln.Close()
		return nil, err
	}
	timeout := ec.ValidateTimeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	h, err := web.New(web.Config{
		Validator:      built.Verdicts,
		Limiter:        checks,
		RecheckLimiter: rechecks,
		TLSRPT:         built.TLSRPTRecords,
		Timeout:        timeout,
		MaxBody:        webMaxBody,
		Metrics:        metrics,
		Logger:         logger,
		TracerProvider: tel.TracerProvider,
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	srv := &http.Server{
		Handler:           allowListed(h, limits),
		ReadHeaderTimeout: webReadHeaderTimeout,
		ReadTimeout:       webReadTimeout,
		WriteTimeout:      timeout + webWriteMargin,
		IdleTimeout:       webIdleTimeout,
		MaxHeaderBytes:    webMaxHeaderBytes,
		// Failed handshakes and malformed requests are the client's
		// business: kept out of the log unless --log-level debug.
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	scheme := "http"
	if tlsSrv != nil {
		scheme = "https"
		srv.TLSConfig = tlsSrv.HTTPConfig()
	}
	go func() {
		var err error
		if tlsSrv != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("web server", "err", err)
		}
	}()
	return &webServer{h: h, srv: srv, url: scheme + "://" + ln.Addr().String() + "/"}, nil
}

// drain answers new checks 503 from now on (the form and assets are
// still served): the start of the lame-duck period.
func (w *webServer) drain() {
	if w != nil {
		w.h.SetServing(false)
	}
}

// shutdown finishes the requests in flight, cutting them off after
// timeout.
func (w *webServer) shutdown(timeout time.Duration, logger *slog.Logger) {
	if w == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := w.srv.Shutdown(ctx); err != nil {
		logger.Warn("web requests cut off", "after", timeout)
		w.srv.Close()
	}
}

// close stops serving at once.
func (w *webServer) close() { w.srv.Close() }

// allowListed admits only the clients --client-allow lists, by the
// certificate their mutual TLS handshake verified, as the gRPC door does;
// without a list, everyone the handshake let in.
func allowListed(h http.Handler, limits *server.Limits) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var leaf *x509.Certificate
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
			leaf = r.TLS.VerifiedChains[0][0]
		}
		if !limits.Permits(leaf) {
			http.Error(w, "daned admits only listed clients: your client certificate is not on its allow-list", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}
