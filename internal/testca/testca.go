// Package testca is a WebPKI for the MTA-STS tests, on top of
// internal/testcert: a root, intermediates and server certificates with
// chosen names and validity, each with a fresh ECDSA P-256 key. It adds
// what the MTA-STS tests need over testcert: the chain a server presents,
// a root pool and the root as SSL_CERT_FILE wants it.
//
// It is for tests only and does not try to look like a real CA.
package testca

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/daned/daned/internal/testcert"
)

// CA is a root or an intermediate certificate authority.
type CA struct {
	Cert  *x509.Certificate
	Key   crypto.Signer
	c     *testcert.Cert
	chain []*testcert.Cert // this CA and its issuers below the root, nearest first
}

// New returns a self-signed root named name, valid from a year before now
// to ten years after.
func New(t testing.TB, name string, now time.Time) *CA {
	t.Helper()
	c := testcert.New(t, testcert.Spec{CommonName: name, CA: true, NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(10, 0, 0)})
	return &CA{Cert: c.Cert, Key: c.Key, c: c}
}

// Pool returns a pool holding this CA's certificate only.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// PEM returns the CA certificate PEM-encoded, as SSL_CERT_FILE wants it.
func (ca *CA) PEM() []byte { return ca.c.CertPEM }

// Intermediate returns an intermediate CA issued by ca, valid from
// notBefore to notAfter.
func (ca *CA) Intermediate(t testing.TB, name string, notBefore, notAfter time.Time) *CA {
	t.Helper()
	c := testcert.New(t, testcert.Spec{CommonName: name, CA: true, NotBefore: notBefore, NotAfter: notAfter, Parent: ca.c})
	return &CA{Cert: c.Cert, Key: c.Key, c: c, chain: append([]*testcert.Cert{c}, ca.chain...)}
}

// Leaf describes a server certificate.
type Leaf struct {
	DNSNames            []string
	NotBefore, NotAfter time.Time
	// ExtKeyUsage: nil means server authentication.
	ExtKeyUsage []x509.ExtKeyUsage
}

// Issue returns a server certificate issued by ca, the chain a server
// presents (leaf first, then ca's intermediates, no root) and the same as
// a tls.Certificate.
func (ca *CA) Issue(t testing.TB, l Leaf) (chain []*x509.Certificate, tc tls.Certificate) {
	t.Helper()
	name := "leaf"
	if len(l.DNSNames) > 0 {
		name = l.DNSNames[0]
	}
	leaf := testcert.New(t, testcert.Spec{CommonName: name, DNSNames: l.DNSNames, NotBefore: l.NotBefore, NotAfter: l.NotAfter,
		ExtKeyUsage: l.ExtKeyUsage, Parent: ca.c})
	chain = []*x509.Certificate{leaf.Cert}
	for _, c := range ca.chain {
		chain = append(chain, c.Cert)
	}
	return chain, leaf.TLS(ca.chain...)
}
