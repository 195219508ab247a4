// Package testca makes a WebPKI for the MTA-STS tests at test time: a
// root, intermediates and server certificates with chosen names and
// validity, all signed with fresh ECDSA P-256 keys. Nothing is read from
// or written to disk except by PEM's caller.
//
// It is for tests only and does not try to look like a real CA.
package testca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"sync/atomic"
	"testing"
	"time"
)

var serial atomic.Int64

// CA is a root or an intermediate certificate authority.
type CA struct {
	Cert  *x509.Certificate
	Key   crypto.Signer
	chain []*x509.Certificate // this CA and its issuers below the root, nearest first
}

// New returns a self-signed root named name, valid from a year before now
// to ten years after.
func New(t testing.TB, name string, now time.Time) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.AddDate(-1, 0, 0),
		NotAfter:              now.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	return &CA{Cert: sign(t, tmpl, tmpl, key.Public(), key), Key: key}
}

// Pool returns a pool holding this CA's certificate only.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// PEM returns the CA certificate PEM-encoded, as SSL_CERT_FILE wants it.
func (ca *CA) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// Intermediate returns an intermediate CA issued by ca, valid from
// notBefore to notAfter.
func (ca *CA) Intermediate(t testing.TB, name string, notBefore, notAfter time.Time) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	cert := sign(t, tmpl, ca.Cert, key.Public(), ca.Key)
	return &CA{Cert: cert, Key: key, chain: append([]*x509.Certificate{cert}, ca.chain...)}
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
	key := newKey(t)
	eku := l.ExtKeyUsage
	if eku == nil {
		eku = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	name := "leaf"
	if len(l.DNSNames) > 0 {
		name = l.DNSNames[0]
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		DNSNames:    l.DNSNames,
		NotBefore:   l.NotBefore,
		NotAfter:    l.NotAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: eku,
	}
	leaf := sign(t, tmpl, ca.Cert, key.Public(), ca.Key)
	chain = append([]*x509.Certificate{leaf}, ca.chain...)
	for _, c := range chain {
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	tc.PrivateKey = key
	tc.Leaf = leaf
	return chain, tc
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func sign(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	tmpl.SerialNumber = big.NewInt(serial.Add(1))
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}
