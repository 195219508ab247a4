package resolver

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Defaults for the zero values of Config.
const (
	DefaultServer   = "127.0.0.1:53"
	DefaultTimeout  = 2 * time.Second
	DefaultAttempts = 2
	DefaultMaxChain = 8
)

// Exchanger sends one DNS message to server over network ("udp" or "tcp")
// and returns the reply. It must honour ctx's deadline and cancellation.
// It should return an error wrapping ErrMalformed for a reply it could not
// parse. The default uses the network directly with miekg/dns; tests
// inject their own.
type Exchanger interface {
	Exchange(ctx context.Context, m *dns.Msg, network, server string) (*dns.Msg, error)
}

// Config configures upstream mode. Zero values are documented defaults.
type Config struct {
	// Server is the validating resolver as "host:port". "" means
	// 127.0.0.1:53; a bare host gets port 53; IPv6 as "[::1]:53" (a bare
	// "::1" is accepted too). The host must be an IP address or
	// "localhost": resolving a name here would need a resolver.
	Server string
	// Trusted allows a non-loopback Server: the operator vouches for the
	// channel (RFC 7672 §2.1.1, RFC 6698 §4.1). Otherwise New refuses it.
	Trusted bool
	// Timeout bounds each attempt; 0 means 2s. The context deadline wins
	// when it is sooner.
	Timeout time.Duration
	// Attempts is how many times a query that timed out is sent before
	// Lookup gives up; 0 means 2.
	Attempts int
	// MaxChain is the longest CNAME chain accepted; 0 means 8.
	MaxChain int
	// Exchanger sends the queries; nil means real UDP/TCP with miekg/dns.
	Exchanger Exchanger
}

// Resolver looks names up through a trusted validating resolver. It is
// safe for concurrent use.
type Resolver struct {
	server   string
	timeout  time.Duration
	attempts int
	maxChain int
	x        Exchanger
}

// New validates cfg and returns a Resolver.
func New(cfg Config) (*Resolver, error) {
	server, addr, err := parseServer(cfg.Server)
	if err != nil {
		return nil, err
	}
	if !cfg.Trusted && !addr.Unmap().IsLoopback() {
		return nil, fmt.Errorf("resolver %s is not on loopback; DNSSEC answers (the AD bit) can only be trusted over a trusted channel (RFC 7672 §2.1.1): run a validating resolver on this host or pass --resolver-trusted", server)
	}
	r := &Resolver{
		server:   server,
		timeout:  cfg.Timeout,
		attempts: cfg.Attempts,
		maxChain: cfg.MaxChain,
		x:        cfg.Exchanger,
	}
	switch {
	case r.timeout < 0:
		return nil, fmt.Errorf("resolver timeout %v is negative", cfg.Timeout)
	case r.timeout == 0:
		r.timeout = DefaultTimeout
	}
	switch {
	case r.attempts < 0:
		return nil, fmt.Errorf("resolver attempts %d is negative", cfg.Attempts)
	case r.attempts == 0:
		r.attempts = DefaultAttempts
	}
	switch {
	case r.maxChain < 0:
		return nil, fmt.Errorf("resolver max CNAME chain %d is negative", cfg.MaxChain)
	case r.maxChain == 0:
		r.maxChain = DefaultMaxChain
	}
	if r.x == nil {
		r.x = netExchanger{}
	}
	return r, nil
}

// Server returns the upstream as "host:port".
func (r *Resolver) Server() string { return r.server }

// parseServer normalizes s to "host:port" and returns the host's address.
func parseServer(s string) (string, netip.Addr, error) {
	if s == "" {
		s = DefaultServer
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		// No port: "127.0.0.1", "::1", "[::1]", "localhost".
		host, port = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), "53"
	}
	if strings.EqualFold(host, "localhost") {
		host = "127.0.0.1"
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return "", netip.Addr{}, fmt.Errorf("resolver address %q: host must be an IP address (a name would need a resolver to find the resolver)", s)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return "", netip.Addr{}, fmt.Errorf("resolver address %q: invalid port %q", s, port)
	}
	return net.JoinHostPort(addr.String(), strconv.FormatUint(p, 10)), addr, nil
}
