package testworld

import (
	"time"

	"github.com/miekg/dns"
)

// ScenarioSpec describes one scenario: a zone "<Name>.test." with its MX
// hosts, their SMTP servers, certificates and TLSA records, and the
// breakages to apply. The catalogue is a slice of these, so a case is
// added by appending an entry.
type ScenarioSpec struct {
	// Name is the zone's label under "test.": the zone is Name+".test.".
	Name string
	// Description says what the scenario holds; RFC cites the rule it
	// exercises; Expect is the outcome daned should reach, in words.
	Description string
	RFC         string
	Expect      string

	// NoZone: no zone is made; the name does not exist in "test.".
	NoZone bool
	// Helper zones serve other scenarios and are not listed in
	// World.Scenarios.
	Helper bool
	// Unsigned: the zone has no keys and its delegation has no DS
	// (insecure, proven by a signed NSEC in "test.").
	Unsigned bool
	// Fault breaks the whole zone.
	Fault ZoneFault
	// NSEC3 denies existence with NSEC3 (RFC 5155: SHA-1, no extra
	// iterations, no salt, as RFC 9276 advises) instead of NSEC.
	NSEC3 bool

	// MX holds the MX RDATA ("10 mx.{z}"; "{z}" is the zone origin with
	// its trailing dot). Nil means one "10 mx.{z}" when Hosts has a host
	// named "mx"; NoMX means no MX RRset at all.
	MX   []string
	NoMX bool
	// Hosts are the SMTP servers of the zone, each with A (and AAAA)
	// records and TLSA records in the zone.
	Hosts []HostSpec
	// Records are extra records in presentation format, "{z}" replaced
	// by the zone origin.
	Records []string
	// NameFaults break single RRsets; Name is relative to the zone.
	NameFaults []NameFault
	// TLSAAt publishes TLSA records, computed from the certificates of
	// any host of the world, at _25._tcp.<Name> for names of this zone
	// that are not themselves hosts (such as the alias of a CNAME).
	TLSAAt []NamedTLSA
	// CNAME, with NoZone, makes "<Name>.test." a signed CNAME in "test."
	// to this name (fully qualified), so the MX lookup of the scenario's
	// domain goes through an alias.
	CNAME string
	// STS publishes an MTA-STS policy for the domain (see STSSpec).
	STS *STSSpec
}

// NamedTLSA is a TLSA RRset published at _25._tcp.<Name> (Name relative
// to the zone), its records computed from the certificates of Host (a
// host name of the world without trailing dot, "{z}" replaced by the
// zone origin without its trailing dot).
type NamedTLSA struct {
	Name string
	Host string
	TLSA []TLSASpec
}

// NameFault breaks one RRset (Name relative to the zone, "" = apex).
type NameFault struct {
	Name string
	Type uint16
	Kind NameFaultKind
}

// HostSpec is one MX host and its SMTP server.
type HostSpec struct {
	// Name is relative to the zone ("mx" → "mx.<zone>"); "@" is the
	// zone apex itself (for the implicit MX).
	Name string
	Mode SMTPMode
	// Delay is slept before the 220 banner.
	Delay time.Duration
	// IPv6 adds AAAA ::1 and a server on [::1] (one host per world).
	IPv6 bool
	// DeadAddr adds a second A record, listed first, at an address of
	// the block where nothing listens, so a connection to it is refused.
	DeadAddr bool
	// ExtraAddrs adds that many more A records, each at an address of
	// the block with its own server behaving like the first (same mode,
	// delay, chain and key).
	ExtraAddrs int
	Cert       CertSpec
	// TLSA records published at _25._tcp.<host>.
	TLSA []TLSASpec
	// TLSAAt, when set (relative to the zone), publishes the TLSA records
	// there instead and makes _25._tcp.<host> a CNAME to it.
	TLSAAt string
}

// Issuer selects who signs a host's leaf certificate.
type Issuer int

const (
	// SelfSignedLeaf (the zero value): the leaf signs itself; the chain
	// is the leaf alone.
	SelfSignedLeaf Issuer = iota
	// CAIssued: the world's intermediate signs the leaf.
	CAIssued
	// ExpiredCAIssued: the world's expired intermediate signs the leaf
	// (which is itself valid); the chain carries that intermediate.
	ExpiredCAIssued
)

// ChainShape selects what a CA-issued host sends.
type ChainShape int

const (
	// LeafIntermediate (the zero value): leaf and intermediate.
	LeafIntermediate ChainShape = iota
	// LeafIntermediateRoot: leaf, intermediate and root.
	LeafIntermediateRoot
	// LeafOnly: the leaf alone.
	LeafOnly
)

