// Package fetch retrieves a domain's MTA-STS policy over HTTPS (RFC 8461
// §3.3): GET https://mta-sts.<domain>/.well-known/mta-sts.txt over TLS 1.2
// or later, with SNI mta-sts.<domain> and WebPKI validation of the
// certificate for that name; only HTTP 200 with a text/plain body of at
// most 64 KiB counts, redirects are not followed, and the whole fetch
// runs under a deadline. The body is parsed with mtasts.ParsePolicy.
//
// The policy host is named by a stranger's DNS, so it obeys a
// probe.TargetPolicy like the SMTP probes do: its addresses come from an
// injected Lookup (the engine plugs in its DNSSEC-aware resolver), each is
// checked against the policy, and only permitted addresses are dialled.
// net/http never resolves a name itself and no proxy from the environment
// is used.
//
// Failures are *Error values whose Reason is one of
// mtasts.ReasonPolicyFetchFailed, mtasts.ReasonWebPKIInvalid and
// mtasts.ReasonPolicyInvalid, the RFC 8460 sts-* result types.
//
// Each fetch is a client span, mta_sts.fetch, with the policy host, the
// URL, the HTTP status and the outcome.
//
// It does not look up the _mta-sts TXT record, cache, retry, or back off:
// that is package mtasts/manager.
package fetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/daned/daned/dnsname"
	"github.com/daned/daned/mtasts"
	"github.com/daned/daned/probe"
)

// DefaultTimeout bounds a fetch when Config.Timeout is zero: the one
// minute RFC 8461 §3.3 suggests.
const DefaultTimeout = time.Minute

// DefaultConnectTimeout bounds each TCP connection attempt when
// Config.Dialer is nil.
const DefaultConnectTimeout = 10 * time.Second

// Lookup resolves the policy host's addresses.
type Lookup interface {
	// LookupAddrs returns the IPv4 and IPv6 addresses of host (a name
	// such as "mta-sts.example.com"). An insecure answer is fine for
	// MTA-STS; a DNSSEC-bogus one must be an error. No addresses and no
	// error means the name has none.
	LookupAddrs(ctx context.Context, host string) ([]netip.Addr, error)
}

// LookupFunc adapts a function to Lookup.
type LookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

// LookupAddrs calls f.
func (f LookupFunc) LookupAddrs(ctx context.Context, host string) ([]netip.Addr, error) {
	return f(ctx, host)
}

// Config configures a Fetcher. Only Lookup is required.
type Config struct {
	// Lookup resolves mta-sts.<domain>. Required.
	Lookup Lookup
	// Targets decides which addresses may be dialled. The zero value is
	// the strict default: no loopback, private or otherwise internal
	// addresses (see probe.TargetPolicy).
	Targets probe.TargetPolicy
	// Roots are the WebPKI roots the policy host's certificate must chain
	// to. Nil means the system roots (x509.SystemCertPool), which on Linux
	// honours SSL_CERT_FILE and SSL_CERT_DIR when the process first loads
	// them; tests either set SSL_CERT_FILE before that or pass a pool.
	Roots *x509.CertPool
	// Timeout bounds one fetch: lookup, connection, TLS, request and body.
	// Zero means DefaultTimeout.
	Timeout time.Duration
	// Port is the HTTPS port. Zero means 443; tests use their loopback
	// server's port.
	Port uint16
	// Dialer makes the TCP connections, one address after the other.
	// Nil means a net.Dialer with DefaultConnectTimeout, so that one
	// silent address does not use up the whole deadline.
	Dialer *net.Dialer
	// TracerProvider makes a span per fetch ("mta_sts.fetch"), under
	// which the address lookup's spans appear; nil means the global
	// provider (otel.GetTracerProvider), a no-op until one is set.
	TracerProvider trace.TracerProvider
}

// Fetcher fetches policies. It is safe for concurrent use.
type Fetcher struct {
	cfg    Config
	roots  *x509.CertPool
	tracer trace.Tracer
}

