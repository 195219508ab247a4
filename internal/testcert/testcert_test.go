package testcert_test

import (
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/daned/daned/internal/testcert"
)

var now = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func TestChainVerifiesAtTheGivenTime(t *testing.T) {
	root := testcert.New(t, testcert.Spec{CommonName: "root", CA: true, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)})
	inter := testcert.New(t, testcert.Spec{CommonName: "inter", CA: true, Parent: root, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)})
	leaf := testcert.New(t, testcert.Spec{CommonName: "mx.example.com", DNSNames: []string{"mx.example.com"}, Parent: inter,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)})
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root.Cert)
	inters.AddCert(inter.Cert)
	tests := []struct {
		name    string
		at      time.Time
		wantErr bool
	}{
		{name: "inside the period", at: now},
		{name: "after it", at: now.Add(2 * time.Hour), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, DNSName: "mx.example.com", CurrentTime: tt.at})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Verify at %v: %v, want error %v", tt.at, err, tt.wantErr)
			}
		})
	}
	if got := leaf.TLS(inter).Certificate; len(got) != 2 || string(got[1]) != string(inter.Cert.Raw) {
		t.Errorf("TLS(inter) presents %d certificates, want the leaf then inter", len(got))
	}
}

func TestPEMRoundTrips(t *testing.T) {
	c := testcert.SelfSigned(t, "localhost", now.Add(-time.Hour), now.Add(time.Hour))
	pair, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !pair.Leaf.Equal(c.Cert) || c.Cert.Subject.CommonName != "localhost" || c.Cert.DNSNames[0] != "localhost" {
		t.Errorf("PEM pair holds %v, want %v", pair.Leaf.Subject, c.Cert.Subject)
	}
}

func TestSpecFields(t *testing.T) {
	key := testcert.Ed25519Key(t)
	ca := testcert.New(t, testcert.Spec{CA: true, PermittedDNSDomains: []string{"example.com"}, Key: key, Serial: 42})
	switch {
	case !ca.Cert.IsCA || ca.Cert.KeyUsage&x509.KeyUsageCertSign == 0 || len(ca.Cert.ExtKeyUsage) != 0:
		t.Errorf("CA: IsCA %v, key usage %v, EKU %v", ca.Cert.IsCA, ca.Cert.KeyUsage, ca.Cert.ExtKeyUsage)
	case ca.Cert.PermittedDNSDomains[0] != "example.com" || ca.Cert.SerialNumber.Int64() != 42 || !ca.Cert.PublicKey.(ed25519.PublicKey).Equal(key.Public()):
		t.Errorf("CA: constraints %v, serial %v", ca.Cert.PermittedDNSDomains, ca.Cert.SerialNumber)
	case !ca.Cert.NotBefore.Equal(time.Time{}):
		t.Errorf("zero NotBefore became %v, want the zero time", ca.Cert.NotBefore)
	}
	client := testcert.New(t, testcert.Spec{Parent: ca, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, Key: testcert.RSAKey(t)})
	if client.Cert.IsCA || client.Cert.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth || client.Cert.CheckSignatureFrom(ca.Cert) != nil {
		t.Errorf("client: IsCA %v, EKU %v, signature %v", client.Cert.IsCA, client.Cert.ExtKeyUsage, client.Cert.CheckSignatureFrom(ca.Cert))
	}
	if testcert.RSAKey(t) != testcert.RSAKey(t) {
		t.Error("RSAKey made a second key")
	}
}
