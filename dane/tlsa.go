package dane

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
)

// TLSA field values (RFC 6698 §2.1, names from RFC 7218).
const (
	UsagePKIXTA uint8 = 0 // PKIX-TA(0): not used for SMTP (RFC 7672 §3.1.3)
	UsagePKIXEE uint8 = 1 // PKIX-EE(1): not used for SMTP (RFC 7672 §3.1.3)
	UsageDANETA uint8 = 2 // DANE-TA(2): a trust anchor of the server's chain
	UsageDANEEE uint8 = 3 // DANE-EE(3): the server's own certificate or key

	SelectorCert uint8 = 0 // Cert(0): the whole DER certificate
	SelectorSPKI uint8 = 1 // SPKI(1): the DER SubjectPublicKeyInfo

	MatchFull   uint8 = 0 // Full(0): the selected data itself
	MatchSHA256 uint8 = 1 // SHA2-256(1): its SHA-256 digest
	MatchSHA512 uint8 = 2 // SHA2-512(2): its SHA-512 digest
)

// Record is one TLSA record (RFC 6698 §2.1). Data is the decoded
// certificate association data: bytes, never hex text, so that the case
// of the zone file's hex digits cannot matter.
type Record struct {
	Usage, Selector, MatchingType uint8
	Data                          []byte
}

// ParseRecord builds a Record from a TLSA record's fields as a zone file
// or the API gives them (RFC 6698 §2.2): the certificate association data
// arrives as hexadecimal text, in either case, and is decoded here so that
// matching compares bytes, never hex text. The text must be hex digits
// only, no whitespace. When it is not, ParseRecord returns encoding/hex's
// error and the Record without Data, which Assess marks unusable.
func ParseRecord(usage, selector, mtype uint8, hexData string) (Record, error) {
	r := Record{Usage: usage, Selector: selector, MatchingType: mtype}
	data, err := hex.DecodeString(hexData)
	if err != nil {
		return r, err
	}
	r.Data = data
	return r, nil
}

// AssessedRecord is a record of a TLSA RRset together with whether it
// takes part in authentication, as decided by Assess. It is not an SMTP
// status (see SMTPStatus and StatusOf).
type AssessedRecord struct {
	Record
	// Usable reports whether the record takes part in authentication.
	Usable bool
	// Why says why the record is not usable, in words safe to show a
	// mail administrator; it is "" when the record is usable.
	Why string
}

// Assess decides which records of a TLSA RRset take part in
// authentication. The result is parallel to rrset: same order, same
// length, with Data sharing rrset's backing arrays.
//
// A record is unusable when RFC 6698 §4.1 and RFC 7672 §3.1.3 say a
// client must ignore it: an unknown usage, selector or matching type, the
// PKIX usages 0 and 1 (SMTP has no CA list to anchor them), a digest of
// the wrong length, or Full(0) data that is not a certificate (selector 0)
// or a SubjectPublicKeyInfo (selector 1). Then RFC 7671 §9 digest
// agility, which RFC 7672 §5 makes mandatory, applies to what is left:
// within each (usage, selector), Full(0) records all stay, and of the
// digests only the strongest published one stays (SHA2-512 over
// SHA2-256), so an attacker who can break the weaker digest gains
// nothing from the publisher keeping it for older clients.
func Assess(rrset []Record) []AssessedRecord {
	out := make([]AssessedRecord, len(rrset))
	for i, r := range rrset {
		why := malformed(r)
		out[i] = AssessedRecord{Record: r, Usable: why == "", Why: why}
	}
	var strongest [4][2]uint8 // [usage][selector] → strongest usable digest
	for _, s := range out {
		if s.Usable && s.MatchingType > strongest[s.Usage][s.Selector] {
			strongest[s.Usage][s.Selector] = s.MatchingType
		}
	}
	for i, s := range out {
		if !s.Usable || s.MatchingType == MatchFull {
			continue
		}
		if best := strongest[s.Usage][s.Selector]; s.MatchingType < best {
			out[i].Usable = false
			out[i].Why = fmt.Sprintf("a %s record is published for %d %d, so this weaker %s record is ignored (RFC 7671 §9 digest agility)",
				matchingName(best), s.Usage, s.Selector, matchingName(s.MatchingType))
		}
	}
	return out
}

