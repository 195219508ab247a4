package server

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	grpccodes "google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/daned/daned/limit"
)

// LimitsConfig configures the admission checks every call passes before
// it reaches the service: the client allow-list and the per-caller rate
// limit. Zero values are the documented defaults.
type LimitsConfig struct {
	// Allow lists the client identities that may call: a DNS name (SAN),
	// a URI (SAN) or a subject common name of the client certificate
	// verified by mutual TLS. Empty means any caller (with mutual TLS,
	// any the client CA vouches for). When set, a caller without a
	// verified certificate, or whose certificate names none of them, gets
	// PermissionDenied. Health checks are exempt, so a load balancer
	// needs no listed identity.
	Allow []string
	// Rate is the sustained requests per second allowed to each caller;
	// 0 means no rate limit. A ValidateStream counts each request
	// message it carries.
	Rate float64
	// Burst is the size of each caller's token bucket; 0 means the rate
	// rounded up (at least 1).
	Burst int
	// MaxCallers bounds the callers whose buckets are kept; the least
	// recently seen is forgotten first (it then starts again with a full
	// bucket). 0 means 16384.
	MaxCallers int
	// Now is the clock of the token buckets; nil means time.Now.
	Now func() time.Time
}

// Limits is the admission control of the gRPC server: an allow-list of
// client identities and a token bucket per caller. A caller is the
// identity of its verified client certificate when there is one, else its
// IP address (an IPv6 address by its /64, the usual assignment to one
// host or site). Health checks and server reflection are never rate
// limited.
type Limits struct {
	allow   map[string]bool // lower-cased DNS names, and URIs and common names as given
	buckets *limit.Buckets
	denied  atomic.Uint64
}

// NewLimits returns the admission checks of cfg.
func NewLimits(cfg LimitsConfig) (*Limits, error) {
	b, err := limit.New(limit.Config{Rate: cfg.Rate, Burst: cfg.Burst, MaxCallers: cfg.MaxCallers, Now: cfg.Now})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	l := &Limits{buckets: b}
	for _, a := range cfg.Allow {
		if a = strings.TrimSpace(a); a != "" {
			if l.allow == nil {
				l.allow = map[string]bool{}
			}
			l.allow[normalizeIdentity(a)] = true
		}
	}
	return l, nil
}

// normalizeIdentity compares DNS names without regard to case or a
// trailing dot; a URI or common name with a colon, slash or space is
// kept as it is.
func normalizeIdentity(s string) string {
	if strings.ContainsAny(s, ":/ ") {
		return s
	}
	return strings.TrimSuffix(strings.ToLower(s), ".")
}

// ServerOptions returns the interceptors to give grpc.NewServer. They run
// first, before the stats handler's spans see the service.
func (l *Limits) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(l.UnaryInterceptor()), grpc.ChainStreamInterceptor(l.StreamInterceptor())}
}

// LimitStats counts the calls the checks refused.
type LimitStats struct {
	RateLimited uint64 // requests refused with ResourceExhausted
	Denied      uint64 // calls refused with PermissionDenied
	Callers     int    // token buckets held now
}

// Stats returns what the checks have refused so far.
func (l *Limits) Stats() LimitStats {
	return LimitStats{RateLimited: l.buckets.Limited(), Denied: l.denied.Load(), Callers: l.buckets.Callers()}
}

// Buckets returns the per-caller rate limit, for the other front doors
// to share: a caller keyed by its address (limit.Key) draws on one
// allowance whichever door it uses.
func (l *Limits) Buckets() *limit.Buckets { return l.buckets }

// UnaryInterceptor checks the allow-list and takes one token from the
// caller's bucket.
func (l *Limits) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		caller, err := l.admit(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		if caller != "" {
			if err := l.take(caller); err != nil {
				return nil, err
			}
		}
		return handler(ctx, req)
	}
}

// StreamInterceptor checks the allow-list when a stream opens and takes
// one token from the caller's bucket for each message the caller sends.
// A message over the limit ends the stream with ResourceExhausted
// (requests already accepted are still answered).
func (l *Limits) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		caller, err := l.admit(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		if caller == "" {
			return handler(srv, ss)
		}
		ls := &limitedStream{ServerStream: ss, l: l, caller: caller}
		err = handler(srv, ls)
		if ls.refused != nil {
			// The handler may have wrapped the refusal; the caller must
			// see ResourceExhausted.
			return ls.refused
		}
		return err
	}
}

