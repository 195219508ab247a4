package socketmap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/daned/daned/cache"
	"github.com/daned/daned/engine"
)

// Validator answers validations: the engine, or the decision layer above
// it with its verdict cache. Requests are always policy-only
// (engine.Options{PolicyOnly: true}): Postfix makes the TLS connection
// itself.
type Validator interface {
	Validate(ctx context.Context, domain string, opts engine.Options) (*engine.Result, error)
}

// CachedValidator is a Validator with a verdict cache it can answer from
// without waiting (*cache.Validator, the decision layer). With one, and
// with the policy taken from the validation (Config.STS nil), a cached
// verdict is answered from the replies rendered when it was first asked
// for, kept with the verdict, which is what makes a cached answer cost
// little more than the network.
type CachedValidator interface {
	Validator
	Cached(ctx context.Context, domain string, opts engine.Options) (cache.Decision, bool)
}

// STSSource returns the MTA-STS policy of a domain (RFC 8461) for the
// reply. It is asked only when DANE does not decide the domain. It
// returns nil and no error when the domain has no policy; a policy that
// applies but could not be had is an STS with Failure set. An error
// means the question could not be answered now (the reply is TEMP, or
// TIMEOUT when ctx ran out).
type STSSource interface {
	Policy(ctx context.Context, domain string) (*STS, error)
}

// Limiter is a per-caller admission check (*limit.Buckets, which daned
// shares with the gRPC door): Allow spends one request of caller's
// allowance and says whether it was there. A connection's caller is
// limit.Key of its address, as the gRPC door keys callers without a
// client certificate, so a client has a single allowance across both
// doors.
type Limiter interface {
	Allow(caller string) bool
}

// Metrics records socketmap requests. telemetry.SocketmapMetrics
// implements it.
type Metrics interface {
	// Request records one answered request: its map name ("QUERY",
	// "QUERYwithTLSRPT", or "other"), the reply word ("OK", "NOTFOUND",
	// "TEMP", "TIMEOUT", "PERM"), the policy of an OK reply
	// ("dane-only", "dane", "secure"; "" otherwise) and how long it took.
	Request(ctx context.Context, name, reply, policy string, d time.Duration)
	// Connections moves the number of open connections by delta.
	Connections(ctx context.Context, delta int64)
	// Refused counts a connection or request turned away:
	// "max_connections", "rate_limited", "oversize", "malformed" or
	// "read_timeout".
	Refused(ctx context.Context, reason string)
}

// Config configures a Server. Zero values are the documented defaults.
type Config struct {
	// Validator answers the policy-only validations. Required.
	Validator Validator
	// STS supplies MTA-STS policies; nil means the policy the validation
	// itself found (STSOf: the engine's MTA-STS result, from the same
	// decision layer and cache as the rest of the verdict).
	STS STSSource
	// RequestTimeout bounds the answer to one request; past it the reply
	// is TIMEOUT. 0 means 30s. Keep it well under Postfix's own 100 s
	// limit, so that Postfix hears TIMEOUT rather than nothing.
	RequestTimeout time.Duration
	// IdleTimeout is how long a connection without unanswered requests
	// may wait for the first byte of the next one. 0 means 120s (Postfix
	// closes idle connections after 10 s and any after 100 s; the server
	// never closes first). A connection with an unanswered request is
	// never closed for idleness.
	IdleTimeout time.Duration
	// ReadTimeout bounds the reading of one request once its first byte
	// arrived, so that a client dripping bytes (slowloris) cannot hold a
	// connection. 0 means 10s. Past it the connection ends after the
	// replies already owed.
	ReadTimeout time.Duration
	// WriteTimeout bounds each write of replies; a client that does not
	// read them loses its connection. 0 means 30s.
	WriteTimeout time.Duration
	// MaxConns bounds the open connections; a connection past it is
	// closed at once (Postfix retries once, then defers the mail). 0
	// means 4096.
	MaxConns int
	// MaxPipeline bounds the unanswered requests of one connection; the
	// server reads no further request until one is answered. 0 means 64.
	MaxPipeline int
	// Limiter admits each domain request of a caller; nil admits all. A
	// refused request gets TEMP.
	Limiter Limiter
	// Metrics records requests; nil records nothing.
	Metrics Metrics
	// TracerProvider makes a span per request; nil means the global
	// provider.
	TracerProvider trace.TracerProvider
	// Logger receives a debug record per request and warnings; nil means
	// slog.Default().
	Logger *slog.Logger
}

// ErrServerClosed is returned by Serve after Close or Shutdown.
var ErrServerClosed = errors.New("socketmap: server closed")

