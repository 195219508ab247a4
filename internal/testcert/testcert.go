// Package testcert makes X.509 certificates and their keys for tests, at
// test time: self-signed certificates, certificate authorities and the
// certificates they issue, each as a parsed certificate, PEM and a
// tls.Certificate.
//
// Dates are never read from a clock: a test gives every validity period
// (from its fixed clock, or from time.Now when real handshakes judge the
// dates), and a zero date means the zero time.Time, year 1. The package
// judges nothing and keeps nothing on disk. It is test support: no
// production package imports it (internal/deptest checks that).
package testcert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Spec describes a certificate to make. Its zero value, with a validity
// period, is a self-signed server certificate with a fresh ECDSA P-256 key
// and an empty subject.
type Spec struct {
	// CommonName is the subject's CN; empty means none.
	CommonName string
	// Organization is the subject's O; nil means none.
	Organization []string
	// DNSNames, IPAddresses and URIs are the subjectAltNames; nil means
	// none.
	DNSNames    []string
	IPAddresses []net.IP
	URIs        []*url.URL

	// NotBefore and NotAfter bound the validity period, as given: the
	// zero time is 0001-01-01, not now.
	NotBefore, NotAfter time.Time

	// CA makes a certificate authority: basic constraints CA:TRUE, key
	// usage certSign and digitalSignature, no extended key usage. false
	// makes an end-entity certificate with key usage digitalSignature.
	CA bool
	// PermittedDNSDomains is the name constraint of a CA; nil means none.
	PermittedDNSDomains []string
	// ExtKeyUsage is the extended key usage of an end-entity
	// certificate; nil means server authentication. A CA ignores it.
	ExtKeyUsage []x509.ExtKeyUsage

	// Key is the certificate's key; nil means a fresh ECDSA P-256 key.
	Key crypto.Signer
	// Parent signs the certificate with its key; nil means self-signed.
	Parent *Cert
	// Serial is the serial number; 0 means the next of a counter shared
	// by the process (fix it where the bytes must be the same in every
	// run, as in fuzz seeds).
	Serial int64
}

// Cert is a certificate made by New or Make, with its key.
type Cert struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// CertPEM is the certificate as a PEM "CERTIFICATE" block, KeyPEM its
	// key as a PEM "PRIVATE KEY" block (PKCS #8).
	CertPEM, KeyPEM []byte
}

// TLS returns c as a tls.Certificate presenting c and then chain (the
// issuers, nearest first).
func (c *Cert) TLS(chain ...*Cert) tls.Certificate {
	der := [][]byte{c.Cert.Raw}
	for _, p := range chain {
		der = append(der, p.Cert.Raw)
	}
	return tls.Certificate{Certificate: der, PrivateKey: c.Key, Leaf: c.Cert}
}

var serial atomic.Int64

// New makes the certificate s describes; it fails the test on error.
func New(t testing.TB, s Spec) *Cert {
	t.Helper()
	c, err := Make(s)
	if err != nil {
		t.Fatalf("testcert: %v", err)
	}
	return c
}

// SelfSigned makes a self-signed server certificate for the name cn (its
// CN and only DNS name), valid from notBefore to notAfter.
func SelfSigned(t testing.TB, cn string, notBefore, notAfter time.Time) *Cert {
	t.Helper()
	return New(t, Spec{CommonName: cn, DNSNames: []string{cn}, NotBefore: notBefore, NotAfter: notAfter})
}

// Make is New for code without a testing.TB at hand (a sync.OnceValues
// shared by a package's tests).
func Make(s Spec) (*Cert, error) {
	if s.Key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		s.Key = k
	}
	if s.Serial == 0 {
		s.Serial = serial.Add(1)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(s.Serial),
		Subject:      pkix.Name{CommonName: s.CommonName, Organization: s.Organization},
		DNSNames:     s.DNSNames,
		IPAddresses:  s.IPAddresses,
		URIs:         s.URIs,
		NotBefore:    s.NotBefore,
		NotAfter:     s.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  s.ExtKeyUsage,
	}
	if tmpl.ExtKeyUsage == nil {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	if s.CA {
		tmpl.IsCA = true
		tmpl.BasicConstraintsValid = true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = nil
		tmpl.PermittedDNSDomains = s.PermittedDNSDomains
	}
	parent, signer := tmpl, s.Key
	if s.Parent != nil {
		parent, signer = s.Parent.Cert, s.Parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, s.Key.Public(), signer)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(s.Key)
	if err != nil {
		return nil, err
	}
	return &Cert{
		Cert:    cert,
		Key:     s.Key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
	}, nil
}

// ECDSAKey returns a fresh ECDSA P-256 key.
func ECDSAKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Ed25519Key returns a fresh Ed25519 key.
func Ed25519Key(t testing.TB) crypto.Signer {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// rsaKey is made once: a 2048-bit RSA key takes a noticeable time.
var rsaKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

// RSAKey returns a 2048-bit RSA key, the same one on every call of the
// process: generating RSA keys is slow.
func RSAKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := rsaKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
