package socketmap

import (
	"strconv"
	"strings"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/engine"
)

// Kind is the first word of a socketmap reply (socketmap_table(5)).
type Kind int

const (
	// KindOK: the key has a policy; the data is the Postfix TLS policy
	// ("dane-only", "dane", "secure match=…").
	KindOK Kind = iota + 1
	// KindNotFound: no policy for the key; Postfix goes on to the next
	// table of smtp_tls_policy_maps, else smtp_tls_security_level.
	KindNotFound
	// KindTemp: the policy cannot be had now; Postfix defers the mail and
	// logs the reason.
	KindTemp
	// KindTimeout: the request's deadline ran out; Postfix defers.
	KindTimeout
	// KindPerm: the request itself is wrong (unknown map name, a key that
	// is no destination); Postfix treats it as a configuration error and
	// defers.
	KindPerm
)

var kindWords = [...]string{"", "OK", "NOTFOUND", "TEMP", "TIMEOUT", "PERM"}

// String returns the reply word ("OK", "NOTFOUND", …).
func (k Kind) String() string {
	if k > 0 && int(k) < len(kindWords) {
		return kindWords[k]
	}
	return "UNKNOWN"
}

// Reply is one socketmap reply.
type Reply struct {
	Kind Kind
	// Data follows the word and one space: the policy after OK, the
	// reason after TEMP, TIMEOUT and PERM, nothing after NOTFOUND.
	Data string
}

// String returns the reply as sent, without the netstring
// encapsulation: "OK dane-only", "NOTFOUND ", "TEMP 4.7.324 …".
func (r Reply) String() string { return r.Kind.String() + " " + r.Data }

// Append appends the reply to dst as a netstring. A reply longer than
// MaxReply is replaced by a TEMP reply saying so: Postfix would refuse
// it, and a truncated OK would be a different policy.
func (r Reply) Append(dst []byte) []byte {
	if n := len(r.Kind.String()) + 1 + len(r.Data); n > MaxReply {
		r = temp("4.3.0", "daned's reply of "+strconv.Itoa(n)+" bytes exceeds the socketmap limit of "+strconv.Itoa(MaxReply))
	}
	n := len(r.Kind.String()) + 1 + len(r.Data)
	dst = strconv.AppendInt(dst, int64(n), 10)
	dst = append(dst, ':')
	dst = append(dst, r.Kind.String()...)
	dst = append(dst, ' ')
	dst = append(dst, r.Data...)
	return append(dst, ',')
}

// Replies without a verdict.
var (
	// NotFound is the reply for keys without a policy.
	NotFound = Reply{Kind: KindNotFound}
)

func temp(code, reason string) Reply {
	return Reply{Kind: KindTemp, Data: code + " " + clean(reason)}
}

func perm(reason string) Reply { return Reply{Kind: KindPerm, Data: clean(reason)} }

// clean makes a reason safe to embed in a reply: control characters
// (Postfix would print them as '?') become spaces.
func clean(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] < ' ' || b[j] == 0x7f {
					b[j] = ' '
				}
			}
			return string(b)
		}
	}
	return s
}

// Map is the name field of a request: which flavour of reply the caller
// wants.
type Map int

const (
	// MapQuery ("QUERY"): plain TLS policies, for every Postfix version.
	MapQuery Map = iota + 1
	// MapQueryWithTLSRPT ("QUERYwithTLSRPT"): MTA-STS policies carry the
	// TLSRPT attributes of Postfix 3.10 and later (policy_type,
	// policy_domain, mx_host_pattern, policy_string, policy_failure).
	// Older versions refuse them ("invalid attribute name").
	MapQueryWithTLSRPT
)

// ParseMap returns the map of a request name; the names are those of
// the popular socketmap policy plugins, so existing main.cf files work.
func ParseMap(name string) (Map, bool) {
	switch name {
	case "QUERY":
		return MapQuery, true
	case "QUERYwithTLSRPT":
		return MapQueryWithTLSRPT, true
	}
	return 0, false
}

// String returns the request name.
func (m Map) String() string {
	switch m {
	case MapQuery:
		return "QUERY"
	case MapQueryWithTLSRPT:
		return "QUERYwithTLSRPT"
	}
	return "unknown"
}