// New validates cfg and returns a Fetcher. With nil Roots it loads the
// system roots now, so that a missing pool is an error at start rather
// than at the first fetch.
func New(cfg Config) (*Fetcher, error) {
	if cfg.Lookup == nil {
		return nil, errors.New("fetch: Config.Lookup is required")
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("fetch: negative Timeout %v", cfg.Timeout)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Port == 0 {
		cfg.Port = 443
	}
	if cfg.Dialer == nil {
		cfg.Dialer = &net.Dialer{Timeout: DefaultConnectTimeout}
	}
	roots := cfg.Roots
	if roots == nil {
		var err error
		if roots, err = x509.SystemCertPool(); err != nil {
			return nil, fmt.Errorf("fetch: loading the system roots: %w", err)
		}
	}
	if cfg.TracerProvider == nil {
		cfg.TracerProvider = otel.GetTracerProvider()
	}
	return &Fetcher{cfg: cfg, roots: roots, tracer: cfg.TracerProvider.Tracer("github.com/daned/daned/mtasts/fetch")}, nil
}

// Result is a fetched, valid policy.
type Result struct {
	Policy mtasts.Policy
	// Text is the body exactly as served.
	Text string
	// Addr is the address that served it.
	Addr netip.AddrPort
}

// Error is why a fetch failed.
type Error struct {
	// Reason is mtasts.ReasonPolicyFetchFailed, mtasts.ReasonWebPKIInvalid
	// or mtasts.ReasonPolicyInvalid.
	Reason mtasts.Reason
	// Host is the policy host, mta-sts.<domain>.
	Host string
	// Detail is safe to show to an administrator.
	Detail string
	// Err is the underlying error, if any.
	Err error
}

func (e *Error) Error() string {
	return fmt.Sprintf("mta-sts policy fetch from %s: %s: %s", e.Host, e.Reason, e.Detail)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Path is where a policy host serves the policy (RFC 8461 §3.2).
const Path = "/.well-known/mta-sts.txt"

// Fetch retrieves and parses the policy of domain (any case, trailing dot
// optional). It returns a *Error on failure.
func (f *Fetcher) Fetch(ctx context.Context, domain string) (Result, error) {
	ctx, span := f.tracer.Start(ctx, "mta_sts.fetch", trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	res, err := f.fetch(ctx, domain)
	var fe *Error
	if errors.As(err, &fe) {
		span.SetAttributes(attribute.String("server.address", fe.Host), attribute.String("mta_sts.failure", fe.Reason.ResultType()))
		span.SetStatus(codes.Error, fe.Detail)
	} else if err == nil {
		span.SetAttributes(attribute.String("mta_sts.mode", res.Policy.Mode.String()),
			attribute.String("network.peer.address", res.Addr.Addr().String()), attribute.Int("network.peer.port", int(res.Addr.Port())),
			attribute.Int("http.response.body.size", len(res.Text)))
	}
	return res, err
}

func (f *Fetcher) fetch(ctx context.Context, domain string) (Result, error) {
	d, err := dnsname.Normalize(domain)
	host := "mta-sts." + d
	if err != nil {
		return Result{}, &Error{Reason: mtasts.ReasonPolicyFetchFailed, Host: "mta-sts." + domain, Detail: "invalid domain", Err: err}
	}
	fail := func(r mtasts.Reason, err error, format string, args ...any) (Result, error) {
		return Result{}, &Error{Reason: r, Host: host, Detail: fmt.Sprintf(format, args...), Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()

	addrs, err := f.cfg.Lookup.LookupAddrs(ctx, host)
	if err != nil {
		return fail(mtasts.ReasonPolicyFetchFailed, err, "address lookup failed: %v", err)
	}
	if len(addrs) == 0 {
		return fail(mtasts.ReasonPolicyFetchFailed, nil, "the policy host has no addresses")
	}
	var permitted, refused []string
	var dial []netip.AddrPort
	for _, a := range addrs {
		if ok, why := f.cfg.Targets.Permitted(a); !ok {
			refused = append(refused, a.String()+" ("+why+")")
			continue
		}
		ap := netip.AddrPortFrom(a.Unmap().WithZone(""), f.cfg.Port)
		dial = append(dial, ap)
		permitted = append(permitted, ap.String())
	}
	if len(dial) == 0 {
		return fail(mtasts.ReasonPolicyFetchFailed, nil, "no permitted address: %s", strings.Join(refused, ", "))
	}

	var (
		mu     sync.Mutex
		served netip.AddrPort
	)
	transport := &http.Transport{
		Proxy: nil, // never a proxy from the environment
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			// The address net/http asks for is ignored: it would resolve
			// the name itself. Only the permitted addresses are dialled.
			var errs []error
			for _, ap := range dial {
				c, err := f.cfg.Dialer.DialContext(ctx, "tcp", ap.String())
				if err == nil {
					mu.Lock()
					served = ap
					mu.Unlock()
					return c, nil
				}
				errs = append(errs, err)
				if ctx.Err() != nil {
					break
				}
			}
			return nil, errors.Join(errs...)
		},
		TLSClientConfig: &tls.Config{
			ServerName: host,
			RootCAs:    f.roots,
			MinVersion: tls.VersionTLS12,
		},
		DisableKeepAlives:  true,
		DisableCompression: true,
		MaxIdleConns:       -1,
		// A policy host that answers with an endless header is cut by the
		// deadline; bound the header size too.
		MaxResponseHeaderBytes: 64 << 10,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // RFC 8461 §3.3: redirects are not followed
		},
	}
	target := "https://" + host
	if f.cfg.Port != 443 {
		target += ":" + strconv.Itoa(int(f.cfg.Port))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target+Path, nil)
	if err != nil {
		return fail(mtasts.ReasonPolicyFetchFailed, err, "building the request: %v", err)
	}
	req.Header.Set("User-Agent", "daned (MTA-STS, RFC 8461)")
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("server.address", host), attribute.String("url.full", req.URL.String()))
	resp, err := client.Do(req)
	if err != nil {
		if isWebPKI(err) {
			return fail(mtasts.ReasonWebPKIInvalid, err, "the certificate of %s is not valid: %v", host, unwrapURL(err))
		}
		if ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
			return fail(mtasts.ReasonPolicyFetchFailed, err, "no complete answer within %v from %s", f.cfg.Timeout, strings.Join(permitted, ", "))
		}
		return fail(mtasts.ReasonPolicyFetchFailed, err, "%v", unwrapURL(err))
	}
	defer resp.Body.Close()
	trace.SpanFromContext(ctx).SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode != http.StatusOK {
		if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && loc != "" {
			return fail(mtasts.ReasonPolicyFetchFailed, nil, "HTTP %d redirect to %q, not followed (RFC 8461 §3.3)", resp.StatusCode, clip(loc))
		}
		return fail(mtasts.ReasonPolicyFetchFailed, nil, "HTTP %d, want 200 (RFC 8461 §3.3)", resp.StatusCode)
	}
	ct := resp.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "text/plain" {
		return fail(mtasts.ReasonPolicyFetchFailed, err, "Content-Type %q, want text/plain (RFC 8461 §3.2)", clip(ct))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, mtasts.MaxPolicySize+1))
	if err != nil {
		if ctx.Err() != nil {
			return fail(mtasts.ReasonPolicyFetchFailed, err, "no complete body within %v", f.cfg.Timeout)
		}
		return fail(mtasts.ReasonPolicyFetchFailed, err, "reading the body: %v", err)
	}
	if len(body) > mtasts.MaxPolicySize {
		return fail(mtasts.ReasonPolicyFetchFailed, nil, "the body is larger than %d bytes (RFC 8461 §3.3)", mtasts.MaxPolicySize)
	}
	text := string(body)
	p, err := mtasts.ParsePolicy(text)
	if err != nil {
		return fail(mtasts.ReasonPolicyInvalid, err, "%v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return Result{Policy: p, Text: text, Addr: served}, nil
}

// isWebPKI reports whether err is a failure to validate the policy host's
// certificate, as opposed to a failure to reach it.
func isWebPKI(err error) bool {
	var (
		verr *tls.CertificateVerificationError
		uerr x509.UnknownAuthorityError
		herr x509.HostnameError
		cerr x509.CertificateInvalidError
	)
	return errors.As(err, &verr) || errors.As(err, &uerr) || errors.As(err, &herr) || errors.As(err, &cerr)
}

// unwrapURL drops net/http's `Get "https://…":` prefix, which repeats the
// host the detail already names.
func unwrapURL(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}

func clip(s string) string {
	const max = 128
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
