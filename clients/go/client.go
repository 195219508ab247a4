package daneclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	danev1 "github.com/daned/daned/proto/dane/v1"
)

// Client is a connection to daned. It is safe for concurrent use; make
// one per process and share it.
type Client struct {
	conn *grpc.ClientConn
	api  danev1.DaneServiceClient
	o    options
}

type options struct {
	tls         *tls.Config
	insecure    bool
	timeout     time.Duration
	maxAttempts int
	backoff     time.Duration
	maxBackoff  time.Duration
	now         func() time.Time
	dialOpts    []grpc.DialOption
	roots       *x509.CertPool
}

// Option configures Dial.
type Option func(*options)

// WithTLS sets the TLS configuration of the connection to daned; give it
// Certificates for mutual TLS and RootCAs for a private CA. Without
// WithTLS or WithInsecure, Dial uses TLS 1.2 or later with the system
// roots.
func WithTLS(cfg *tls.Config) Option { return func(o *options) { o.tls, o.insecure = cfg, false } }

// WithInsecure talks to daned without TLS: for daned on loopback or in
// the same pod only.
func WithInsecure() Option { return func(o *options) { o.insecure, o.tls = true, nil } }

// WithTimeout bounds each attempt of a call; zero leaves only the
// caller's context. The default is 30 seconds, enough for a validation
// with probes.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithMaxAttempts sets how many times a call is tried when daned answers
// Unavailable (no other status is retried); 1 disables retries. The
// default is 4.
func WithMaxAttempts(n int) Option { return func(o *options) { o.maxAttempts = n } }

// WithBackoff sets the wait before the first retry and its bound: the
// wait doubles after each attempt up to max. The default is 100ms up to
// 2s.
func WithBackoff(initial, max time.Duration) Option {
	return func(o *options) { o.backoff, o.maxBackoff = initial, max }
}

// WithClock sets the clock of the DANE-TA validity checks that
// TLSConfig's VerifyConnection makes; nil means time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithWebPKIRoots sets the roots that TLSConfig's VerifyConnection
// checks the chain of an MX host under an enforced MTA-STS policy against
// (RFC 8461 §4.2); nil, the default, means the system roots, which honour
// SSL_CERT_FILE and SSL_CERT_DIR.
func WithWebPKIRoots(roots *x509.CertPool) Option { return func(o *options) { o.roots = roots } }

// WithDialOptions passes extra options to grpc.NewClient (interceptors,
// a stats handler for tracing, keepalive).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOpts = append(o.dialOpts, opts...) }
}

// Dial returns a client of the daned at target ("host:port", or any
// gRPC target). Like grpc.NewClient it does not connect until the first
// call.
func Dial(target string, opts ...Option) (*Client, error) {
	o := options{timeout: 30 * time.Second, maxAttempts: 4, backoff: 100 * time.Millisecond, maxBackoff: 2 * time.Second, now: time.Now}
	for _, f := range opts {
		f(&o)
	}
	if o.maxAttempts < 1 {
		return nil, errors.New("daneclient: max attempts must be at least 1")
	}
	if o.timeout < 0 || o.backoff < 0 || o.maxBackoff < o.backoff {
		return nil, errors.New("daneclient: timeout and backoff must not be negative, max backoff not below the initial one")
	}
	if o.now == nil {
		o.now = time.Now
	}
	var creds credentials.TransportCredentials
	switch {
	case o.insecure:
		creds = insecure.NewCredentials()
	case o.tls != nil:
		creds = credentials.NewTLS(o.tls)
	default:
		creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
	}
	conn, err := grpc.NewClient(target, append([]grpc.DialOption{grpc.WithTransportCredentials(creds)}, o.dialOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("daneclient: %w", err)
	}
	return &Client{conn: conn, api: danev1.NewDaneServiceClient(conn), o: o}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Validate asks for the verdict of a destination domain, with a STARTTLS
// probe of every MX address. A verdict is data: a domain that fails DANE
// is a nil error and a response with action DEFER or REJECT. Errors are
// about the call (a malformed domain is codes.InvalidArgument; use
// status.Code).
func (c *Client) Validate(ctx context.Context, domain string) (*danev1.ValidateResponse, error) {
	return call(withDomain(ctx, domain), c, func(ctx context.Context) (*danev1.ValidateResponse, error) {
		return c.api.Validate(ctx, &danev1.ValidateRequest{Domain: domain})
	})
}

// Policy is Validate without the probes (policy_only): DNS only, for a
// caller that makes its own TLS connections and enforces each host's
// host_policy itself, as HostTLSConfig does.
func (c *Client) Policy(ctx context.Context, domain string) (*danev1.ValidateResponse, error) {
	return call(withDomain(ctx, domain), c, func(ctx context.Context) (*danev1.ValidateResponse, error) {
		return c.api.Validate(ctx, &danev1.ValidateRequest{Domain: domain, PolicyOnly: true})
	})
}

// VerifyPeer has daned authenticate the chain (DER, server certificate
// first, as tls.ConnectionState.PeerCertificates[i].Raw) that mxHost
// presented to the caller against that host's TLSA records. Read the
// answer as dane.proto's VerifyPeerResponse says: reason OK means the
// connection may carry the mail, verified that it is DANE-authenticated.
func (c *Client) VerifyPeer(ctx context.Context, domain, mxHost string, chain [][]byte) (*danev1.VerifyPeerResponse, error) {
	return call(withDomain(ctx, domain), c, func(ctx context.Context) (*danev1.VerifyPeerResponse, error) {
		return c.api.VerifyPeer(ctx, &danev1.VerifyPeerRequest{Domain: domain, MxHost: mxHost, Chain: chain})
	})
}

// Invalidate has daned drop what it has cached about a domain (its
// verdicts, and the DNS answers, probe results and MTA-STS policy they
// rest on), so that the next answer is fresh; replicas that share a
// store pass it on to each other. The response names the domain as
// normalised and how many entries were dropped.
func (c *Client) Invalidate(ctx context.Context, domain string) (*danev1.InvalidateResponse, error) {
	return call(withDomain(ctx, domain), c, func(ctx context.Context) (*danev1.InvalidateResponse, error) {
		return c.api.Invalidate(ctx, &danev1.InvalidateRequest{Domain: domain})
	})
}

// call runs f with the per-attempt timeout, retrying on Unavailable with
// exponential backoff until the attempts or the caller's context run out.
func call[T any](ctx context.Context, c *Client, f func(context.Context) (T, error)) (T, error) {
	wait := c.o.backoff
	for attempt := 1; ; attempt++ {
		actx, cancel := ctx, context.CancelFunc(func() {})
		if c.o.timeout > 0 {
			actx, cancel = context.WithTimeout(ctx, c.o.timeout)
		}
		r, err := f(actx)
		cancel()
		if err == nil || status.Code(err) != codes.Unavailable || attempt >= c.o.maxAttempts {
			return r, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return r, err
		case <-t.C:
		}
		wait = min(2*wait, c.o.maxBackoff)
	}
}