// Server answers Postfix socketmap requests. It is safe for concurrent
// use.
type Server struct {
	cfg    Config
	log    *slog.Logger
	tracer trace.Tracer
	cached CachedValidator // cfg.Validator's verdict cache, when the replies can be kept with it

	baseCtx context.Context // cancelled by Close: every request ends
	cancel  context.CancelFunc

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	shutdown  bool
	connWG    sync.WaitGroup
	open      atomic.Int64
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Validator == nil {
		return nil, errors.New("socketmap: a validator is required")
	}
	if cfg.RequestTimeout < 0 || cfg.IdleTimeout < 0 || cfg.ReadTimeout < 0 || cfg.WriteTimeout < 0 || cfg.MaxConns < 0 || cfg.MaxPipeline < 0 {
		return nil, errors.New("socketmap: timeouts and limits must not be negative")
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 120 * time.Second
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 10 * time.Second
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 4096
	}
	if cfg.MaxPipeline == 0 {
		cfg.MaxPipeline = 64
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
	s := &Server{cfg: cfg, log: cfg.Logger, tracer: cfg.TracerProvider.Tracer("github.com/daned/daned/socketmap"),
		listeners: map[net.Listener]struct{}{}, conns: map[*conn]struct{}{}}
	if cv, ok := cfg.Validator.(CachedValidator); ok && cfg.STS == nil {
		s.cached = cv
	}
	s.baseCtx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Listen opens the listener of a --socketmap-listen value: "host:port"
// for TCP, or a path (containing '/') for a UNIX-domain socket, the form
// a chrooted Postfix reaches inside its chroot. A socket file left by a
// process that is gone is replaced; one that still answers is not. The
// socket is made accessible to every local user (the Postfix user must
// connect; the answers are public DNS facts): restrict access with the
// directory's permissions.
func Listen(addr string) (net.Listener, error) {
	if !strings.Contains(addr, "/") {
		return net.Listen("tcp", addr)
	}
	if fi, err := os.Lstat(addr); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("socketmap: %s exists and is not a socket", addr)
		}
		if c, err := net.DialTimeout("unix", addr, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("socketmap: %s is in use by another server", addr)
		}
		if err := os.Remove(addr); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("unix", addr)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(addr, 0o666); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// Serve accepts connections on ln and answers them until Close or
// Shutdown, then returns ErrServerClosed. It closes ln when it returns.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) || isTemporary(err) {
				// Out of file descriptors and the like: wait, as net/http
				// does, rather than spin or give up.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("socketmap: accept failed; retrying", slog.Any("error", err), slog.Duration("backoff", backoff))
				select {
				case <-time.After(backoff):
				case <-s.baseCtx.Done():
					return ErrServerClosed
				}
				continue
			}
			return err
		}
		backoff = 0
		s.accept(nc)
	}
}

// isTemporary reports an accept error worth retrying (EMFILE, ENFILE,
// ECONNABORTED and the like report Temporary).
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (s *Server) closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shutdown
}

// accept starts serving one connection, or closes it at once when the
// server is at MaxConns or shutting down.
func (s *Server) accept(nc net.Conn) {
	if s.open.Add(1) > int64(s.cfg.MaxConns) {
		s.open.Add(-1)
		s.cfg.Metrics.Refused(s.baseCtx, "max_connections")
		nc.Close()
		return
	}
	c := newConn(s, nc)
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		s.open.Add(-1)
		nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.connWG.Add(1)
	s.mu.Unlock()
	s.cfg.Metrics.Connections(s.baseCtx, 1)
	go c.serve()
}

// forget drops a finished connection.
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.open.Add(-1)
	s.cfg.Metrics.Connections(s.baseCtx, -1)
	s.connWG.Done()
}

// Shutdown stops accepting connections and reading requests, answers
// every request already read, then closes each connection; it returns
// once all are closed. When ctx ends first it closes everything at once
// (as Close) and returns ctx's error. Postfix retries a lookup once on a
// closed connection, so a restart is transparent to it.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	for ln := range s.listeners {
		ln.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.stopReading()
	}
	done := make(chan struct{})
	go func() {
		s.connWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.Close()
		<-done
		return ctx.Err()
	}
}

// Close closes the listeners and every connection at once; requests
// being answered are cancelled. Prefer Shutdown.
func (s *Server) Close() error {
	s.mu.Lock()
	s.shutdown = true
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.cancel()
	return nil
}

type noMetrics struct{}

func (noMetrics) Request(context.Context, string, string, string, time.Duration) {}
func (noMetrics) Connections(context.Context, int64)                             {}
func (noMetrics) Refused(context.Context, string)                                {}