// HasUsable reports whether any record of an assessed RRset is usable.
// When none is, RFC 7672 §2.2 makes TLS mandatory but not its
// authentication: the host's policy is TLS-required, not DANE.
func HasUsable(rrset []AssessedRecord) bool {
	for _, s := range rrset {
		if s.Usable {
			return true
		}
	}
	return false
}

// malformed returns why r is unusable on its own (RFC 6698 §4.1, RFC 7672
// §3.1.3), or "" when it is usable.
func malformed(r Record) string {
	switch r.Usage {
	case UsagePKIXTA:
		return "usage 0 (PKIX-TA) is not used with SMTP, which has no agreed set of certification authorities (RFC 7672 §3.1.3)"
	case UsagePKIXEE:
		return "usage 1 (PKIX-EE) is not used with SMTP, which has no agreed set of certification authorities (RFC 7672 §3.1.3)"
	case UsageDANETA, UsageDANEEE:
	default:
		return fmt.Sprintf("certificate usage %d is unknown (RFC 6698 §4.1)", r.Usage)
	}
	if r.Selector > SelectorSPKI {
		return fmt.Sprintf("selector %d is unknown (RFC 6698 §4.1)", r.Selector)
	}
	switch r.MatchingType {
	case MatchFull:
		if r.Selector == SelectorCert {
			if _, err := x509.ParseCertificate(r.Data); err != nil {
				return "the full-certificate data does not parse as a DER X.509 certificate (RFC 6698 §4.1)"
			}
		} else if !isSPKI(r.Data) {
			return "the full-key data does not parse as a DER SubjectPublicKeyInfo (RFC 6698 §4.1)"
		}
	case MatchSHA256, MatchSHA512:
		if want := digestLen(r.MatchingType); len(r.Data) != want {
			return fmt.Sprintf("%s data must be %d bytes long, this record has %d (RFC 7671 §9)",
				matchingName(r.MatchingType), want, len(r.Data))
		}
	default:
		return fmt.Sprintf("matching type %d is unknown (RFC 6698 §4.1)", r.MatchingType)
	}
	return ""
}

// isSPKI reports whether b is exactly one DER SubjectPublicKeyInfo. Only
// the structure is checked, not that Go supports the key's algorithm:
// DANE-EE(3) compares the bytes and never needs the key, so an algorithm
// crypto/x509 lacks must not turn a DANE policy into a TLS-only one.
func isSPKI(b []byte) bool {
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	rest, err := asn1.Unmarshal(b, &spki)
	return err == nil && len(rest) == 0
}

func digestLen(mtype uint8) int {
	switch mtype {
	case MatchSHA256:
		return 32
	case MatchSHA512:
		return 64
	}
	return 0
}

func matchingName(mtype uint8) string {
	switch mtype {
	case MatchFull:
		return "Full"
	case MatchSHA256:
		return "SHA2-256"
	case MatchSHA512:
		return "SHA2-512"
	}
	return fmt.Sprintf("matching type %d", mtype)
}

// describe renders r as an administrator would find it in a zone file,
// with only the start of the data: "3 1 1 0123456789abcdef…".
func describe(r Record) string {
	const show = 8 // bytes, 16 hex digits
	if len(r.Data) == 0 {
		return fmt.Sprintf("%d %d %d (no data)", r.Usage, r.Selector, r.MatchingType)
	}
	if len(r.Data) <= show {
		return fmt.Sprintf("%d %d %d %s", r.Usage, r.Selector, r.MatchingType, hex.EncodeToString(r.Data))
	}
	return fmt.Sprintf("%d %d %d %s…", r.Usage, r.Selector, r.MatchingType, hex.EncodeToString(r.Data[:show]))
}
