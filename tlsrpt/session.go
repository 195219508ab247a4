package tlsrpt

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// PolicyType is the kind of policy a session was held to (RFC 8460
// §4.4, "policy-type").
type PolicyType string

// The policy types of RFC 8460 §4.4.
const (
	// PolicyTLSA: DANE (RFC 7672). The policy domain is the MX host, the
	// base domain of its TLSA RRset; the policy strings are the records
	// in presentation form ("3 1 1 <hex>").
	PolicyTLSA PolicyType = "tlsa"
	// PolicySTS: MTA-STS (RFC 8461). The policy domain is the recipient
	// domain; the policy strings are the policy's lines.
	PolicySTS PolicyType = "sts"
	// PolicyNone: no policy was found; the policy domain is the
	// recipient domain.
	PolicyNone PolicyType = "no-policy-found"
)

// Valid reports whether t is one of the three policy types.
func (t PolicyType) Valid() bool {
	return t == PolicyTLSA || t == PolicySTS || t == PolicyNone
}

// ResultType is why a session failed (RFC 8460 §4.3).
type ResultType string

// The result types of RFC 8460 §4.3.
const (
	// Negotiation failures (§4.3.1).
	ResultSTARTTLSNotSupported    ResultType = "starttls-not-supported"
	ResultCertificateHostMismatch ResultType = "certificate-host-mismatch"
	ResultCertificateExpired      ResultType = "certificate-expired"
	ResultCertificateNotTrusted   ResultType = "certificate-not-trusted"
	ResultValidationFailure       ResultType = "validation-failure"
	// Policy failures, DANE (§4.3.2.1).
	ResultTLSAInvalid   ResultType = "tlsa-invalid"
	ResultDNSSECInvalid ResultType = "dnssec-invalid"
	ResultDANERequired  ResultType = "dane-required"
	// Policy failures, MTA-STS (§4.3.2.2).
	ResultSTSPolicyFetchError ResultType = "sts-policy-fetch-error"
	ResultSTSPolicyInvalid    ResultType = "sts-policy-invalid"
	ResultSTSWebPKIInvalid    ResultType = "sts-webpki-invalid"
)

// ResultTypes are the result types of RFC 8460 §4.3, in its order.
var ResultTypes = []ResultType{
	ResultSTARTTLSNotSupported, ResultCertificateHostMismatch, ResultCertificateExpired,
	ResultCertificateNotTrusted, ResultValidationFailure, ResultTLSAInvalid, ResultDNSSECInvalid,
	ResultDANERequired, ResultSTSPolicyFetchError, ResultSTSPolicyInvalid, ResultSTSWebPKIInvalid,
}

// Valid reports whether r is one of the result types of RFC 8460 §4.3.
func (r ResultType) Valid() bool {
	for _, t := range ResultTypes {
		if r == t {
			return true
		}
	}
	return false
}

// Policy is the policy a session was held to: one "policies" entry of a
// report (RFC 8460 §4.4).
type Policy struct {
	Type PolicyType `json:"policy-type"`
	// Strings is "policy-string": the TLSA records in presentation form,
	// or the MTA-STS policy's lines; none for no-policy-found.
	Strings []string `json:"policy-string,omitempty"`
	// Domain is "policy-domain", always present: the MX host for TLSA,
	// the recipient domain otherwise. Lower case, no trailing dot.
	Domain string `json:"policy-domain"`
	// MXHosts is "mx-host": the MTA-STS policy's mx patterns, or the MX
	// host a TLSA policy belongs to.
	MXHosts []string `json:"mx-host,omitempty"`
}

// key is the policy's identity in the aggregation: sessions under equal
// policies are counted together.
func (p Policy) key() string {
	var b strings.Builder
	b.WriteString(string(p.Type))
	b.WriteByte(0)
	b.WriteString(p.Domain)
	for _, s := range p.Strings {
		b.WriteByte(1)
		b.WriteString(s)
	}
	for _, s := range p.MXHosts {
		b.WriteByte(2)
		b.WriteString(s)
	}
	return b.String()
}

// Session is one SMTP session's TLS outcome, with the policy it was held
// to. MTAs report them over gRPC (ReportSessions); Postfix's TLSRPT
// library sends them as datagrams (ParseDatagram).
type Session struct {
	// Time is when the session happened; it decides the period the
	// session is counted in, whatever its arrival.
	Time   time.Time
	Policy Policy
	// Success is a session that negotiated TLS as the policy requires.
	Success bool
	// The failure's details (RFC 8460 §4.4 "failure-details"); empty on
	// success.
	Result         ResultType
	SendingMTAIP   string // "sending-mta-ip"
	ReceivingMX    string // "receiving-mx-hostname"
	ReceivingHELO  string // "receiving-mx-helo"
	ReceivingIP    string // "receiving-ip"
	FailureCode    string // "failure-reason-code"
	AdditionalInfo string // "additional-information"
}

// Field limits: a session is refused rather than truncated past them.
const (
	maxDomain = 253
	maxText   = 1024
	maxPolicy = 100 // policy strings or mx hosts
)

// ErrInvalid wraps every reason a session is refused.
var ErrInvalid = errors.New("tlsrpt: invalid session")

// Check returns why s cannot be counted, or nil. A refused session is
// not counted at all.
func (s *Session) Check() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	switch {
	case s.Time.IsZero():
		return bad("no time")
	case !s.Policy.Type.Valid():
		return bad("policy type %q is not tlsa, sts or no-policy-found", s.Policy.Type)
	case s.Policy.Domain == "" || len(s.Policy.Domain) > maxDomain || strings.ContainsAny(s.Policy.Domain, " \t\r\n/"):
		return bad("policy domain %q", short(s.Policy.Domain))
	case len(s.Policy.Strings) > maxPolicy || len(s.Policy.MXHosts) > maxPolicy:
		return bad("more than %d policy strings or mx hosts", maxPolicy)
	}
	if s.Success {
		if s.Result != "" {
			return bad("a successful session has a result type (%q)", s.Result)
		}
		return nil
	}
	if !s.Result.Valid() {
		return bad("result type %q is not one of RFC 8460 §4.3", short(string(s.Result)))
	}
	for name, ip := range map[string]string{"sending MTA IP": s.SendingMTAIP, "receiving IP": s.ReceivingIP} {
		if ip == "" {
			continue
		}
		if _, err := netip.ParseAddr(ip); err != nil {
			return bad("%s %q is not an IP address", name, short(ip))
		}
	}
	for name, v := range map[string]string{"receiving MX": s.ReceivingMX, "receiving HELO": s.ReceivingHELO,
		"failure reason code": s.FailureCode, "additional information": s.AdditionalInfo} {
		if len(v) > maxText {
			return bad("%s longer than %d bytes", name, maxText)
		}
	}
	return nil
}

func short(s string) string {
	if len(s) <= 64 {
		return s
	}
	return s[:64] + "…"
}
