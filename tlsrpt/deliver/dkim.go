package deliver

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/daned/daned/dnsname"
)

// DKIM is the key that signs report mail (RFC 6376; RFC 8460 §5.3.1: the
// submitting domain's signature, without "l="). Its public key is
// published at Selector._domainkey.Domain; RFC 8460 §5.3.1 asks that
// record to carry the service type "s=tlsrpt" ("s=email:tlsrpt" when
// verifiers of ordinary mail must accept it too).
type DKIM struct {
	// Domain is the signing domain, "d=" (--tlsrpt-dkim-domain).
	Domain string
	// Selector is "s=" (--tlsrpt-dkim-selector).
	Selector string
	// Signer is an RSA (at least 1024 bits, RFC 8301 §3.2) or Ed25519
	// (RFC 8463) private key (--tlsrpt-dkim-key, read by LoadDKIMKey).
	Signer crypto.Signer
}

// minRSABits is RFC 8301 §3.2's floor for signing keys.
const minRSABits = 1024

func (k *DKIM) check() error {
	if k.Signer == nil {
		return errors.New("no key")
	}
	if _, err := dnsname.Normalize(k.Domain); err != nil {
		return fmt.Errorf("domain: %v", err)
	}
	if !validSelector(k.Selector) {
		return fmt.Errorf("selector %q is not one or more DNS labels of letters, digits, '-' and '_'", k.Selector)
	}
	return checkKey(k.Signer)
}

// validSelector reports whether s is a DKIM selector (RFC 6376 §3.1):
// dot-separated labels, here of letters, digits, '-' and '_'.
func validSelector(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func checkKey(s crypto.Signer) error {
	switch pub := s.Public().(type) {
	case *rsa.PublicKey:
		if n := pub.N.BitLen(); n < minRSABits {
			return fmt.Errorf("an RSA key of %d bits; RFC 8301 §3.2 wants at least %d", n, minRSABits)
		}
	case ed25519.PublicKey:
	default:
		return fmt.Errorf("a %T key; DKIM signs with RSA or Ed25519", pub)
	}
	return nil
}

// LoadDKIMKey reads a PEM private key for DKIM from the file at path: an
// RSA key ("RSA PRIVATE KEY", PKCS #1, or "PRIVATE KEY", PKCS #8) or an
// Ed25519 key ("PRIVATE KEY"), as openssl genpkey writes them.
func LoadDKIMKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := parseDKIMKey(data)
	if err != nil {
		return nil, fmt.Errorf("DKIM key %s: %w", path, err)
	}
	return k, nil
}

func parseDKIMKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("a PEM %q block; want \"PRIVATE KEY\" or \"RSA PRIVATE KEY\"", block.Type)
	}
	if err != nil {
		return nil, err
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T key cannot sign", key)
	}
	if err := checkKey(s); err != nil {
		return nil, err
	}
	return s, nil
}

// sign returns msg with a DKIM-Signature header field in front, relaxed
// canonicalization for both header and body so that a relay's refolding
// or trailing white space does not break it.
func (k *DKIM) sign(msg []byte) ([]byte, error) {
	s, err := dkim.NewSigner(&dkim.SignOptions{
		Domain:                 k.Domain,
		Selector:               k.Selector,
		Signer:                 k.Signer,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             signedHeaders,
	})
	if err != nil {
		return nil, err
	}
	if _, err := s.Write(msg); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.Close(); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Grow(len(msg) + 1024)
	out.WriteString(s.Signature())
	out.Write(msg)
	return out.Bytes(), nil
}
