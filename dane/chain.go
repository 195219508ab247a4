package dane

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// anchor is a DANE-TA(2) trust anchor: a certificate (from the chain or
// from a 2 0 0 record) or a bare public key (from a 2 1 0 record).
type anchor struct {
	cert    *x509.Certificate // nil for a bare key
	key     any               // set only for a bare key
	keyAlgo x509.PublicKeyAlgorithm
	inChain bool
}

func (a anchor) String() string {
	switch {
	case a.cert != nil && a.inChain:
		return "the chain's certificate " + subjectOf(a.cert)
	case a.cert != nil:
		return "the certificate " + subjectOf(a.cert) + " carried by the record"
	}
	return "the public key carried by the record"
}

// maxSignatureChecks bounds path building: a hostile server can send
// many certificates with the same names, and a verdict must stay cheap.
const maxSignatureChecks = 64

// taAnchors returns the trust anchors a DANE-TA(2) record designates for
// this chain, and whether the record matches the server certificate.
//
// The record is matched against the issuers the server sent, never the
// server certificate itself: RFC 7671 §5.2 makes a DANE-TA(2) record
// designate a trust anchor that issues the server's chain, and OpenSSL's
// DANE code, which Postfix and Exim use, tries DANE-TA(2) records only
// above depth 0. A record that matches the server certificate alone
// therefore authenticates nothing; Verify says so and suggests DANE-EE(3),
// whose meaning that is. The same goes for a 2 0 0 or 2 1 0 record whose
// data is the server certificate or its key.
//
// When no issuer matches, a 2 0 0 or 2 1 0 record still supplies its
// anchor from its own data: RFC 7671 §5.2.2 requires that for 2 0 0 and
// §5.2.3 recommends it for 2 1 0, since the anchor need not be sent.
func taAnchors(r Record, chain []*x509.Certificate) (anchors []anchor, matchesLeaf bool) {
	leaf := chain[0]
	matchesLeaf = Matches(r, leaf)
	for _, c := range chain[1:] {
		if c.Equal(leaf) || !Matches(r, c) || containsCert(anchors, c) {
			continue
		}
		anchors = append(anchors, anchor{cert: c, inChain: true})
	}
	if len(anchors) > 0 || matchesLeaf || r.MatchingType != MatchFull {
		return anchors, matchesLeaf
	}
	switch r.Selector {
	case SelectorCert:
		if c, err := x509.ParseCertificate(r.Data); err == nil {
			anchors = append(anchors, anchor{cert: c})
		}
	case SelectorSPKI:
		// An algorithm crypto/x509 cannot parse cannot check a signature
		// either; such a record can still match a chain certificate above.
		if key, err := x509.ParsePKIXPublicKey(r.Data); err == nil {
			if algo := keyAlgorithm(key); algo != x509.UnknownPublicKeyAlgorithm {
				anchors = append(anchors, anchor{key: key, keyAlgo: algo})
			}
		}
	}
	return anchors, false
}

func containsCert(anchors []anchor, c *x509.Certificate) bool {
	for _, a := range anchors {
		if a.cert != nil && a.cert.Equal(c) {
			return true
		}
	}
	return false
}

func keyAlgorithm(key any) x509.PublicKeyAlgorithm {
	switch key.(type) {
	case *rsa.PublicKey:
		return x509.RSA
	case *ecdsa.PublicKey:
		return x509.ECDSA
	case ed25519.PublicKey:
		return x509.Ed25519
	}
	return x509.UnknownPublicKeyAlgorithm
}

