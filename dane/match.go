package dane

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"fmt"
	"strings"
	"time"
)

// Options are the inputs of Verify besides the chain and the records.
type Options struct {
	// ReferenceNames are the DANE-TA reference identifiers (RFC 7672
	// §3.2.2): the TLSA base domain first, then (when reached through a
	// secure MX) the destination domain and its CNAME expansion. Any
	// case, trailing dots allowed. Empty means no name can match under
	// DANE-TA.
	ReferenceNames []string
	// Now is the time for the DANE-TA validity checks. DANE-EE ignores it
	// (RFC 7672 §3.1.1). The zero value is taken literally, as the first
	// instant of year 1, never as the current time.
	Now time.Time
}

// Result is the outcome of authenticating one chain.
type Result struct {
	// Reason is ReasonOK when the chain is authenticated, else one of
	// ReasonTLSANoMatch, ReasonCertNameMismatch, ReasonCertExpired,
	// ReasonCertNotYetValid or ReasonChainInvalid.
	Reason Reason
	// Matched is the index, into the rrset given to Verify, of the record
	// that authenticated the chain; -1 when none did.
	Matched int
	// Detail is one sentence, safe to show a mail administrator, naming
	// the record ("3 1 1 0123456789abcdef…") and the certificate subject
	// involved.
	Detail string
}

// Authenticated reports whether the chain was authenticated.
func (r Result) Authenticated() bool { return r.Reason == ReasonOK }

// Matches reports whether a record's association data matches a
// certificate: the selector picks the whole DER certificate or its
// SubjectPublicKeyInfo, the matching type says whether to digest it, and
// the result is compared as bytes. The usage is not considered: which
// certificate of a chain a record may match is Verify's business.
func Matches(r Record, cert *x509.Certificate) bool {
	if cert == nil {
		return false
	}
	var selected []byte
	switch r.Selector {
	case SelectorCert:
		selected = cert.Raw
	case SelectorSPKI:
		selected = cert.RawSubjectPublicKeyInfo
	default:
		return false
	}
	if len(selected) == 0 {
		return false
	}
	switch r.MatchingType {
	case MatchFull:
		return bytes.Equal(selected, r.Data)
	case MatchSHA256:
		sum := sha256.Sum256(selected)
		return subtle.ConstantTimeCompare(sum[:], r.Data) == 1
	case MatchSHA512:
		sum := sha512.Sum512(selected)
		return subtle.ConstantTimeCompare(sum[:], r.Data) == 1
	}
	return false
}

// VerifyDER is Verify for a chain of DER certificates as they came off
// the wire. A certificate that does not parse makes the chain invalid,
// as it would have made the TLS handshake fail.
func VerifyDER(chain [][]byte, rrset []AssessedRecord, opts Options) Result {
	certs := make([]*x509.Certificate, len(chain))
	for i, der := range chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return Result{Reason: ReasonChainInvalid, Matched: -1,
				Detail: fmt.Sprintf("%s does not parse as an X.509 certificate: %v", position(i, len(chain)), err)}
		}
		certs[i] = c
	}
	return Verify(certs, rrset, opts)
}

// Verify authenticates a chain as the server presented it (server
// certificate first) against an assessed TLSA RRset (see Assess). Only
// usable records take part. Any DANE-EE(3) record matching the server
// certificate authenticates it outright; otherwise each DANE-TA(2)
// record is tried, and when all fail the most telling failure is
// reported: an expired, then a not yet valid certificate, then a name
// mismatch, then an invalid chain, all for records that did find their
// trust anchor, before ReasonTLSANoMatch.
func Verify(chain []*x509.Certificate, rrset []AssessedRecord, opts Options) Result {
	if len(chain) == 0 {
		return noMatch("the server presented no certificate")
	}
	for i, c := range chain {
		if c == nil {
			return Result{Reason: ReasonChainInvalid, Matched: -1,
				Detail: fmt.Sprintf("%s is missing", position(i, len(chain)))}
		}
	}
	if !HasUsable(rrset) {
		return noMatch("the TLSA RRset has no usable record, so none can authenticate the server (RFC 7672 §2.2)")
	}
	leaf := chain[0]

	// RFC 7672 §3.1.1 and §3.2.1: a DANE-EE(3) match needs neither name
	// checks nor validity dates; the RRSIG of the TLSA record is what
	// keeps the binding fresh, and the key may even be a bare key.
	for i, s := range rrset {
		if s.Usable && s.Usage == UsageDANEEE && Matches(s.Record, leaf) {
			return Result{Reason: ReasonOK, Matched: i,
				Detail: fmt.Sprintf("DANE-EE record %s matches the server certificate %s (names and validity dates are not checked, RFC 7672 §3.1.1)",
					describe(s.Record), subjectOf(leaf))}
		}
	}

	now := opts.Now
	if now.IsZero() {
		// crypto/x509 reads the zero CurrentTime as "use the clock";
		// this package has no clock, so keep the instant literal.
		now = now.Add(time.Nanosecond)
	}
	var (
		worst    Result
		leafOnly []Record
	)
	for i, s := range rrset {
		if !s.Usable || s.Usage != UsageDANETA {
			continue
		}
		anchors, matchesLeaf := taAnchors(s.Record, chain)
		if len(anchors) == 0 {
			if matchesLeaf {
				leafOnly = append(leafOnly, s.Record)
			}
			continue
		}
		for _, a := range anchors {
			res := verifyTA(chain, a, s.Record, opts.ReferenceNames, now)
			if res.Reason == ReasonOK {
				res.Matched = i
				return res
			}
			if severity(res.Reason) > severity(worst.Reason) {
				worst = res
			}
		}
	}
	if worst.Reason != ReasonUnspecified {
		return worst
	}
	return noMatch(explainNoMatch(chain, rrset, leafOnly))
}

