package dane_test

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"testing"
	"time"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/internal/testcert"
)

// now is the fixed clock of every test.
var now = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

var (
	validFrom  = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	validUntil = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	longAgo    = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	lastMonth  = time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	nextMonth  = time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
)

// org is the subject organization of every test certificate; verdict
// details quote it.
var org = []string{"daned tests"}

// mint makes the certificate s describes with the defaults of these
// tests: zero dates mean validFrom and validUntil, a nil Organization
// means org. (A certificate that must start in year 1 is made with
// testcert.New.)
func mint(t testing.TB, s testcert.Spec) *testcert.Cert {
	t.Helper()
	if s.NotBefore.IsZero() {
		s.NotBefore = validFrom
	}
	if s.NotAfter.IsZero() {
		s.NotAfter = validUntil
	}
	if s.Organization == nil {
		s.Organization = org
	}
	return testcert.New(t, s)
}

// pki is a root, an intermediate and a server certificate for
// mx.example.com, all valid at now.
type pki struct {
	root, inter, leaf *testcert.Cert
}

func newPKI(t testing.TB) pki {
	t.Helper()
	root := mint(t, testcert.Spec{CommonName: "Test Root", CA: true})
	inter := mint(t, testcert.Spec{CommonName: "Test Intermediate", CA: true, Parent: root})
	leaf := mint(t, testcert.Spec{CommonName: "mx.example.com", DNSNames: []string{"mx.example.com"}, Parent: inter})
	return pki{root, inter, leaf}
}

// rec returns the record of the given parameters that matches cert.
func rec(usage, selector, mtype uint8, cert *x509.Certificate) dane.Record {
	data := cert.Raw
	if selector == dane.SelectorSPKI {
		data = cert.RawSubjectPublicKeyInfo
	}
	switch mtype {
	case dane.MatchSHA256:
		sum := sha256.Sum256(data)
		data = sum[:]
	case dane.MatchSHA512:
		sum := sha512.Sum512(data)
		data = sum[:]
	}
	return dane.Record{Usage: usage, Selector: selector, MatchingType: mtype, Data: data}
}

func chainOf(certs ...*testcert.Cert) []*x509.Certificate {
	out := make([]*x509.Certificate, len(certs))
	for i, c := range certs {
		out[i] = c.Cert
	}
	return out
}
