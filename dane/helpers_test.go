package dane_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daned/daned/dane"
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

// issued is a certificate with its private key.
type issued struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// spec describes a certificate to mint. Zero dates mean validFrom and
// validUntil; a nil key means a fresh ECDSA P-256 key; a nil parent
// means self-signed.
type spec struct {
	cn        string
	dns       []string
	ca        bool
	notBefore time.Time
	notAfter  time.Time
	key       crypto.Signer
	parent    *issued
	// permitted sets a name constraint on a CA.
	permitted []string
	// sinceYear1 sets notBefore to 0001-01-01, the zero time.Time.
	sinceYear1 bool
	// serial, when not zero, fixes the serial number (fuzz seeds must be
	// the same bytes in every process).
	serial int64
}

var serial atomic.Int64

func newECKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newEd25519Key(t testing.TB) crypto.Signer {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
	rsaErr  error
)

// newRSAKey returns one shared 2048-bit key: generating RSA keys is slow.
func newRSAKey(t testing.TB) crypto.Signer {
	t.Helper()
	rsaOnce.Do(func() { rsaKey, rsaErr = rsa.GenerateKey(rand.Reader, 2048) })
	if rsaErr != nil {
		t.Fatal(rsaErr)
	}
	return rsaKey
}

func mint(t testing.TB, s spec) *issued {
	t.Helper()
	if s.key == nil {
		s.key = newECKey(t)
	}
	if s.serial == 0 {
		s.serial = serial.Add(1)
	}
	if s.notBefore.IsZero() && !s.sinceYear1 {
		s.notBefore = validFrom
	}
	if s.notAfter.IsZero() {
		s.notAfter = validUntil
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(s.serial),
		Subject:      pkix.Name{CommonName: s.cn, Organization: []string{"daned tests"}},
		DNSNames:     s.dns,
		NotBefore:    s.notBefore,
		NotAfter:     s.notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if s.ca {
		tmpl.IsCA = true
		tmpl.BasicConstraintsValid = true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = nil
		tmpl.PermittedDNSDomains = s.permitted
	}
	parent, signer := tmpl, s.key
	if s.parent != nil {
		parent, signer = s.parent.cert, s.parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, s.key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &issued{cert: cert, key: s.key}
}

// pki is a root, an intermediate and a server certificate for
// mx.example.com, all valid at now.
type pki struct {
	root, inter, leaf *issued
}

func newPKI(t testing.TB) pki {
	t.Helper()
	root := mint(t, spec{cn: "Test Root", ca: true})
	inter := mint(t, spec{cn: "Test Intermediate", ca: true, parent: root})
	leaf := mint(t, spec{cn: "mx.example.com", dns: []string{"mx.example.com"}, parent: inter})
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

func chainOf(certs ...*issued) []*x509.Certificate {
	out := make([]*x509.Certificate, len(certs))
	for i, c := range certs {
		out[i] = c.cert
	}
	return out
}