// verifyTA validates the chain from one trust anchor down to the server
// certificate, then checks the names. It reports the first failure in
// this order: no path of valid signatures, a certificate below the
// anchor out of its validity period, a constraint the path breaks, a
// name mismatch.
func verifyTA(chain []*x509.Certificate, a anchor, r Record, refs []string, now time.Time) Result {
	leaf := chain[0]
	fail := func(reason Reason, format string, args ...any) Result {
		return Result{Reason: reason, Matched: -1, Detail: fmt.Sprintf(format, args...)}
	}
	path, err := buildPath(chain, a)
	if path == nil {
		why := ""
		if err != nil {
			why = fmt.Sprintf(" (%v)", err)
		}
		return fail(ReasonChainInvalid, "DANE-TA record %s designates %s as trust anchor, but no chain of valid signatures leads from it to the server certificate %s%s",
			describe(r), a, subjectOf(leaf), why)
	}

	// RFC 7672 §3.1.2, RFC 7671 §5.2: below the anchor, validity dates
	// count as in any PKIX chain. The anchor's own dates do not: a trust
	// anchor is a name and a key (RFC 5280 §6.1.1), and the TLSA RRSIG
	// vouches for it. Checked here, not by x509.Verify, so the detail
	// names the certificate that is out of date.
	for i, c := range path {
		if now.After(c.NotAfter) {
			return fail(ReasonCertExpired, "%s %s, under the trust anchor of DANE-TA record %s, expired at %s",
				pathName(i), subjectOf(c), describe(r), c.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	for i, c := range path {
		if now.Before(c.NotBefore) {
			return fail(ReasonCertNotYetValid, "%s %s, under the trust anchor of DANE-TA record %s, is not valid before %s",
				pathName(i), subjectOf(c), describe(r), c.NotBefore.UTC().Format(time.RFC3339))
		}
	}

	// The rest of RFC 5280 path validation (basic and name constraints,
	// path length, critical extensions) is crypto/x509's, run on exactly
	// the path found above. The anchor gets an unbounded validity period
	// because its dates must not count.
	root := anchorCert(a, path[len(path)-1])
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	for _, c := range path[1:] {
		inters.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inters,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return fail(ReasonChainInvalid, "the chain from the trust anchor of DANE-TA record %s (%s) to the server certificate %s fails validation: %v",
			describe(r), a, subjectOf(leaf), err)
	}

	// RFC 7672 §3.2.2: under DANE-TA the server certificate must name a
	// reference identifier, otherwise any certificate of that CA would do.
	if why := checkNames(leaf, refs); why != "" {
		return fail(ReasonCertNameMismatch, "DANE-TA record %s matched, but %s", describe(r), why)
	}
	return Result{Reason: ReasonOK, Detail: fmt.Sprintf("DANE-TA record %s matches %s, which issues a valid chain to the server certificate %s, and that certificate names a reference identifier",
		describe(r), a, subjectOf(leaf))}
}

func pathName(i int) string {
	if i == 0 {
		return "the server certificate"
	}
	return "the intermediate certificate"
}

// anchorCert returns the anchor as a root for x509.Verify: a copy of the
// anchor certificate with its dates opened wide, or for a bare key a
// stand-in certificate carrying just the key and the name its child
// expects (a key anchor has no name of its own, RFC 7671 §5.2.3).
func anchorCert(a anchor, top *x509.Certificate) *x509.Certificate {
	var c x509.Certificate
	if a.cert != nil {
		c = *a.cert
	} else {
		c = x509.Certificate{
			PublicKey:          a.key,
			PublicKeyAlgorithm: a.keyAlgo,
			RawSubject:         top.RawIssuer,
			Subject:            top.Issuer,
		}
	}
	c.NotBefore = time.Time{}
	c.NotAfter = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	return &c
}

// issued checks that the anchor signed c, with the same name chaining
// as RFC 5280 §6.1 for a certificate anchor. A bare key is checked
// through a stand-in parent so that CheckSignatureFrom's refusal of
// SHA-1 and MD5 signatures still applies.
func (a anchor) issued(c *x509.Certificate) error {
	if a.cert != nil {
		if !bytes.Equal(c.RawIssuer, a.cert.RawSubject) {
			return errNameChain
		}
		return c.CheckSignatureFrom(a.cert)
	}
	return c.CheckSignatureFrom(&x509.Certificate{PublicKey: a.key, PublicKeyAlgorithm: a.keyAlgo})
}

var errNameChain = errors.New("issuer name does not match")

// buildPath finds a path from the server certificate up to a certificate
// the anchor signed, through the other certificates the server sent in
// any order (servers often send them shuffled or with extras). The path
// starts with the server certificate and excludes the anchor. On failure
// it returns nil and the most telling signature error met, if any.
func buildPath(chain []*x509.Certificate, a anchor) ([]*x509.Certificate, error) {
	var pool []*x509.Certificate
	for _, c := range chain[1:] {
		if c.Equal(chain[0]) || (a.cert != nil && c.Equal(a.cert)) {
			continue
		}
		pool = append(pool, c)
	}
	used := make([]bool, len(pool))
	budget := maxSignatureChecks
	// The error met highest up the chain says best where it breaks.
	var (
		sigErr   error
		errDepth int
	)
	note := func(depth int, err error) {
		if sigErr == nil || depth > errDepth {
			sigErr, errDepth = err, depth
		}
	}
	var walk func(path []*x509.Certificate) []*x509.Certificate
	walk = func(path []*x509.Certificate) []*x509.Certificate {
		cur := path[len(path)-1]
		if budget <= 0 {
			return nil
		}
		budget--
		err := a.issued(cur)
		if err == nil {
			return path
		}
		if !errors.Is(err, errNameChain) {
			note(len(path), fmt.Errorf("the signature on %s does not verify with the anchor: %w", subjectOf(cur), err))
		}
		for k, c := range pool {
			if used[k] || !bytes.Equal(cur.RawIssuer, c.RawSubject) || budget <= 0 {
				continue
			}
			budget--
			if err := cur.CheckSignatureFrom(c); err != nil {
				note(len(path), fmt.Errorf("the signature on %s does not verify with the key of %s: %w", subjectOf(cur), subjectOf(c), err))
				continue
			}
			used[k] = true
			if p := walk(append(path, c)); p != nil {
				return p
			}
			used[k] = false
		}
		return nil
	}
	if p := walk([]*x509.Certificate{chain[0]}); p != nil {
		return p, nil
	}
	return nil, sigErr
}
