package dane

import (
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"slices"
	"strings"
)

var oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}

// ReferenceNames returns the DANE-TA reference identifiers of an MX host
// (RFC 7672 §3.2.2), the names a server certificate is checked against
// under DANE-TA(2) (see Options): the TLSA base domain first, then the MX
// host name when the base is its CNAME expansion, and, only when the MX
// RRset is secure, the destination domain and its CNAME expansion
// (expanded, "" when the MX lookup met no alias). A destination name
// already in the list, or empty, is not added again.
func ReferenceNames(tlsaBase, host, domain, expanded string, mxSecure bool) []string {
	names := []string{tlsaBase}
	if host != tlsaBase {
		names = append(names, host)
	}
	if mxSecure {
		for _, d := range []string{domain, expanded} {
			if d != "" && !slices.Contains(names, d) {
				names = append(names, d)
			}
		}
	}
	return names
}

// presentedNames returns the names a certificate offers for DANE-TA name
// checks. RFC 7672 §3.2.2 (after RFC 6125 §6.4.4): the DNS-ID
// subjectAltNames, and the subject common names only when there is no
// DNS-ID at all, so that a certificate cannot widen its SANs through its
// CN. Every common name counts, not only the last one.
func presentedNames(cert *x509.Certificate) (names []string, fromCN bool) {
	if len(cert.DNSNames) > 0 {
		return cert.DNSNames, false
	}
	for _, atv := range cert.Subject.Names {
		if !atv.Type.Equal(oidCommonName) {
			continue
		}
		if s, ok := atv.Value.(string); ok {
			names = append(names, s)
		}
	}
	return names, true
}

// matchName reports whether the presented name covers the reference
// identifier. Both compare without regard to ASCII case or a trailing
// dot. A wildcard is honoured only as the whole leftmost label and covers
// exactly one label (RFC 7672 §3.2.3): "*.example.com" covers
// "mx.example.com" but neither "example.com" nor "a.mx.example.com".
// Partial-label wildcards ("m*.example.com") match nothing, nor do
// wildcards over a single label ("*.com").
func matchName(presented, reference string) bool {
	p, r := normalizeName(presented), normalizeName(reference)
	if p == "" || r == "" || strings.Contains(r, "*") {
		return false
	}
	if !strings.Contains(p, "*") {
		return p == r
	}
	suffix, ok := strings.CutPrefix(p, "*.")
	if !ok || strings.Contains(suffix, "*") || !strings.Contains(suffix, ".") {
		return false
	}
	first, rest, ok := strings.Cut(r, ".")
	return ok && first != "" && rest == suffix
}

// normalizeName lowers ASCII letters only (DNS names are compared in
// ASCII; Unicode folding would let "\u212a" match "k") and drops one
// trailing dot.
func normalizeName(s string) string {
	s = strings.TrimSuffix(s, ".")
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

// checkNames applies the DANE-TA(2) name checks of RFC 7672 §3.2.2 to the
// server certificate and returns "" when one of refs is covered, else a
// sentence for the administrator saying what was tried.
func checkNames(leaf *x509.Certificate, refs []string) string {
	names, fromCN := presentedNames(leaf)
	for _, ref := range refs {
		for _, n := range names {
			if matchName(n, ref) {
				return ""
			}
		}
	}
	carries := "no DNS names"
	switch {
	case len(names) > 0 && fromCN:
		carries = "no DNS subjectAltName and the common name(s) " + listNames(names)
	case len(names) > 0:
		carries = "the DNS names " + listNames(names)
	}
	if len(refs) == 0 {
		return fmt.Sprintf("certificate %s carries %s, but no reference identifier was given to match them against (RFC 7672 §3.2.2)",
			subjectOf(leaf), carries)
	}
	return fmt.Sprintf("certificate %s carries %s, none of which matches the reference identifiers %s (RFC 7672 §3.2.2)",
		subjectOf(leaf), carries, listNames(refs))
}

// listNames quotes at most a handful of names: a certificate can carry
// hundreds of SANs, and the detail must stay one readable sentence.
func listNames(names []string) string {
	const most = 6
	quoted := make([]string, 0, most)
	for i, n := range names {
		if i == most {
			break
		}
		quoted = append(quoted, fmt.Sprintf("%q", n))
	}
	s := strings.Join(quoted, ", ")
	if len(names) > most {
		s += fmt.Sprintf(" and %d more", len(names)-most)
	}
	return s
}