// STSMode is the mode of an MTA-STS policy (RFC 8461 §3.2).
type STSMode int

const (
	// STSNone (the zero value): no policy, or mode "none".
	STSNone STSMode = iota
	// STSTesting: mode "testing": deliver as without a policy, report
	// failures (RFC 8461 §5).
	STSTesting
	// STSEnforce: mode "enforce": deliver only to matching MX hosts with
	// WebPKI-valid certificates (RFC 8461 §4, §5).
	STSEnforce
)

// STS is the MTA-STS policy of a destination, as the reply needs it. The
// MTA-STS layer fills it; the reply builder only renders it, and only
// when DANE does not decide (RFC 8461 §2: a policy never overrides DANE).
type STS struct {
	Mode STSMode
	// Domain is the policy domain (the recipient domain); "" (or a
	// string that is no host name) means the validated domain.
	Domain string
	// Patterns are the policy's "mx:" values as published
	// ("mail.example.com", "*.example.net"). A pattern with characters
	// other than letters, digits, '-', '.' or a leading "*." is dropped:
	// it cannot be rendered safely and RFC 8461 §3.2 allows none.
	Patterns []string
	// Policy is the policy text, one line per element ("version: STSv1",
	// "mode: enforce", …), for TLSRPT's policy-string (RFC 8460 §4.3.1).
	// Lines with control characters, '{' or '}' are dropped.
	Policy []string
	// Failure, when set, is the RFC 8460 result type that makes the
	// enforced policy fail every delivery ("sts-policy-fetch-error",
	// "sts-policy-invalid", "sts-webpki-invalid", "validation-failure"):
	// the policy applies but could not be had or checked.
	Failure string
}

// Levels of a DANE reply, as Postfix's TLS security levels.
const (
	levelDANEOnly = "dane-only"
	levelDANE     = "dane"
)

// PolicyReply builds the reply for a policy-only validation of a domain
// key, given the destination's MTA-STS policy (nil when there is none or
// no MTA-STS source). It is a pure function of its arguments:
//
//   - DEFER (DANE status not established: bogus, SERVFAIL, timeout, no
//     usable address): TEMP "<code> <short>: <detail>" with the
//     verdict's enhanced status code, so that Postfix defers and logs why.
//     Never NOTFOUND, and MTA-STS never rescues it (RFC 7672 §2.1.2, RFC
//     8461 §2).
//   - REJECT (NXDOMAIN, null MX): NOTFOUND. Postfix makes the same DNS
//     lookups and reaches the same permanent failure itself; TEMP would
//     turn a bounce into days of retries.
//   - DELIVER and the verdict's policy is DANE_REQUIRED (a secure MX
//     RRset, and every host whose policy is known has usable TLSA
//     records): OK dane-only. Postfix then defers rather than use a host
//     without usable TLSA (RFC 7672 §2.2: such a host's failure moves on
//     to the next MX, never to cleartext).
//   - DELIVER and some host has a secure TLSA RRset (usable or not), or
//     its TLSA lookup failed: OK dane. Postfix's own DANE then binds each
//     host as RFC 7672 §2.2 says (usable records: authenticate; only
//     unusable records: mandatory TLS; lookup failure: skip the host).
//     dane-only would refuse the hosts without usable records. This
//     includes an insecure MX RRset whose host has secure TLSA records
//     (RFC 7672 §2.2.1 allows DANE for it; Postfix's
//     smtp_tls_dane_insecure_mx_policy decides).
//   - DELIVER without DANE: the MTA-STS reply when sts is an enforced
//     policy (see below), else NOTFOUND.
//
// The MTA-STS reply is "OK secure match=<patterns> servername=hostname",
// the patterns colon-separated with "*.suffix" written as Postfix's
// ".suffix"; with MapQueryWithTLSRPT it also carries policy_type=sts,
// policy_domain=, one mx_host_pattern= per pattern (as published, "*."
// kept), one "{ policy_string = … }" per policy line and
// policy_failure= when sts.Failure is set. A failed policy with
// MapQuery, which cannot say policy_failure, gets TEMP instead (the same
// outcome: Postfix defers). match= is never empty: an enforced policy
// without usable patterns and without a failure is no policy (RFC 8461
// §3.2), NOTFOUND. TLSRPT attributes never go with dane or dane-only.
func PolicyReply(m Map, res *engine.Result, sts *STS) Reply {
	v := res.Verdict
	switch v.Action {
	case dane.ActionReject:
		return NotFound
	case dane.ActionDeliver:
	default:
		return deferReply(v)
	}
	if lvl := daneLevel(res); lvl != "" {
		return Reply{Kind: KindOK, Data: lvl}
	}
	if sts == nil || sts.Mode != STSEnforce {
		return NotFound
	}
	domain := strings.ToLower(sts.Domain)
	if !validPattern(domain) || strings.HasPrefix(domain, "*.") {
		domain = res.Domain
	}
	return stsReply(m, domain, sts)
}

