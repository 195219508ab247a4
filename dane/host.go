package dane

import "fmt"

// HostFacts are what decides whether DANE applies to one MX host (RFC
// 7672 §2.2.1, §2.2.2), gathered by the caller's DNS lookups.
type HostFacts struct {
	// Name is the MX host name as the detail shows it.
	Name string
	// MXSecure reports whether the MX RRset that named the host is
	// DNSSEC-secure. For a domain without MX records (RFC 5321 implicit
	// MX) it is the security of that denial.
	MXSecure bool
	// MXState names the MX RRset's DNSSEC state in the detail when it is
	// not secure, such as "insecure".
	MXState string
	// InsecureMXMay reports whether hosts of an insecure MX RRset are
	// opportunistic without TLSA lookups (Postfix's
	// smtp_tls_dane_insecure_mx_policy = may). When false, such a host
	// is judged by its own records, as RFC 7672 §2.2.1 allows.
	InsecureMXMay bool
	// IPLiteral reports whether Name is an IP address rather than a host
	// name.
	IPLiteral bool
	// AddressSecure reports whether the host's A and AAAA answers, CNAMEs
	// included, are both DNSSEC-secure.
	AddressSecure bool
	// AddressState names the address answers' DNSSEC state in the detail
	// when they are not secure, such as "insecure".
	AddressState string
	// CNAME reports whether Name is an alias: its address lookups
	// followed a CNAME chain.
	CNAME bool
	// FirstLinkSecure reports whether a CNAME lookup of Name itself gave
	// a secure, non-empty answer: the first link of the alias chain is in
	// a signed zone. Applies reads it only when FirstLinkMatters, so a
	// caller need not look it up otherwise.
	FirstLinkSecure bool
}

// FirstLinkMatters reports whether Applies depends on FirstLinkSecure: DANE
// is not already ruled out or in, the address answers are not secure, and
// Name is an alias. A caller looks up the first link only then.
func (f HostFacts) FirstLinkMatters() bool {
	return f.early() == "" && !f.AddressSecure && f.CNAME
}

// early returns why DANE does not apply before the addresses count, or "".
func (f HostFacts) early() string {
	if !f.MXSecure && f.InsecureMXMay {
		return fmt.Sprintf("the MX RRset is %s: no DANE for %s (insecure MX policy \"may\", RFC 7672 §2.2.1)", f.MXState, f.Name)
	}
	if f.IPLiteral {
		return fmt.Sprintf("MX host %s is an IP address: no DANE (RFC 7672 §2.2)", f.Name)
	}
	return ""
}

// Applies reports whether DANE applies to an MX host, that is whether its
// TLSA records are to be looked up, and when it does not, why, in words
// safe to show a mail administrator:
//
//   - not for a host of an insecure MX RRset when the insecure MX policy
//     is "may" (RFC 7672 §2.2.1);
//   - not for an IP address (RFC 7672 §2.2);
//   - for a host whose address answers are secure (RFC 7672 §2.2.2);
//   - for an alias whose address answers are insecure but whose first
//     CNAME link is secure: the host is still in a signed zone, and its
//     TLSA base domain is the original name only (RFC 7672 §2.2.2; see
//     TLSABaseCandidates);
//   - not otherwise: insecure addresses mean no DANE (RFC 7672 §2.2.2).
func Applies(f HostFacts) (ok bool, why string) {
	if why := f.early(); why != "" {
		return false, why
	}
	if f.AddressSecure || (f.FirstLinkMatters() && f.FirstLinkSecure) {
		return true, ""
	}
	return false, fmt.Sprintf("the addresses of %s are %s: no DANE for this host (RFC 7672 §2.2.2)", f.Name, f.AddressState)
}

// TLSABaseCandidates returns the TLSA base domains to try for an MX host,
// in order (RFC 7672 §2.2.3, RFC 7671 §7); the first with a secure TLSA
// RRset wins. cnameChain is the alias targets from host, in order, and
// chainSecure whether the address answers that followed it, CNAMEs
// included, are secure. A securely expanded alias gives the fully expanded
// name, then the original; anything else gives the original name only
// (when only the first link is secure, see Applies). Intermediate names
// of the chain are never candidates.
func TLSABaseCandidates(host string, cnameChain []string, chainSecure bool) []string {
	if chainSecure && len(cnameChain) > 0 {
		return []string{cnameChain[len(cnameChain)-1], host}
	}
	return []string{host}
}
