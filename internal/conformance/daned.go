package conformance

import (
	"github.com/daned/daned/dane"
	"github.com/daned/daned/engine"
)

// Daned is daned's verdict for a domain, reduced to what the comparison
// and the table need.
type Daned struct {
	Action string      `json:"action"`
	Policy string      `json:"policy"`
	Reason string      `json:"reason"`
	Code   string      `json:"code,omitempty"`
	Hosts  []DanedHost `json:"hosts"`
}

// DanedHost is daned's view of one MX host.
type DanedHost struct {
	Name    string  `json:"name"`
	Policy  string  `json:"policy"`
	Reason  string  `json:"reason"`
	Usable  bool    `json:"usable"`
	Outcome Outcome `json:"outcome"`
	Detail  string  `json:"detail,omitempty"`
}

// FromEngine reduces an engine result.
func FromEngine(res *engine.Result) *Daned {
	d := &Daned{
		Action: res.Verdict.Action.String(),
		Policy: res.Verdict.Policy.String(),
		Reason: res.Verdict.Reason.String(),
		Code:   res.Verdict.Status.Code,
	}
	for _, h := range res.Hosts {
		d.Hosts = append(d.Hosts, DanedHost{
			Name:    h.Name,
			Policy:  h.Policy.String(),
			Reason:  h.Reason.String(),
			Usable:  h.Usable,
			Outcome: HostOutcome(h),
			Detail:  h.Detail,
		})
	}
	return d
}

// HostOutcome maps daned's judgement of one host onto the outcome a
// Postfix connection to it would have.
func HostOutcome(h engine.Host) Outcome {
	if h.Usable {
		tls, auth := false, false
		for _, a := range h.Addresses {
			if a.Reason != dane.ReasonOK {
				continue
			}
			tls = tls || a.TLSVersion != 0
			auth = auth || a.Authenticated
		}
		switch {
		case auth && h.MXState == engine.DNSInsecure:
			return Trusted
		case auth:
			return Verified
		case tls:
			return Untrusted
		default:
			return NoTLS
		}
	}
	switch h.Reason {
	case dane.ReasonDNSQueryFailed, dane.ReasonDNSSECBogus, dane.ReasonTLSALookupFailed, dane.ReasonNoAddresses:
		return DNSFailure
	case dane.ReasonTimeout:
		if h.TLSAState == engine.DNSFailed || h.AddressState == engine.DNSFailed || len(h.Addresses) == 0 {
			return DNSFailure
		}
		return ConnectFailure
	case dane.ReasonConnectFailed, dane.ReasonSMTPError, dane.ReasonTargetForbidden:
		return ConnectFailure
	case dane.ReasonSTARTTLSNotOffered, dane.ReasonTLSHandshakeFailed:
		return NoSTARTTLS
	case dane.ReasonTLSANoMatch, dane.ReasonCertNameMismatch, dane.ReasonCertExpired, dane.ReasonCertNotYetValid, dane.ReasonChainInvalid:
		return AuthFailure
	}
	return Unknown
}

// Outcome is what a connection to one host came to, in a vocabulary both
// posttls-finger's output and daned's verdict map onto.
type Outcome string

// The outcomes.
const (
	// Verified: TLS with DANE authentication ("Verified TLS connection
	// established").
	Verified Outcome = "verified"
	// Trusted: TLS authenticated by the host's TLSA records, but the MX
	// RRset was insecure, so the delivery is not reported as
	// DANE-verified (RFC 7672 §2.2.1; Postfix logs "Trusted TLS
	// connection established").
	Trusted Outcome = "trusted"
	// Untrusted: TLS without authentication, and none was required
	// ("Untrusted TLS connection established" at an opportunistic or
	// TLS-only level).
	Untrusted Outcome = "untrusted"
	// NoTLS: cleartext, allowed (no STARTTLS, no DANE).
	NoTLS Outcome = "no-tls"
	// NoSTARTTLS: TLS was mandatory (DANE) but STARTTLS was not offered,
	// refused or failed.
	NoSTARTTLS Outcome = "no-starttls"
	// AuthFailure: TLS was mandatory and authenticated, and
	// authentication failed ("server certificate verification failed").
	AuthFailure Outcome = "auth-failure"
	// DNSFailure: a DNS/DNSSEC failure made the host unusable (TLSA
	// lookup error, bogus answers, no addresses).
	DNSFailure Outcome = "dns-failure"
	// ConnectFailure: no SMTP session (refused, timed out, no banner).
	ConnectFailure Outcome = "connect-failure"
	// NoMail: the domain takes no mail (null MX, NXDOMAIN).
	NoMail Outcome = "no-mail"
	// NotTried: the host was not reached in this run.
	NotTried Outcome = "not-tried"
	// Unknown: the output could not be classified.
	Unknown Outcome = "unknown"
)