// deferReply is the TEMP reply of a verdict that defers.
func deferReply(v dane.Verdict) Reply {
	code := v.Status.Code
	if code == "" {
		// Not expected: every failure reason has a status. 4.7.5 is what
		// Postfix itself uses for a TLS policy it cannot establish.
		code = "4.7.5"
	}
	text := v.Text
	if text == "" {
		text = "dane-status-unknown: the DANE status of the destination could not be established"
	}
	return temp(code, text)
}

// daneLevel returns the Postfix level a verdict that delivers calls for,
// or "" when DANE plays no part.
func daneLevel(res *engine.Result) string {
	if res.Verdict.Policy == dane.PolicyDANERequired {
		return levelDANEOnly
	}
	for _, h := range res.Hosts {
		if h.Reason == dane.ReasonNotConsidered {
			continue
		}
		switch {
		case h.Policy == dane.PolicyDANERequired, h.Policy == dane.PolicyTLSRequired:
			return levelDANE
		case h.TLSAState == engine.DNSBogus, h.TLSAState == engine.DNSIndeterminate, h.TLSAState == engine.DNSFailed:
			return levelDANE
		}
	}
	return ""
}

// stsReply renders an enforced MTA-STS policy.
func stsReply(m Map, domain string, sts *STS) Reply {
	var patterns []string
	for _, p := range sts.Patterns {
		if p = strings.ToLower(strings.TrimSpace(p)); validPattern(p) {
			patterns = append(patterns, p)
		}
	}
	failure := clean(strings.TrimSpace(sts.Failure))
	if strings.ContainsAny(failure, " {}=") {
		failure = "validation-failure"
	}
	if len(patterns) == 0 && failure == "" {
		return NotFound
	}
	if failure != "" && m != MapQueryWithTLSRPT {
		return temp("4.7.5", failure+": the MTA-STS policy of "+domain+" applies but could not be had or checked (RFC 8461 §5)")
	}
	var b strings.Builder
	b.WriteString("secure")
	if len(patterns) > 0 {
		b.WriteString(" match=")
		for i, p := range patterns {
			if i > 0 {
				b.WriteByte(':')
			}
			if strings.HasPrefix(p, "*.") {
				p = p[1:] // Postfix's ".suffix": any name below suffix
			}
			b.WriteString(p)
		}
	}
	b.WriteString(" servername=hostname")
	if m == MapQueryWithTLSRPT {
		b.WriteString(" policy_type=sts policy_domain=")
		b.WriteString(domain)
		for _, p := range patterns {
			b.WriteString(" mx_host_pattern=")
			b.WriteString(p)
		}
		for _, l := range sts.Policy {
			l = strings.TrimSpace(l)
			if l == "" || strings.ContainsAny(l, "{}") || clean(l) != l {
				continue
			}
			b.WriteString(" { policy_string = ")
			b.WriteString(l)
			b.WriteString(" }")
		}
		if failure != "" {
			b.WriteString(" policy_failure=")
			b.WriteString(failure)
		}
	}
	return Reply{Kind: KindOK, Data: b.String()}
}

// validPattern accepts an MTA-STS mx pattern (RFC 8461 §3.2): a host
// name, or "*." and a host name of at least two labels.
func validPattern(p string) bool {
	name := strings.TrimPrefix(p, "*.")
	if name == "" || len(name) > 253 || name[0] == '.' || name[len(name)-1] == '.' || strings.Contains(name, "..") {
		return false
	}
	if name != p && !strings.Contains(name, ".") {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