// CertSpec describes a host's certificate.
type CertSpec struct {
	Issuer Issuer
	// SANs are DNS names ("{z}" replaced by the zone origin without its
	// trailing dot); nil means the host name.
	SANs []string
	// NoSANs makes a leaf without a subjectAltName extension (SANs is
	// then ignored).
	NoSANs bool
	// CN is the leaf's subject common name ("{z}" as for SANs); "" means
	// the first SAN, or the host name with NoSANs.
	CN       string
	Validity Validity
	Chain    ChainShape
}

// CertRef names which certificate a TLSA record is computed from.
type CertRef int

const (
	// OfLeaf (the zero value): the host's leaf.
	OfLeaf CertRef = iota
	// OfIntermediate: the world's intermediate CA.
	OfIntermediate
	// OfRoot: the world's root CA.
	OfRoot
	// OfOther: an unrelated, freshly made certificate (a mismatch).
	OfOther
)

// TLSASpec is one TLSA record; Data, when set, is used verbatim.
// UpperHex writes the computed data in upper-case hex.
type TLSASpec struct {
	Usage, Selector, MatchingType uint8
	Of                            CertRef
	Data                          string
	UpperHex                      bool
}

// Shorthands for the catalogue.
var (
	eeSPKI   = TLSASpec{Usage: 3, Selector: 1, MatchingType: 1}
	eeCert   = TLSASpec{Usage: 3, Selector: 0, MatchingType: 1}
	taRoot   = TLSASpec{Usage: 2, Selector: 1, MatchingType: 1, Of: OfRoot}
	taInter  = TLSASpec{Usage: 2, Selector: 0, MatchingType: 1, Of: OfIntermediate}
	mismatch = TLSASpec{Usage: 3, Selector: 1, MatchingType: 1, Of: OfOther}
	caLeaf   = CertSpec{Issuer: CAIssued}
)