type limitedStream struct {
	grpc.ServerStream
	l       *Limits
	caller  string
	refused error
}

func (s *limitedStream) RecvMsg(m any) error {
	if s.refused != nil {
		return s.refused
	}
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if err := s.l.take(s.caller); err != nil {
		s.refused = err
		return err
	}
	return nil
}

// exemptFromRate says whether method belongs to a service that is never
// rate limited: health checks must reach the server while its callers
// are throttled, and reflection is an operator's occasional tool.
func exemptFromRate(method string) bool {
	return strings.HasPrefix(method, "/grpc.health.v1.Health/") ||
		strings.HasPrefix(method, "/grpc.reflection.v1.ServerReflection/") ||
		strings.HasPrefix(method, "/grpc.reflection.v1alpha.ServerReflection/")
}

// admit applies the allow-list to a call and returns the caller whose
// bucket it draws on, "" when the call is not rate limited.
func (l *Limits) admit(ctx context.Context, method string) (string, error) {
	p, _ := peer.FromContext(ctx)
	leaf := verifiedLeaf(p)
	if len(l.allow) > 0 && !strings.HasPrefix(method, "/grpc.health.v1.Health/") {
		if leaf == nil {
			l.denied.Add(1)
			return "", status.Error(grpccodes.PermissionDenied, "daned admits only listed clients: present a client certificate")
		}
		if !l.allowed(leaf) {
			l.denied.Add(1)
			return "", status.Errorf(grpccodes.PermissionDenied, "client %q is not on daned's allow-list", describe(leaf))
		}
	}
	if !l.buckets.Enabled() || exemptFromRate(method) {
		return "", nil
	}
	return callerOf(p, leaf), nil
}

// Permits applies the allow-list to a caller of another front door (the
// diagnostics page over HTTPS) by the client certificate its mutual TLS
// handshake verified, nil when there is none: true when no list is set
// or the certificate names a listed identity. A refusal counts in
// Stats().Denied, as a gRPC call's does.
func (l *Limits) Permits(leaf *x509.Certificate) bool {
	if len(l.allow) == 0 {
		return true
	}
	if leaf == nil || !l.allowed(leaf) {
		l.denied.Add(1)
		return false
	}
	return true
}

func (l *Limits) allowed(leaf *x509.Certificate) bool {
	for _, id := range ClientIdentities(leaf) {
		if l.allow[normalizeIdentity(id)] {
			return true
		}
	}
	return false
}

// take spends one token of caller's bucket, or says why not.
func (l *Limits) take(caller string) error {
	if l.buckets.Allow(caller) {
		return nil
	}
	return status.Errorf(grpccodes.ResourceExhausted, "rate limit exceeded: daned allows each caller %s; slow down and retry", l.buckets.Describe())
}

// verifiedLeaf is the client certificate that the TLS handshake verified
// against the client CA, nil when there is none (no TLS, no mutual TLS).
// An unverified certificate never names a caller.
func verifiedLeaf(p *peer.Peer) *x509.Certificate {
	if p == nil {
		return nil
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.VerifiedChains[0]) == 0 {
		return nil
	}
	return ti.State.VerifiedChains[0][0]
}

// ClientIdentities returns the names a client certificate may be listed
// by: its DNS SANs, its URI SANs, then its subject common name.
func ClientIdentities(c *x509.Certificate) []string {
	var ids []string
	ids = append(ids, c.DNSNames...)
	for _, u := range c.URIs {
		ids = append(ids, u.String())
	}
	if c.Subject.CommonName != "" {
		ids = append(ids, c.Subject.CommonName)
	}
	return ids
}

// describe names a client certificate in an error: its first identity.
func describe(c *x509.Certificate) string {
	if ids := ClientIdentities(c); len(ids) > 0 {
		return ids[0]
	}
	return c.Subject.String()
}

// callerOf keys the token bucket of a call: the verified client
// certificate's first identity (several connections of one client share
// a bucket), else its address as every door keys it (limit.Key).
func callerOf(p *peer.Peer, leaf *x509.Certificate) string {
	if leaf != nil {
		return "cert:" + describe(leaf)
	}
	if p == nil {
		return "unknown"
	}
	return limit.Key(p.Addr)
}

// String describes the limits for the start-up log.
func (l *Limits) String() string {
	return fmt.Sprintf("rate %s, %d listed clients", l.buckets, len(l.allow))
}
