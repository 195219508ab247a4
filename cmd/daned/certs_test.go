package main

import (
	"crypto/x509"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/daned/daned/internal/testcert"
)

// testCA issues the certificates of a test, made at test time. Their
// validity is an hour either side of now, since the handshakes under test
// check them against the real clock.
type testCA struct{ *testcert.Cert }

func newCA(t *testing.T, cn string) *testCA {
	t.Helper()
	return &testCA{testcert.New(t, testcert.Spec{CommonName: cn, CA: true, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)})}
}

// serverCert issues a server certificate for 127.0.0.1 and localhost.
func (ca *testCA) serverCert(t *testing.T, cn string) *testcert.Cert {
	t.Helper()
	return ca.issue(t, testcert.Spec{CommonName: cn, DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}})
}

// clientCert issues a client certificate with the given subject CN, DNS
// SANs and URI SANs.
func (ca *testCA) clientCert(t *testing.T, cn string, dns []string, uris ...string) *testcert.Cert {
	t.Helper()
	s := testcert.Spec{CommonName: cn, DNSNames: dns, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	for _, u := range uris {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		s.URIs = append(s.URIs, pu)
	}
	return ca.issue(t, s)
}

func (ca *testCA) issue(t *testing.T, s testcert.Spec) *testcert.Cert {
	t.Helper()
	s.Parent, s.NotBefore, s.NotAfter = ca.Cert, time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	return testcert.New(t, s)
}

// writeFile writes data to name in dir and returns the path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// pool is a certificate pool of the given CAs.
func pool(cas ...*testCA) *x509.CertPool {
	p := x509.NewCertPool()
	for _, ca := range cas {
		p.AddCert(ca.Cert.Cert)
	}
	return p
}
