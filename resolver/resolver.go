package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/miekg/dns"
)

// udpSize is the EDNS0 payload size advertised (DNS Flag Day 2020): large
// enough for most TLSA and MX RRsets, small enough to avoid fragmentation.
const udpSize = 1232

// Lookup resolves name (any case, trailing dot optional) for qtype.
//
// UDP first, TCP retry when TC is set (RFC 7766 §5). A SERVFAIL without a
// DNSSEC cause is retried once at most; a DNSSEC failure is not retried (the
// validator caches its verdict). Timeouts are retried up to Config.Attempts,
// always within ctx's deadline. A cancelled or expired ctx yields ErrTimeout
// wrapping ctx.Err().
//
// A secure or insecure NXDOMAIN/NODATA is an *Answer. Every failure is a
// *QueryError wrapping one of the sentinels. An answer carrying EDE 3 or 19
// (stale), 4 (forged) or 15-17 (blocked, censored, filtered) is returned as
// ErrServFail: such data is never DANE input. An answer carrying a DNSSEC
// failure EDE (5-12) is ErrBogus whatever its rcode. An invalid name is a
// plain error (not a *QueryError) and nothing is sent.
func (r *Resolver) Lookup(ctx context.Context, name string, qtype uint16) (*Answer, error) {
	qname := dns.CanonicalName(name)
	if _, ok := dns.IsDomainName(qname); !ok || len(qname) > 255 {
		// A caller bug, not a DNS failure: no sentinel fits.
		return nil, fmt.Errorf("resolver: invalid query name %q", printable(name, 255))
	}

	servFailRetried := false
	var last error
	for attempt := 0; attempt < r.attempts; {
		if err := ctx.Err(); err != nil {
			return nil, r.timeoutErr(qname, qtype, err)
		}
		reply, err := r.exchange(ctx, qname, qtype)
		if err != nil {
			if ctx.Err() != nil {
				return nil, r.timeoutErr(qname, qtype, ctx.Err())
			}
			kind := classify(err)
			last = &QueryError{Name: qname, Type: qtype, Kind: kind, Rcode: -1, Err: err}
			if kind == ErrTimeout {
				attempt++
				continue
			}
			return nil, last
		}
		ans, err := parseReply(qname, qtype, reply, r.maxChain)
		if err != nil && errors.Is(err, ErrServFail) && !servFailRetried {
			// One retry: a transient upstream failure may clear, but
			// retrying a SERVFAIL forever hangs mail (RFC-NOTES §9).
			servFailRetried = true
			last = err
			continue
		}
		return ans, err
	}
	return nil, last
}

func (r *Resolver) timeoutErr(qname string, qtype uint16, cause error) error {
	return &QueryError{Name: qname, Type: qtype, Kind: ErrTimeout, Rcode: -1, Err: cause}
}

// exchange sends one query over UDP and, when the reply is truncated, again
// over TCP (RFC 7766 §5). Each call is bounded by the per-attempt timeout.
func (r *Resolver) exchange(ctx context.Context, qname string, qtype uint16) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	reply, err := r.x.Exchange(ctx, query(qname, qtype), "udp", r.server)
	if err != nil || reply == nil || !reply.Truncated {
		return reply, err
	}
	return r.x.Exchange(ctx, query(qname, qtype), "tcp", r.server)
}

// query builds the message: RD=1, CD=0 so that the upstream validates,
// DO=1 so that it sets AD (RFC 4035 §3.2.1, RFC 7672 §2.1.1).
func query(qname string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(qname, qtype) // also picks a random ID
	m.RecursionDesired = true
	m.CheckingDisabled = false
	m.SetEdns0(udpSize, true)
	return m
}

// classify maps an Exchanger error to a sentinel.
func classify(err error) error {
	var dnsErr *dns.Error
	var netErr net.Error
	switch {
	case errors.Is(err, ErrMalformed), errors.As(err, &dnsErr):
		return ErrMalformed
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return ErrTimeout
	default:
		return ErrNetwork
	}
}
