package resolver

import (
	"strconv"
	"strings"
)

// Security is the DNSSEC state of an answer (RFC 4035 §4.3).
type Security int

const (
	// SecurityUnknown is the zero value: no state was established (for
	// example, no reply was received).
	SecurityUnknown Security = iota
	// Secure: the validating upstream set the AD bit; every RRset in the
	// answer was validated up to a trust anchor (RFC 4035 §4.3).
	Secure
	// Insecure: the upstream answered without AD; the data is provably
	// unsigned (or signed with algorithms it does not support, RFC 8914
	// EDE 1 and 2).
	Insecure
	// Bogus: validation failed (RFC 4035 §4.3). Only appears in a
	// QueryError.
	Bogus
	// Indeterminate: the upstream could not determine the state (RFC 4035
	// §4.3, RFC 8914 EDE 5). Treated as Bogus for DANE (RFC 7672 §2.1.1).
	// Only appears in a QueryError.
	Indeterminate
)

// String returns the RFC 4035 name of the state.
func (s Security) String() string {
	switch s {
	case Secure:
		return "secure"
	case Insecure:
		return "insecure"
	case Bogus:
		return "bogus"
	case Indeterminate:
		return "indeterminate"
	default:
		return "unknown"
	}
}

// EDE is an Extended DNS Error (RFC 8914) from the upstream.
type EDE struct {
	Code uint16 // INFO-CODE (RFC 8914 §4)
	Text string // EXTRA-TEXT as received; may be empty
}

// edeNames is the IANA "Extended DNS Error Codes" registry (RFC 8914 §5.2
// and later additions).
var edeNames = [...]string{
	0:  "Other Error",
	1:  "Unsupported DNSKEY Algorithm",
	2:  "Unsupported DS Digest Type",
	3:  "Stale Answer",
	4:  "Forged Answer",
	5:  "DNSSEC Indeterminate",
	6:  "DNSSEC Bogus",
	7:  "Signature Expired",
	8:  "Signature Not Yet Valid",
	9:  "DNSKEY Missing",
	10: "RRSIGs Missing",
	11: "No Zone Key Bit Set",
	12: "NSEC Missing",
	13: "Cached Error",
	14: "Not Ready",
	15: "Blocked",
	16: "Censored",
	17: "Filtered",
	18: "Prohibited",
	19: "Stale NXDOMAIN Answer",
	20: "Not Authoritative",
	21: "Not Supported",
	22: "No Reachable Authority",
	23: "Network Error",
	24: "Invalid Data",
	25: "Signature Expired before Valid",
	26: "Too Early",
	27: "Unsupported NSEC3 Iterations Value",
	28: "Unable to conform to policy",
	29: "Synthesized",
	30: "Invalid Query Type",
}

// maxEDEText bounds the EXTRA-TEXT shown by String, so that an upstream
// cannot flood logs and error messages.
const maxEDEText = 256

// String formats the error as "EDE 7 (Signature Expired): text". Control
// characters in the text are replaced, as the text comes from the network.
func (e EDE) String() string {
	var b strings.Builder
	b.WriteString("EDE ")
	b.WriteString(strconv.Itoa(int(e.Code)))
	if int(e.Code) < len(edeNames) {
		b.WriteString(" (")
		b.WriteString(edeNames[e.Code])
		b.WriteString(")")
	}
	if e.Text != "" {
		b.WriteString(": ")
		b.WriteString(printable(e.Text, maxEDEText))
	}
	return b.String()
}

// printable returns s with non-printable runes replaced by '?', cut to at
// most max bytes.
func printable(s string, max int) string {
	cut := len(s) > max
	if cut {
		s = s[:max]
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\uFFFD' || !strconv.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
	if cut {
		s += "…"
	}
	return s
}

// RFC 8914 §5.2 INFO-CODEs this package acts on.
const (
	edeUnsupportedDNSKEYAlg = 1
	edeUnsupportedDSDigest  = 2
	edeStaleAnswer          = 3
	edeForgedAnswer         = 4
	edeIndeterminate        = 5
	edeBogus                = 6
	edeSignatureExpired     = 7
	edeSignatureNotYetValid = 8
	edeDNSKEYMissing        = 9
	edeRRSIGsMissing        = 10
	edeNoZoneKeyBit         = 11
	edeNSECMissing          = 12
	edeBlocked              = 15
	edeCensored             = 16
	edeFiltered             = 17
	edeStaleNXDOMAIN        = 19
)

// dnssecFailure maps an EDE to the DNSSEC state it reports: Bogus for the
// validation failures 6-12, Indeterminate for 5, else SecurityUnknown.
// EDE 1 and 2 are not failures: an unsupported algorithm or digest makes
// the zone insecure (RFC 4035 §5.2, RFC 6840 §5.2).
func dnssecFailure(code uint16) Security {
	switch code {
	case edeBogus, edeSignatureExpired, edeSignatureNotYetValid,
		edeDNSKEYMissing, edeRRSIGsMissing, edeNoZoneKeyBit, edeNSECMissing:
		return Bogus
	case edeIndeterminate:
		return Indeterminate
	}
	return SecurityUnknown
}

// notDANEInput reports whether an EDE on a NOERROR/NXDOMAIN reply means
// the data is not what the authoritative servers currently publish, so it
// must never feed a DANE decision: stale data (RFC 8767, EDE 3 and 19) or
// data the resolver forged or filtered by policy (EDE 4, 15, 16, 17). An
// insecure "no TLSA" made up by a filter would silently downgrade DANE.
func notDANEInput(code uint16) bool {
	switch code {
	case edeStaleAnswer, edeStaleNXDOMAIN, edeForgedAnswer,
		edeBlocked, edeCensored, edeFiltered:
		return true
	}
	return false
}