// Catalogue returns the standard scenarios (a fresh slice each call).
func Catalogue() []ScenarioSpec {
	return []ScenarioSpec{
		{Name: "ee-spki", Description: "DANE-EE 3 1 1 of the server's self-signed key", RFC: "RFC 7672 §3.1.1", Expect: "pass (dane-ee)",
			Hosts: []HostSpec{{Name: "mx", TLSA: []TLSASpec{eeSPKI}}}},
		{Name: "ee-cert", Description: "DANE-EE 3 0 1 of the server's self-signed leaf", RFC: "RFC 7672 §3.1.1", Expect: "pass (dane-ee)",
			Hosts: []HostSpec{{Name: "mx", TLSA: []TLSASpec{eeCert}}}},
		{Name: "ta", Description: "DANE-TA 2 1 1 of the root CA; server sends leaf+intermediate+root", RFC: "RFC 7672 §3.1.2", Expect: "pass (dane-ta)",
			Hosts: []HostSpec{{Name: "mx", Cert: CertSpec{Issuer: CAIssued, Chain: LeafIntermediateRoot}, TLSA: []TLSASpec{taRoot}}}},
		{Name: "ta-intermediate", Description: "DANE-TA 2 0 1 of the intermediate; server sends leaf+intermediate", RFC: "RFC 7672 §3.1.2", Expect: "pass (dane-ta)",
			Hosts: []HostSpec{{Name: "mx", Cert: caLeaf, TLSA: []TLSASpec{taInter}}}},
		{Name: "mismatch", Description: "DANE-EE 3 1 1 of an unrelated key", RFC: "RFC 7672 §3", Expect: "fail: tlsa-invalid (4.7.323)",
			Hosts: []HostSpec{{Name: "mx", TLSA: []TLSASpec{mismatch}}}},
		{Name: "nostarttls", Description: "valid DANE-EE 3 1 1, server does not offer STARTTLS", RFC: "RFC 7672 §2.2", Expect: "fail: starttls-not-supported (4.7.321)",
			Hosts: []HostSpec{{Name: "mx", Mode: NoSTARTTLS, TLSA: []TLSASpec{eeSPKI}}}},
		{Name: "unsigned", Unsigned: true, Description: "unsigned zone (insecure delegation); STARTTLS with a self-signed leaf", RFC: "RFC 7672 §2.2.1", Expect: "opportunistic TLS (no DANE)",
			Hosts: []HostSpec{{Name: "mx", TLSA: []TLSASpec{eeSPKI}}}},
		{Name: "notlsa", Description: "signed zone without TLSA records (NSEC-proven denial)", RFC: "RFC 7672 §2.2 (3)", Expect: "opportunistic TLS (secure denial)",
			Hosts: []HostSpec{{Name: "mx"}}},
		{Name: "expired-rrsig", Fault: ExpiredSigs, Description: "every RRSIG in the zone expired", RFC: "RFC 7672 §2.1.1, RFC 4035 §5.3.1", Expect: "fail: dnssec-invalid (4.7.324), bogus",
			Hosts: []HostSpec{{Name: "mx", TLSA: []TLSASpec{eeSPKI}}}},
		{Name: "ds-mismatch", Fault: BadDS, Description: "the DS in test. matches no DNSKEY of the zone", RFC: "RFC 4035 §5.2", Expect: "fail: dnssec-invalid (4.7.324), bogus",
			Hosts: []HostSpec{{Name: "mx", TLSA: []TLSASpec{eeSPKI}}}},
		{Name: "tlsa-servfail", Description: "the authority answers SERVFAIL for the TLSA query", RFC: "RFC 7672 §2.1.2", Expect: "host unusable: TLSA lookup failed (4.7.324)",
			Hosts:      []HostSpec{{Name: "mx", TLSA: []TLSASpec{eeSPKI}}},
			NameFaults: []NameFault{{Name: "_25._tcp.mx", Type: dns.TypeTLSA, Kind: ServFail}}},
		{Name: "tlsa-timeout", Description: "the TLSA name is a signed CNAME into dead.test., whose server never answers", RFC: "RFC 7672 §2.1.2", Expect: "host unusable: TLSA lookup timed out (4.4.312)",
			Hosts:   []HostSpec{{Name: "mx"}},
			Records: []string{"_25._tcp.mx.{z} CNAME _25._tcp.mx.dead.test."}},
		{Name: "dead", Helper: true, Fault: Drop, Description: "helper: a signed zone whose server never answers", NoMX: true,
			Records: []string{"_25._tcp.mx.{z} TLSA 3 1 1 " + zeroHash}},
		{Name: "pkix-only", Description: "only a PKIX-EE 1 1 1 record (unusable for SMTP); STARTTLS server", RFC: "RFC 7672 §3.1.3", Expect: "TLS mandatory, no authentication",
			Hosts: []HostSpec{{Name: "mx", TLSA: []TLSASpec{{Usage: 1, Selector: 1, MatchingType: 1}}}}},
		{Name: "two-mx", Description: "MX 10 mx1 (TLSA mismatch), MX 20 mx2 (TLSA 3 1 1 match)", RFC: "RFC 7672 §2.2.1", Expect: "deliver via mx2",
			MX: []string{"10 mx1.{z}", "20 mx2.{z}"},
			Hosts: []HostSpec{
				{Name: "mx1", TLSA: []TLSASpec{mismatch}},
				{Name: "mx2", TLSA: []TLSASpec{eeSPKI}},
			}},
		{Name: "nullmx", Description: "null MX (MX 0 .)", RFC: "RFC 7505", Expect: "no mail accepted (5.1.10)",
			MX: []string{"0 ."}},
		{Name: "nxdomain", NoZone: true, Description: "the domain does not exist (NSEC-proven NXDOMAIN in test.)", RFC: "RFC 4035 §3.1.3.2", Expect: "domain does not exist (5.1.2)"},
		{Name: "ta-expired", Description: "DANE-TA 2 1 1 of the root CA; the leaf expired", RFC: "RFC 7672 §3.1.2", Expect: "fail: certificate-expired (4.7.322)",
			Hosts: []HostSpec{{Name: "mx", Cert: CertSpec{Issuer: CAIssued, Validity: Expired, Chain: LeafIntermediateRoot}, TLSA: []TLSASpec{taRoot}}}},
		{Name: "refused", Description: "MX host with a valid TLSA whose address has no listener", RFC: "RFC 7672 §2.2", Expect: "connection refused (4.4.1)",
			Hosts: []HostSpec{{Name: "mx", Mode: NoListener, TLSA: []TLSASpec{eeSPKI}}}},

		// Further cases.
		{Name: "future-rrsig", Fault: FutureSigs, Description: "every RRSIG in the zone is not yet valid", RFC: "RFC 4035 §5.3.1", Expect: "fail: dnssec-invalid (4.7.324), bogus",
			Hosts: []HostSpec{{Name: "mx", TLSA: []TLSASpec{eeSPKI}}}},
		{Name: "no-dnskey", Fault: NoDNSKEY, Description: "the zone has a DS but publishes no DNSKEY RRset", RFC: "RFC 4035 §5.2", Expect: "fail: dnssec-invalid (4.7.324), bogus",
			Hosts: []HostSpec{{Name: "mx", TLSA: []TLSASpec{eeSPKI}}}},
		{Name: "tlsa-nosig", Description: "the TLSA RRset is served without RRSIGs", RFC: "RFC 7672 §2.1.2", Expect: "host unusable: TLSA bogus (4.7.324)",
			Hosts:      []HostSpec{{Name: "mx", TLSA: []TLSASpec{eeSPKI}}},
			NameFaults: []NameFault{{Name: "_25._tcp.mx", Type: dns.TypeTLSA, Kind: NoSig}}},
		{Name: "nsec3-notlsa", NSEC3: true, Description: "a zone denying with NSEC3: no TLSA records (closest encloser proof)", RFC: "RFC 7672 §2.2 (3), RFC 5155 §8", Expect: "opportunistic TLS (secure NSEC3 denial)",
			Hosts: []HostSpec{{Name: "mx"}}},
		{Name: "nsec3-ee", NSEC3: true, Description: "a zone denying with NSEC3; DANE-EE 3 1 1 of the server's key", RFC: "RFC 7672 §3.1.1, RFC 5155", Expect: "pass (dane-ee)",
			Hosts: []HostSpec{{Name: "mx", TLSA: []TLSASpec{eeSPKI}}}},
		{Name: "tlsa-nodenial-nsec3", NSEC3: true, Description: "a zone denying with NSEC3: no TLSA records, but their denial is served without its NSEC3 records", RFC: "RFC 7672 §2.1.1, RFC 5155 §8.4", Expect: "host unusable: TLSA denial unproven, bogus (4.7.324)",
			Hosts:      []HostSpec{{Name: "mx"}},
			NameFaults: []NameFault{{Name: "_25._tcp.mx", Type: dns.TypeTLSA, Kind: NoDenial}}},
		// A validator that uses NSEC records aggressively (RFC 8198) may
		// prove this denial from the NSEC of another answer; the world's
		// Unbound does not.
		{Name: "tlsa-nodenial", Description: "no TLSA records, but their denial is served without its NSEC records", RFC: "RFC 7672 §2.1.1, RFC 4035 §5.4", Expect: "host unusable: TLSA denial unproven, bogus (4.7.324)",
			Hosts:      []HostSpec{{Name: "mx"}},
			NameFaults: []NameFault{{Name: "_25._tcp.mx", Type: dns.TypeTLSA, Kind: NoDenial}}},
		{Name: "starttls-refused", Description: "valid DANE-EE 3 1 1; STARTTLS is offered but answered 454", RFC: "RFC 7672 §2.2", Expect: "fail: starttls-not-supported (4.7.321)",
			Hosts: []HostSpec{{Name: "mx", Mode: RefuseSTARTTLS, TLSA: []TLSASpec{eeSPKI}}}},
		{Name: "ee-expired", Description: "DANE-EE 3 1 1 of an expired self-signed leaf", RFC: "RFC 7672 §3.1.1", Expect: "pass (dane-ee ignores validity dates)",
			Hosts: []HostSpec{{Name: "mx", Cert: CertSpec{Validity: Expired}, TLSA: []TLSASpec{eeSPKI}}}},
		{Name: "ta-notyet", Description: "DANE-TA 2 1 1 of the root CA; the leaf is not yet valid", RFC: "RFC 7672 §3.1.2", Expect: "fail: tlsa-invalid (4.7.323)",
			Hosts: []HostSpec{{Name: "mx", Cert: CertSpec{Issuer: CAIssued, Validity: NotYetValid, Chain: LeafIntermediateRoot}, TLSA: []TLSASpec{taRoot}}}},
		{Name: "ta-badname", Description: "DANE-TA 2 1 1 of the root CA; the leaf names only mail.example", RFC: "RFC 7672 §3.2.2", Expect: "fail: certificate-host-mismatch (4.7.323)",
			Hosts: []HostSpec{{Name: "mx", Cert: CertSpec{Issuer: CAIssued, SANs: []string{"mail.example"}, Chain: LeafIntermediateRoot}, TLSA: []TLSASpec{taRoot}}}},
		{Name: "ta-wildcard", Description: "DANE-TA 2 1 1 of the root CA; the leaf has SAN *.{z}", RFC: "RFC 7672 §3.2.3", Expect: "pass (dane-ta, wildcard)",
			Hosts: []HostSpec{{Name: "mx", Cert: CertSpec{Issuer: CAIssued, SANs: []string{"*.{z}"}, Chain: LeafIntermediateRoot}, TLSA: []TLSASpec{taRoot}}}},
		{Name: "ta-domain-name", Description: "DANE-TA 2 1 1; the leaf names only the destination domain, not the MX host", RFC: "RFC 7672 §3.2.2", Expect: "pass (dane-ta, destination domain as reference identifier)",
			Hosts: []HostSpec{{Name: "mx", Cert: CertSpec{Issuer: CAIssued, SANs: []string{"{z}"}, Chain: LeafIntermediateRoot}, TLSA: []TLSASpec{taRoot}}}},
		{Name: "partial-tlsa", Description: "MX 10 mx1 without TLSA (STARTTLS), MX 20 mx2 with matching 3 1 1", RFC: "RFC 7672 §2.2.1", Expect: "mx1 opportunistic, mx2 dane; mx2 must not pre-empt mx1",
			MX: []string{"10 mx1.{z}", "20 mx2.{z}"},
			Hosts: []HostSpec{
				{Name: "mx1"},
				{Name: "mx2", TLSA: []TLSASpec{eeSPKI}},
			}},
		{Name: "cname-mx", Description: "MX 10 alias.{z}, a secure CNAME to mx.{z}; TLSA 3 1 1 at _25._tcp.mx.{z}", RFC: "RFC 7672 §2.2.3", Expect: "pass (dane-ee via the expanded name)",
			MX:      []string{"10 alias.{z}"},
			Hosts:   []HostSpec{{Name: "mx", TLSA: []TLSASpec{eeSPKI}}},
			Records: []string{"alias.{z} CNAME mx.{z}"}},
		{Name: "tlsa-cname", Description: "_25._tcp.mx.{z} is a secure CNAME to a TLSA RRset (3 1 1, matching) elsewhere in the zone", RFC: "RFC 7672 §2.2.3", Expect: "pass (dane-ee)",
			Hosts: []HostSpec{{Name: "mx", TLSA: []TLSASpec{eeSPKI}, TLSAAt: "tlsa-for-mx"}}},
		{Name: "insecure-mx", Unsigned: true, Description: "unsigned zone whose MX is mx.ee-spki.test. (a secure host with a matching TLSA)", RFC: "RFC 7672 §2.2.1", Expect: "opportunistic (insecure MX); DANE may be used for the secure host",
			MX: []string{"10 mx.ee-spki.test."}},
		{Name: "ipv6", Description: "mx has A (127.X.Y.n) and AAAA ::1, both serving the same chain; TLSA 3 1 1", RFC: "RFC 7672 §2.2.2", Expect: "pass on both addresses",
			Hosts: []HostSpec{{Name: "mx", IPv6: true, TLSA: []TLSASpec{eeSPKI}}}},
		{Name: "big-tlsa", Description: "four TLSA records incl. full certificates (3 0 0, 2 0 0 ×2, 3 1 1): the answer exceeds 1232 octets, so it needs TCP", RFC: "RFC 7672 §3.1, RFC 7766", Expect: "pass (dane-ee or dane-ta)",
			Hosts: []HostSpec{{Name: "mx", Cert: CertSpec{Issuer: CAIssued, Chain: LeafIntermediateRoot}, TLSA: []TLSASpec{
				{Usage: 3, Selector: 0, MatchingType: 0},
				{Usage: 2, Selector: 0, MatchingType: 0, Of: OfIntermediate},
				{Usage: 2, Selector: 0, MatchingType: 0, Of: OfRoot},
				eeSPKI,
			}}}},
		{Name: "digest-agility", Description: "3 1 2 (SHA2-512) matching and 3 1 1 (SHA2-256) not matching", RFC: "RFC 7671 §9", Expect: "pass (the weaker digest is ignored)",
			Hosts: []HostSpec{{Name: "mx", TLSA: []TLSASpec{{Usage: 3, Selector: 1, MatchingType: 2}, mismatch}}}},

		// CNAMEs (RFC 7672 §2.2.2, §2.2.3; RFC 7671 §7).
		{Name: "cname-orig-tlsa", Description: "MX 10 alias.{z}, a secure CNAME to mx.{z}; TLSA 3 1 1 only at _25._tcp.alias.{z}, none at the expanded name", RFC: "RFC 7672 §2.2.2, §2.2.3", Expect: "pass (dane-ee via the original name, the TLSA base domain and SNI)",
			MX:      []string{"10 alias.{z}"},
			Hosts:   []HostSpec{{Name: "mx"}},
			Records: []string{"alias.{z} CNAME mx.{z}"},
			TLSAAt:  []NamedTLSA{{Name: "alias", Host: "mx.{z}", TLSA: []TLSASpec{eeSPKI}}}},
		{Name: "cname-two-link", Description: "MX 10 alias.{z}; alias CNAME mid, mid CNAME mx (all secure); a matching TLSA 3 1 1 only at _25._tcp.mid.{z}", RFC: "RFC 7671 §7, RFC 7672 §2.2.3", Expect: "opportunistic (intermediate names of a CNAME chain are never TLSA base domains)",
			MX:      []string{"10 alias.{z}"},
			Hosts:   []HostSpec{{Name: "mx"}},
			Records: []string{"alias.{z} CNAME mid.{z}", "mid.{z} CNAME mx.{z}"},
			TLSAAt:  []NamedTLSA{{Name: "mid", Host: "mx.{z}", TLSA: []TLSASpec{eeSPKI}}}},
		{Name: "cname-insecure-target", Description: "MX 10 alias.{z}, a secure CNAME to mx.cname-unsigned.test (unsigned zone, decoy TLSA); matching TLSA 3 1 1 at _25._tcp.alias.{z}", RFC: "RFC 7672 §2.2.2", Expect: "pass (dane-ee at the original name only: the first link is secure)",
			MX:      []string{"10 alias.{z}"},
			Records: []string{"alias.{z} CNAME mx.cname-unsigned.test."},
			TLSAAt:  []NamedTLSA{{Name: "alias", Host: "mx.cname-unsigned.test", TLSA: []TLSASpec{eeSPKI}}}},
		{Name: "cname-insecure-start", Description: "MX 10 alias.cname-unsigned.test, an insecure CNAME to mx.ee-spki.test (secure, with a matching TLSA)", RFC: "RFC 7672 §2.2.2", Expect: "opportunistic (the chain is insecure from the start: no TLSA lookup)",
			MX: []string{"10 alias.cname-unsigned.test."}},
		{Name: "cname-unsigned", Helper: true, Unsigned: true, NoMX: true, Description: "helper: unsigned zone with mx (decoy mismatching TLSA) and alias CNAME mx.ee-spki.test",
			Hosts:   []HostSpec{{Name: "mx", TLSA: []TLSASpec{mismatch}}},
			Records: []string{"alias.{z} CNAME mx.ee-spki.test."}},
		{Name: "mx-cname", NoZone: true, CNAME: "ta-domain-name.test.", Description: "{z} is a secure CNAME (in test.) to ta-domain-name.test, whose DANE-TA leaf names only ta-domain-name.test", RFC: "RFC 7672 §2.2.1, §3.2.2", Expect: "pass (the MX lookup follows the CNAME; the expanded destination domain is a DANE-TA reference identifier)"},

		// Several MX hosts, several addresses (RFC 7672 §2.1.2, §2.2.1, §2.2.2).
		{Name: "mx-servfail-a", Description: "MX 10 mx1 (its A query gets SERVFAIL), MX 20 mx2 (matching 3 1 1)", RFC: "RFC 7672 §2.1.2", Expect: "deliver via mx2; mx1 skipped (address lookup failed)",
			MX:         []string{"10 mx1.{z}", "20 mx2.{z}"},
			Hosts:      []HostSpec{{Name: "mx1", TLSA: []TLSASpec{eeSPKI}}, {Name: "mx2", TLSA: []TLSASpec{eeSPKI}}},
			NameFaults: []NameFault{{Name: "mx1", Type: dns.TypeA, Kind: ServFail}}},
		{Name: "all-hosts-fail", Description: "MX 10 mx1 (its A query gets SERVFAIL), MX 20 mx2 (TLSA mismatch)", RFC: "RFC 7672 §2.1.2, §2.2", Expect: "fail: tlsa-invalid (4.7.323) of mx2, the DANE failure",
			MX:         []string{"10 mx1.{z}", "20 mx2.{z}"},
			Hosts:      []HostSpec{{Name: "mx1", TLSA: []TLSASpec{eeSPKI}}, {Name: "mx2", TLSA: []TLSASpec{mismatch}}},
			NameFaults: []NameFault{{Name: "mx1", Type: dns.TypeA, Kind: ServFail}}},
		{Name: "multi-addr", Description: "mx has two A records: one with no listener, one serving a chain matching 3 1 1", RFC: "RFC 7672 §2.2.2", Expect: "pass (one address refuses, the other authenticates)",
			Hosts: []HostSpec{{Name: "mx", DeadAddr: true, TLSA: []TLSASpec{eeSPKI}}}},
		{Name: "insecure-host", Description: "signed MX 10 mx.unsigned.test (an unsigned zone; the host publishes TLSA there)", RFC: "RFC 7672 §2.2.2", Expect: "opportunistic (insecure addresses: no TLSA lookup)",
			MX: []string{"10 mx.unsigned.test."}},
		{Name: "implicit-mx", NoMX: true, Description: "no MX; the domain's own A, with TLSA 3 1 1 at _25._tcp.{z}", RFC: "RFC 7672 §2.2.1, RFC 5321 §5.1", Expect: "pass (implicit MX)",
			Hosts: []HostSpec{{Name: "@", TLSA: []TLSASpec{eeSPKI}}}},

		// Digest agility and TLSA data (RFC 7671 §9, RFC 6698 §4.1, RFC 7672 §3.1.3).
		{Name: "agility-weak-match", Description: "3 1 1 (SHA2-256) matching and 3 1 2 (SHA2-512) not matching", RFC: "RFC 7671 §9", Expect: "fail: tlsa-invalid (4.7.323); the matching SHA2-256 record is ignored",
			Hosts: []HostSpec{{Name: "mx", TLSA: []TLSASpec{eeSPKI, {Usage: 3, Selector: 1, MatchingType: 2, Of: OfOther}}}}},
		{Name: "tlsa-malformed", Description: "five malformed records (3 1 2 with 32 octets, usage 4, selector 2, matching type 3, 3 0 0 that is no certificate) and one matching 3 1 1", RFC: "RFC 6698 §4.1, RFC 7672 §3.1.3", Expect: "pass (the malformed records are unusable, and the short 3 1 2 does not displace the 3 1 1)",
			Hosts: []HostSpec{{Name: "mx", TLSA: []TLSASpec{
				{Usage: 3, Selector: 1, MatchingType: 2, Data: zeroHash},
				{Usage: 4, Selector: 1, MatchingType: 1},
				{Usage: 3, Selector: 2, MatchingType: 1, Data: zeroHash},
				{Usage: 3, Selector: 1, MatchingType: 3, Data: zeroHash},
				{Usage: 3, Selector: 0, MatchingType: 0, Data: "DEADBEEF"},
				eeSPKI,
			}}}},
		{Name: "tlsa-all-malformed", Description: "only malformed records (3 1 2 with 32 octets, usage 4, 3 0 0 that is no certificate); STARTTLS server", RFC: "RFC 7672 §2.2, §3.1.3", Expect: "TLS mandatory, no authentication",
			Hosts: []HostSpec{{Name: "mx", TLSA: []TLSASpec{
				{Usage: 3, Selector: 1, MatchingType: 2, Data: zeroHash},
				{Usage: 4, Selector: 1, MatchingType: 1},
				{Usage: 3, Selector: 0, MatchingType: 0, Data: "DEADBEEF"},
			}}}},
		{Name: "tlsa-uppercase", Description: "matching 3 1 1 written in upper-case hex in the zone", RFC: "RFC 6698 §2.2", Expect: "pass (data compared as bytes)",
			Hosts: []HostSpec{{Name: "mx", TLSA: []TLSASpec{{Usage: 3, Selector: 1, MatchingType: 1, UpperHex: true}}}}},

		// DANE-TA and DANE-EE certificate cases (RFC 7672 §3.1, §3.2).
		{Name: "ta-leaf-only", Description: "DANE-TA 2 1 1 of the intermediate; the server sends its leaf only", RFC: "RFC 7672 §3.1.2, RFC 7671 §5.2.2", Expect: "fail: tlsa-invalid (4.7.323): the trust anchor is not in the chain",
			Hosts: []HostSpec{{Name: "mx", Cert: CertSpec{Issuer: CAIssued, Chain: LeafOnly}, TLSA: []TLSASpec{{Usage: 2, Selector: 1, MatchingType: 1, Of: OfIntermediate}}}}},
		{Name: "ta-full-cert", Description: "DANE-TA 2 0 0 carrying the whole intermediate; the server sends its leaf only", RFC: "RFC 7672 §3.1.2, RFC 7671 §5.2.2", Expect: "pass (dane-ta, anchor from the record)",
			Hosts: []HostSpec{{Name: "mx", Cert: CertSpec{Issuer: CAIssued, Chain: LeafOnly}, TLSA: []TLSASpec{{Usage: 2, Selector: 0, MatchingType: 0, Of: OfIntermediate}}}}},
		{Name: "ta-cn-only", Description: "DANE-TA 2 0 1 of the intermediate; the leaf has CN=mx.{z} and no subjectAltName", RFC: "RFC 7672 §3.2.2", Expect: "pass (the CN counts when there is no DNS-ID)",
			Hosts: []HostSpec{{Name: "mx", Cert: CertSpec{Issuer: CAIssued, NoSANs: true}, TLSA: []TLSASpec{taInter}}}},
		{Name: "ta-cn-san", Description: "DANE-TA 2 0 1 of the intermediate; the leaf has CN=mx.{z} but SAN other.example", RFC: "RFC 7672 §3.2.2", Expect: "fail: certificate-host-mismatch (4.7.323): the CN is ignored beside a DNS-ID",
			Hosts: []HostSpec{{Name: "mx", Cert: CertSpec{Issuer: CAIssued, CN: "mx.{z}", SANs: []string{"other.example"}}, TLSA: []TLSASpec{taInter}}}},
		{Name: "ta-expired-intermediate", Description: "DANE-TA 2 1 1 of the root; the intermediate of leaf+intermediate+root expired", RFC: "RFC 7672 §3.1.2", Expect: "fail: certificate-expired (4.7.322)",
			Hosts: []HostSpec{{Name: "mx", Cert: CertSpec{Issuer: ExpiredCAIssued, Chain: LeafIntermediateRoot}, TLSA: []TLSASpec{taRoot}}}},
		{Name: "ee-notyet", Description: "DANE-EE 3 1 1 of a self-signed leaf that is not yet valid", RFC: "RFC 7672 §3.1.1", Expect: "pass (dane-ee ignores validity dates; the date is noted)",
			Hosts: []HostSpec{{Name: "mx", Cert: CertSpec{Validity: NotYetValid}, TLSA: []TLSASpec{eeSPKI}}}},
	}
}

