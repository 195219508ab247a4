package testworld

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"time"
)

// Validity selects the validity period of a generated certificate.
type Validity int

const (
	// Valid certificates run from now-1h to now+30d (the zero value).
	Valid Validity = iota
	// Expired certificates ran from now-30d to now-1d.
	Expired
	// NotYetValid certificates run from now+1d to now+30d.
	NotYetValid
)

func (v Validity) period(now time.Time) (notBefore, notAfter time.Time) {
	switch v {
	case Expired:
		return now.Add(-30 * 24 * time.Hour), now.Add(-24 * time.Hour)
	case NotYetValid:
		return now.Add(24 * time.Hour), now.Add(30 * 24 * time.Hour)
	default:
		return now.Add(-time.Hour), now.Add(30 * 24 * time.Hour)
	}
}

// CertKey is a certificate with its private key.
type CertKey struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// PKI is the test certificate authority: a self-signed root and an
// intermediate signed by it. Leaves are issued by the intermediate.
type PKI struct {
	Root         CertKey
	Intermediate CertKey
	// ExpiredIntermediate is a second intermediate, signed by the root,
	// that expired a day before now (for DANE-TA expiry cases).
	ExpiredIntermediate CertKey
	now                 time.Time
}

// NewPKI makes a fresh root CA and intermediate (ECDSA P-256), valid
// around now.
func NewPKI(now time.Time) (*PKI, error) {
	p := &PKI{now: now}
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	rootTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "daned testworld root CA", Organization: []string{"daned testworld"}},
		NotBefore:             now.Add(-48 * time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	root, err := makeCert(rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		return nil, err
	}
	p.Root = CertKey{root, rootKey}

	interKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	interTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "daned testworld intermediate CA", Organization: []string{"daned testworld"}},
		NotBefore:             now.Add(-48 * time.Hour),
		NotAfter:              now.Add(180 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	inter, err := makeCert(interTmpl, root, &interKey.PublicKey, rootKey)
	if err != nil {
		return nil, err
	}
	p.Intermediate = CertKey{inter, interKey}

	oldKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	nb, na := Expired.period(now)
	oldTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "daned testworld expired intermediate CA", Organization: []string{"daned testworld"}},
		NotBefore:             nb,
		NotAfter:              na,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	old, err := makeCert(oldTmpl, root, &oldKey.PublicKey, rootKey)
	if err != nil {
		return nil, err
	}
	p.ExpiredIntermediate = CertKey{old, oldKey}
	return p, nil
}

// Leaf issues a server certificate from the intermediate with the given
// DNS SANs (the first one is also the CN) and validity.
func (p *PKI) Leaf(sans []string, v Validity) (CertKey, error) {
	return newLeaf(p.now, "", sans, v, &p.Intermediate)
}

// SelfSigned makes a self-signed server certificate with the given DNS
// SANs and validity.
func SelfSigned(now time.Time, sans []string, v Validity) (CertKey, error) {
	return newLeaf(now, "", sans, v, nil)
}

// newLeaf makes a server certificate; cn is its subject common name, ""
// meaning the first SAN (or a fixed text when there is none).
func newLeaf(now time.Time, cn string, sans []string, v Validity, issuer *CertKey) (CertKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return CertKey{}, err
	}
	nb, na := v.period(now)
	switch {
	case cn != "":
	case len(sans) > 0:
		cn = sans[0]
	default:
		cn = "testworld self-signed"
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn},
		DNSNames:              sans,
		NotBefore:             nb,
		NotAfter:              na,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	parent, signer := tmpl, crypto.Signer(key)
	if issuer != nil {
		parent, signer = issuer.Cert, issuer.Key
	}
	cert, err := makeCert(tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return CertKey{}, err
	}
	return CertKey{cert, key}, nil
}

func makeCert(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("testworld: create certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err)
	}
	return n
}

// TLSAData returns the certificate association data of a TLSA record for
// cert (RFC 6698 §2.1): selector 0 = full certificate, 1 =
// SubjectPublicKeyInfo; matching type 0 = exact, 1 = SHA2-256,
// 2 = SHA2-512. The result is lower-case hex. Unknown values give "".
func TLSAData(cert *x509.Certificate, selector, matchingType uint8) string {
	var data []byte
	switch selector {
	case 0:
		data = cert.Raw
	case 1:
		data = cert.RawSubjectPublicKeyInfo
	default:
		return ""
	}
	switch matchingType {
	case 0:
	case 1:
		s := sha256.Sum256(data)
		data = s[:]
	case 2:
		s := sha512.Sum512(data)
		data = s[:]
	default:
		return ""
	}
	return hex.EncodeToString(data)
}
