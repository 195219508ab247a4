package resolver

import (
	"errors"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// Sentinel errors, wrapped by QueryError; compare with errors.Is.
var (
	// ErrServFail: the upstream answered SERVFAIL with no DNSSEC cause,
	// or answered with data that must not be used for DANE (stale or
	// filtered data, see Lookup).
	ErrServFail = errors.New("SERVFAIL")
	// ErrBogus: DNSSEC validation failed (SERVFAIL with EDE 6-12), or
	// the state is indeterminate (EDE 5). QueryError.Security says which.
	ErrBogus = errors.New("DNSSEC validation failed")
	// ErrTimeout: no reply within the attempts and the deadline, or the
	// context was cancelled.
	ErrTimeout = errors.New("timed out")
	// ErrRefused: the upstream answered REFUSED.
	ErrRefused = errors.New("REFUSED")
	// ErrMalformed: the reply was unparsable, did not match the query,
	// carried an unexpected rcode, was truncated over TCP, or held a CNAME
	// loop or a chain longer than Config.MaxChain.
	//
	// An Exchanger may return an error wrapping ErrMalformed for a reply it
	// could not parse.
	ErrMalformed = errors.New("malformed reply")
	// ErrNetwork: the upstream could not be reached (connection refused,
	// network unreachable).
	ErrNetwork = errors.New("network error")
)

// QueryError is a failed lookup.
type QueryError struct {
	Name     string   // query name, lower-case FQDN
	Type     uint16   // query type
	Kind     error    // one of the sentinels
	Security Security // Bogus or Indeterminate for ErrBogus, else SecurityUnknown
	Rcode    int      // rcode of the reply; -1 when no reply
	EDE      []EDE    // Extended DNS Errors in the reply
	// Reason is a short phrase saying precisely why, such as "RRSIG
	// expired" (see BogusReason), or "" when nothing more is known. Both
	// modes fill it: upstream mode from the EDEs, embedded mode from
	// libunbound's why_bogus text.
	Reason string
	// Why is the validator's own explanation (libunbound's why_bogus in
	// embedded mode), bounded and printable. Like EDE text it describes
	// the destination's DNS, so it is safe to show.
	Why string
	Err error // underlying cause, may be nil; for logs, not for admins
}

// Error returns, for example,
// "TLSA _25._tcp.mx.example.com.: DNSSEC validation failed: RRSIG expired (EDE 7 (Signature Expired): ...)".
func (e *QueryError) Error() string {
	s := e.Public()
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Public is Error without the underlying cause: what failed and why, as
// the resolver said (kind, reason, Extended DNS Errors), without daned's
// own socket addresses and system errors. It is safe to show a mail
// admin; the whole Error belongs in logs and traces.
func (e *QueryError) Public() string {
	var b strings.Builder
	b.WriteString(typeString(e.Type))
	b.WriteString(" ")
	b.WriteString(e.Name)
	b.WriteString(": ")
	if e.Kind != nil {
		b.WriteString(e.Kind.Error())
	} else {
		b.WriteString("lookup failed")
	}
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	if len(e.EDE) > 0 {
		b.WriteString(" (")
		for i, x := range e.EDE {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(x.String())
		}
		b.WriteString(")")
	}
	if e.Why != "" {
		b.WriteString(": ")
		b.WriteString(e.Why)
	}
	return b.String()
}

// Unwrap returns Kind and Err, so errors.Is(err, ErrBogus) and
// errors.Is(err, context.Canceled) both work.
func (e *QueryError) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

func typeString(t uint16) string {
	if s, ok := dns.TypeToString[t]; ok {
		return s
	}
	return "TYPE" + strconv.Itoa(int(t))
}