// SlowScenarios returns opt-in scenarios whose servers are slow or never
// answer (for timeout and parallelism tests); pass them in Options.Extra.
func SlowScenarios(delay time.Duration) []ScenarioSpec {
	return []ScenarioSpec{
		{Name: "tarpit", Description: "valid 3 1 1; the server accepts and never writes", RFC: "RFC 7672 §2.2", Expect: "timeout (4.4.1)",
			Hosts: []HostSpec{{Name: "mx", Mode: Tarpit, TLSA: []TLSASpec{eeSPKI}}}},
		{Name: "slow", Description: "valid 3 1 1; the server sleeps before its banner", RFC: "RFC 7672 §3.1.1", Expect: "pass, slowly",
			Hosts: []HostSpec{{Name: "mx", Delay: delay, TLSA: []TLSASpec{eeSPKI}}}},
	}
}

const zeroHash = "0000000000000000000000000000000000000000000000000000000000000000"

// HostileScenarios returns opt-in scenarios whose servers misbehave on
// purpose (for tests of daned's defences, not of DANE); pass them in
// Options.Extra. Each DANE host among them must end in DEFER, promptly.
func HostileScenarios() []ScenarioSpec {
	return []ScenarioSpec{
		{Name: "hostile-tarpit", Description: "valid 3 1 1; the server accepts and never writes", RFC: "RFC 7672 §2.2", Expect: "defer: timeout (4.4.1)",
			Hosts: []HostSpec{{Name: "mx", Mode: Tarpit, TLSA: []TLSASpec{eeSPKI}}}},
		{Name: "hostile-drip", Description: "valid 3 1 1; the banner drips one byte every DripInterval, forever", RFC: "RFC 5321 §4.5.3.2", Expect: "defer: timeout at the banner step's deadline",
			Hosts: []HostSpec{{Name: "mx", Mode: SlowDrip, TLSA: []TLSASpec{eeSPKI}}}},
		{Name: "hostile-endless", Description: "valid 3 1 1; the banner is an endless multi-line reply", RFC: "RFC 5321 §4.2.1", Expect: "defer: smtp error (too many reply lines)",
			Hosts: []HostSpec{{Name: "mx", Mode: EndlessReply, TLSA: []TLSASpec{eeSPKI}}}},
		{Name: "hostile-stall", Description: "valid 3 1 1; STARTTLS gets 220, then the ClientHello is never answered", RFC: "RFC 3207 §4", Expect: "defer: timeout in the handshake",
			Hosts: []HostSpec{{Name: "mx", Mode: StallHandshake, TLSA: []TLSASpec{eeSPKI}}}},
		{Name: "hostile-garbage", Description: "valid 3 1 1; STARTTLS gets 220, then bytes that are not TLS", RFC: "RFC 3207 §4.2", Expect: "defer: tls handshake failed",
			Hosts: []HostSpec{{Name: "mx", Mode: GarbageAfterSTARTTLS, TLSA: []TLSASpec{eeSPKI}}}},
		{Name: "hostile-garbage-unsigned", Unsigned: true, Description: "unsigned zone; STARTTLS gets 220, then bytes that are not TLS", RFC: "RFC 7672 §2.2", Expect: "pass: cleartext is allowed without DANE",
			Hosts: []HostSpec{{Name: "mx", Mode: GarbageAfterSTARTTLS}}},
	}
}
