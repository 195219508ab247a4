package resolver

import (
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// Answer is one authenticated answer. A secure or insecure NXDOMAIN or
// NODATA is an Answer, not an error (RFC 7672 §2.1).
type Answer struct {
	Name     string   // query name: lower-case, fully qualified (trailing dot)
	Type     uint16   // query type
	Rcode    int      // dns.RcodeSuccess or dns.RcodeNameError
	Security Security // Secure when AD was set, else Insecure
	Chain    []string // CNAME/DNAME targets followed from Name, in order, lower-case FQDN; nil when Name is not an alias
	Records  []dns.RR // RRs of Type owned by the final name of the chain (answer section only; RRSIGs removed)
	// TTL is the smallest TTL over the chain's CNAMEs and Records. For
	// NXDOMAIN/NODATA it is the RFC 2308 §5 negative TTL, min(SOA TTL, SOA
	// MINIMUM), when an SOA is present (capped by the chain's CNAME TTLs),
	// else 0.
	TTL uint32
	EDE []EDE // Extended DNS Errors (RFC 8914) in the reply
}

// NXDomain reports whether the final name of the chain does not exist.
func (a *Answer) NXDomain() bool { return a.Rcode == dns.RcodeNameError }

// NoData reports whether the name exists but has no RRs of Type.
func (a *Answer) NoData() bool { return a.Rcode == dns.RcodeSuccess && len(a.Records) == 0 }

// Final returns the name that owns Records: the last name of Chain, or
// Name when it is not an alias.
func (a *Answer) Final() string {
	if len(a.Chain) > 0 {
		return a.Chain[len(a.Chain)-1]
	}
	return a.Name
}

// parseReply turns the upstream's reply to (qname, qtype) into an Answer or
// a *QueryError. qname must be a lower-case FQDN. It never panics on any
// reply (FuzzParseReply). Truncation is handled by the caller for UDP; here
// a truncated reply is malformed (it came over TCP, RFC 7766 §8).
func parseReply(qname string, qtype uint16, reply *dns.Msg, maxChain int) (*Answer, error) {
	fail := func(kind error, sec Security, rcode int, edes []EDE, err error) error {
		qe := &QueryError{Name: qname, Type: qtype, Kind: kind, Security: sec, Rcode: rcode, EDE: edes, Err: err}
		if kind == ErrBogus || kind == ErrServFail {
			qe.Reason = BogusReason(edes, "")
		}
		return qe
	}
	if reply == nil {
		return nil, fail(ErrMalformed, SecurityUnknown, -1, nil, errors.New("no reply"))
	}
	edes := extractEDE(reply)
	malformed := func(format string, args ...any) error {
		return fail(ErrMalformed, SecurityUnknown, reply.Rcode, edes, fmt.Errorf(format, args...))
	}
	if !reply.Response {
		return nil, malformed("QR bit clear")
	}
	if len(reply.Question) != 1 {
		return nil, malformed("%d questions in reply", len(reply.Question))
	}
	q := reply.Question[0]
	// Compared case-insensitively: a resolver may echo 0x20-mixed case.
	if !strings.EqualFold(q.Name, qname) || q.Qtype != qtype || q.Qclass != dns.ClassINET {
		return nil, malformed("reply is for %s %s %s", printable(q.Name, 255), dns.Class(q.Qclass), typeString(q.Qtype))
	}
	if reply.Truncated {
		return nil, malformed("truncated reply over TCP")
	}

	switch reply.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	case dns.RcodeServerFailure:
		// RFC 8914 says why; without a DNSSEC cause it is a plain
		// resolution failure, never "no data" (RFC 7672 §2.1.2).
		if sec := worstDNSSECFailure(edes); sec != SecurityUnknown {
			return nil, fail(ErrBogus, sec, reply.Rcode, edes, nil)
		}
		return nil, fail(ErrServFail, SecurityUnknown, reply.Rcode, edes, nil)
	case dns.RcodeRefused:
		return nil, fail(ErrRefused, SecurityUnknown, reply.Rcode, edes, nil)
	default:
		return nil, malformed("unexpected rcode %s", rcodeString(reply.Rcode))
	}

	// A validator in permissive mode returns bogus data with AD clear
	// and an EDE; reading that as "insecure" would downgrade DANE
	// (RFC 7672 §2.1.1), so a DNSSEC-failure EDE wins over the rcode.
	if sec := worstDNSSECFailure(edes); sec != SecurityUnknown {
		return nil, fail(ErrBogus, sec, reply.Rcode, edes, errors.New("data returned despite a DNSSEC failure"))
	}
	for _, e := range edes {
		if notDANEInput(e.Code) {
			return nil, fail(ErrServFail, SecurityUnknown, reply.Rcode, edes,
				fmt.Errorf("upstream returned stale or policy-altered data (EDE %d); it is never used as DANE input", e.Code))
		}
	}

	ans := &Answer{Name: qname, Type: qtype, Rcode: reply.Rcode, Security: Insecure, EDE: edes}
	// RFC 4035 §3.2.3: AD means every RRset in the answer and authority
	// sections was validated. Never Secure without it.
	if reply.AuthenticatedData {
		ans.Security = Secure
	}

	const noTTL = ^uint32(0)
	ttl := noTTL
	cur := qname
	seen := map[string]bool{qname: true}
	for {
		var records []dns.RR
		var target string
		for _, rr := range reply.Answer {
			h := rr.Header()
			if h.Class != dns.ClassINET || !strings.EqualFold(h.Name, cur) {
				continue
			}
			switch {
			case h.Rrtype == qtype:
				records = append(records, rr)
			case h.Rrtype == dns.TypeCNAME:
				t := dns.CanonicalName(rr.(*dns.CNAME).Target)
				if target != "" && target != t {
					return nil, malformed("%s has more than one CNAME", printable(cur, 255))
				}
				target = t
				ttl = min(ttl, h.Ttl)
			}
		}
		if target == "" || qtype == dns.TypeCNAME {
			ans.Records = records
			break
		}
		// RFC 2181 §10.1: a CNAME has no other data beside it.
		if len(records) > 0 {
			return nil, malformed("%s has a CNAME and %s records", printable(cur, 255), typeString(qtype))
		}
		if seen[target] {
			return nil, malformed("CNAME loop at %s", printable(target, 255))
		}
		if len(ans.Chain) >= maxChain {
			return nil, malformed("CNAME chain longer than %d", maxChain)
		}
		seen[target] = true
		ans.Chain = append(ans.Chain, target)
		cur = target
	}
	for _, rr := range ans.Records {
		ttl = min(ttl, rr.Header().Ttl)
	}

	if len(ans.Records) == 0 {
		if ans.NXDomain() || ans.NoData() {
			// RFC 2308 §5: the negative TTL is the smaller of the SOA's
			// own TTL and its MINIMUM field.
			neg := noTTL
			for _, rr := range reply.Ns {
				if soa, ok := rr.(*dns.SOA); ok {
					neg = min(neg, soa.Hdr.Ttl, soa.Minttl)
				}
			}
			if neg == noTTL {
				ttl = 0
			} else {
				ttl = min(ttl, neg)
			}
		}
	} else if ans.NXDomain() {
		return nil, malformed("NXDOMAIN with %s records for %s", typeString(qtype), printable(cur, 255))
	}
	if ttl == noTTL {
		ttl = 0
	}
	ans.TTL = ttl
	return ans, nil
}

// worstDNSSECFailure returns Bogus if any EDE reports a validation
// failure, else Indeterminate if any reports that, else SecurityUnknown.
func worstDNSSECFailure(edes []EDE) Security {
	worst := SecurityUnknown
	for _, e := range edes {
		switch dnssecFailure(e.Code) {
		case Bogus:
			return Bogus
		case Indeterminate:
			worst = Indeterminate
		}
	}
	return worst
}

// extractEDE returns the RFC 8914 options of the reply's OPT record.
func extractEDE(m *dns.Msg) []EDE {
	var out []EDE
	for _, rr := range m.Extra {
		opt, ok := rr.(*dns.OPT)
		if !ok {
			continue
		}
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				out = append(out, EDE{Code: e.InfoCode, Text: e.ExtraText})
			}
		}
	}
	return out
}

func rcodeString(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rc)
}
