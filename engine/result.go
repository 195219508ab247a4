package engine

import (
	"crypto/x509"
	"net/netip"
	"time"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/mtasts"
)

// DNSState is the DNSSEC state of an answer as the verdict sees it: the
// resolver's security state, or that the lookup failed, or that no lookup
// was made.
type DNSState int

const (
	// DNSNotLooked: no such lookup was made.
	DNSNotLooked DNSState = iota
	// DNSSecure: validated from a trust anchor.
	DNSSecure
	// DNSInsecure: provably unsigned.
	DNSInsecure
	// DNSBogus: DNSSEC validation failed.
	DNSBogus
	// DNSIndeterminate: undecidable; treated as bogus (RFC 4033 §5).
	DNSIndeterminate
	// DNSFailed: the lookup failed without a DNSSEC cause (SERVFAIL,
	// timeout, malformed reply).
	DNSFailed
)

var dnsStateNames = [...]string{"not looked up", "secure", "insecure", "bogus", "indeterminate", "lookup failed"}

// String returns the state in words.
func (s DNSState) String() string {
	if s >= 0 && int(s) < len(dnsStateNames) {
		return dnsStateNames[s]
	}
	return "unknown"
}

// Result is the outcome of one validation.
type Result struct {
	Domain     string // normalised: lower-case A-labels, no trailing dot
	Verdict    dane.Verdict
	MXState    DNSState
	ImplicitMX bool // no MX records: the domain is its own host (RFC 5321 §5.1)
	PolicyOnly bool // no probes were made
	Hosts      []Host
	CheckedAt  time.Time
	TTL        time.Duration // how long the verdict may be reused
	FromCache  bool
	// PolicySource is the mechanism that decided the verdict (RFC 8461
	// §2): DANE, MTA-STS or neither; PolicySourceDetail says why in a
	// sentence an admin understands.
	PolicySource       mtasts.Source
	PolicySourceDetail string
	// MTASTS is what the policy source found for the domain; nil when
	// MTA-STS was not consulted (DANE decided, or none is configured).
	MTASTS *mtasts.PolicyResult
}

// Host is what was found for one MX host.
type Host struct {
	Name         string // lower-case, no trailing dot
	Preference   uint16
	MXState      DNSState
	AddressState DNSState
	CNAMEChain   []string // alias targets from Name, no trailing dots
	TLSABase     string   // TLSA base domain that produced the RRset, or the last candidate tried
	TLSAState    DNSState
	TLSA         []dane.AssessedRecord
	// ReferenceNames are the DANE-TA reference identifiers (RFC 7672
	// §3.2.2) a chain of this host is checked against: the TLSA base
	// domain first, the host name when it differs, and, when the MX RRset
	// is secure, the destination domain and its CNAME expansion. Set only
	// for a host with a secure TLSA RRset (TLSA non-empty).
	ReferenceNames []string
	Policy         dane.Policy
	Reason         dane.Reason
	Usable         bool
	Detail         string
	Addresses      []Address
	// STSFailure is what the domain's MTA-STS policy refused of the host
	// (RFC 8461 §4): ReasonMXNotInPolicy, a STARTTLS failure or a WebPKI
	// failure of every address that answered; ReasonUnspecified when
	// nothing. Under mode enforce it is the host's Reason too; under mode
	// testing the host stays usable and this is for a TLS report.
	STSFailure dane.Reason

	inDNS      bool          // the host's failure happened in DNS
	tlsaTTL    time.Duration // TTL of the TLSA RRset that set the policy
	stsRefused bool          // the host's failure is MTA-STS's (enforce)
	probeErrs  []dane.Reason // per address, why its probe failed, before any forgiveness
}

// Address is the outcome of probing one address of a host.
type Address struct {
	IP              netip.Addr
	Reason          dane.Reason
	STARTTLSOffered bool
	TLSVersion      uint16 // 0 without TLS
	CipherSuite     uint16
	Chain           []*x509.Certificate // leaf first, as presented
	Matched         int                 // index into the host's TLSA of the authenticating record; -1 when none
	Authenticated   bool
	Elapsed         time.Duration
	Detail          string
}