// severity orders DANE-TA failures by how much they tell the
// administrator: an anchored chain that failed on a date or a name says
// exactly what to fix, "chain invalid" less so.
func severity(r Reason) int {
	switch r {
	case ReasonCertExpired:
		return 4
	case ReasonCertNotYetValid:
		return 3
	case ReasonCertNameMismatch:
		return 2
	case ReasonChainInvalid:
		return 1
	}
	return 0
}

func noMatch(detail string) Result {
	return Result{Reason: ReasonTLSANoMatch, Matched: -1, Detail: detail}
}

// explainNoMatch says why no usable record matched, pointing at the
// mistakes publishers actually make: a certificate that matches only a
// digest RFC 7671 §9 told us to ignore, a DANE-TA(2) record pinning the
// server certificate itself, or DANE-TA(2) digests with no issuer sent.
func explainNoMatch(chain []*x509.Certificate, rrset []AssessedRecord, leafOnly []Record) string {
	leaf := chain[0]
	for _, s := range rrset {
		stronger, ok := droppedForAgility(s, rrset)
		if !ok {
			continue
		}
		what, matched := "server certificate", Matches(s.Record, leaf)
		if s.Usage == UsageDANETA {
			what, matched = "server's chain", false
			for _, c := range chain[1:] {
				matched = matched || Matches(s.Record, c)
			}
		}
		if matched {
			return fmt.Sprintf("the %s matches only the %s record %s, which RFC 7671 §9 ignores because a %s record is published for %d %d; no %s record matches",
				what, matchingName(s.MatchingType), describe(s.Record), matchingName(stronger), s.Usage, s.Selector, matchingName(stronger))
		}
	}
	if len(leafOnly) > 0 {
		r := leafOnly[0]
		return fmt.Sprintf("DANE-TA record %s matches the server certificate %s itself, but a DANE-TA(2) record must match an issuer in the chain (RFC 7671 §5.2); to pin the server certificate publish it as a DANE-EE(3) record (%d %d %d)",
			describe(r), subjectOf(leaf), UsageDANEEE, r.Selector, r.MatchingType)
	}
	var usable []string
	taDigest := false
	for _, s := range rrset {
		if s.Usable {
			usable = append(usable, describe(s.Record))
			taDigest = taDigest || (s.Usage == UsageDANETA && s.MatchingType != MatchFull)
		}
	}
	if len(usable) > 4 {
		usable = append(usable[:4], fmt.Sprintf("and %d more", len(usable)-4))
	}
	detail := fmt.Sprintf("no usable TLSA record (%s) matches the server certificate %s or its chain",
		strings.Join(usable, ", "), subjectOf(leaf))
	if taDigest && len(chain) == 1 {
		detail += "; the server sent no issuer certificate, which DANE-TA(2) digest records need (RFC 7671 §5.2.2)"
	}
	return detail
}

// droppedForAgility reports whether Assess set s aside only for RFC 7671
// §9 digest agility, and the stronger digest that displaced it. It is
// recomputed from the RRset so that it holds whoever built the AssessedRecord.
func droppedForAgility(s AssessedRecord, rrset []AssessedRecord) (stronger uint8, ok bool) {
	if s.Usable || s.MatchingType == MatchFull || malformed(s.Record) != "" {
		return 0, false
	}
	for _, o := range rrset {
		if o.Usable && o.Usage == s.Usage && o.Selector == s.Selector && o.MatchingType > s.MatchingType {
			stronger = max(stronger, o.MatchingType)
		}
	}
	return stronger, stronger != 0
}

// position names a certificate of a presented chain for an
// administrator.
func position(i, n int) string {
	if i == 0 {
		return "the server certificate"
	}
	return fmt.Sprintf("certificate %d of the %d in the server's chain (1 is the server certificate)", i+1, n)
}

// subjectOf quotes a certificate's subject, escaping whatever a hostile
// server put in it.
func subjectOf(c *x509.Certificate) string {
	if s := c.Subject.String(); s != "" {
		return fmt.Sprintf("%q", s)
	}
	return "(with an empty subject)"
}
