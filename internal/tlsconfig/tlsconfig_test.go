package tlsconfig_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/daned/daned/internal/testcert"
	"github.com/daned/daned/internal/tlsconfig"
)

// selfSigned makes a certificate and key (PEM) named cn, valid an hour
// either side of now.
func selfSigned(t *testing.T, cn string, isCA bool) (certPEM, keyPEM []byte) {
	t.Helper()
	c := testcert.New(t, testcert.Spec{CommonName: cn, CA: isCA, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)})
	return c.CertPEM, c.KeyPEM
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// served is the subject CN of the certificate a handshake would get now.
func served(t *testing.T, s *tlsconfig.Server) string {
	t.Helper()
	cfg, err := s.Config().GetConfigForClient(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return c.Subject.CommonName
}

func TestReloadSwapsOnlyAWholeValidState(t *testing.T) {
	dir := t.TempDir()
	f := tlsconfig.Files{Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem"), ClientCA: filepath.Join(dir, "ca.pem")}
	c1, k1 := selfSigned(t, "first", false)
	c2, k2 := selfSigned(t, "second", false)
	ca, _ := selfSigned(t, "client CA", true)
	write(t, f.Cert, c1)
	write(t, f.Key, k1)
	write(t, f.ClientCA, append([]byte("# comment blocks and other PEM types are skipped\n"), append(k2, ca...)...))
	s, err := tlsconfig.New(f)
	if err != nil {
		t.Fatal(err)
	}
	if got := served(t, s); got != "first" {
		t.Fatalf("served %q", got)
	}
	cfg, _ := s.Config().GetConfigForClient(&tls.ClientHelloInfo{})
	if cfg.ClientAuth != tls.RequireAndVerifyClientCert || cfg.MinVersion != tls.VersionTLS12 || cfg.NextProtos[0] != "h2" {
		t.Errorf("client auth %v, min version %x, ALPN %v", cfg.ClientAuth, cfg.MinVersion, cfg.NextProtos)
	}
	if !s.MutualTLS() {
		t.Error("MutualTLS() = false with a client CA")
	}

	steps := []struct {
		name       string
		cert, key  []byte
		ca         []byte
		wantErr    string
		wantServed string
	}{
		{name: "new pair", cert: c2, key: k2, ca: ca, wantServed: "second"},
		{name: "certificate replaced, key not yet", cert: c1, key: k2, ca: ca, wantErr: "private key does not match", wantServed: "second"},
		{name: "truncated certificate", cert: c1[:40], key: k1, ca: ca, wantErr: "cert.pem", wantServed: "second"},
		{name: "client CA without certificates", cert: c1, key: k1, ca: []byte("nothing\n"), wantErr: "no PEM certificate", wantServed: "second"},
		{name: "all good again", cert: c1, key: k1, ca: ca, wantServed: "first"},
	}
	for _, st := range steps {
		write(t, f.Cert, st.cert)
		write(t, f.Key, st.key)
		write(t, f.ClientCA, st.ca)
		err := s.Reload()
		if (err == nil) != (st.wantErr == "") || (err != nil && !strings.Contains(err.Error(), st.wantErr)) {
			t.Errorf("%s: Reload() = %v, want an error containing %q", st.name, err, st.wantErr)
		}
		if got := served(t, s); got != st.wantServed {
			t.Errorf("%s: serving %q, want %q", st.name, got, st.wantServed)
		}
	}
}

func TestNewNeedsCertificateAndKey(t *testing.T) {
	if _, err := tlsconfig.New(tlsconfig.Files{Cert: "cert.pem"}); err == nil {
		t.Error("New without a key succeeded")
	}
	if _, err := tlsconfig.New(tlsconfig.Files{Cert: "/nonexistent/cert.pem", Key: "/nonexistent/key.pem"}); err == nil || !strings.Contains(err.Error(), "/nonexistent/cert.pem") {
		t.Errorf("New with missing files: %v, want an error naming them", err)
	}
}

// TestHTTPConfig: the HTTPS listener gets the same files and reloads as
// gRPC, and offers HTTP/1.1 beside h2.
func TestHTTPConfig(t *testing.T) {
	dir := t.TempDir()
	f := tlsconfig.Files{Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem"), ClientCA: filepath.Join(dir, "ca.pem")}
	c1, k1 := selfSigned(t, "first", false)
	c2, k2 := selfSigned(t, "second", false)
	ca, _ := selfSigned(t, "client CA", true)
	write(t, f.Cert, c1)
	write(t, f.Key, k1)
	write(t, f.ClientCA, ca)
	s, err := tlsconfig.New(f)
	if err != nil {
		t.Fatal(err)
	}
	httpServed := func() *tls.Config {
		t.Helper()
		cfg, err := s.HTTPConfig().GetConfigForClient(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	cfg := httpServed()
	if strings.Join(cfg.NextProtos, ",") != "h2,http/1.1" || cfg.ClientAuth != tls.RequireAndVerifyClientCert || cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("HTTPS: ALPN %v, client auth %v, min version %x; want h2 and http/1.1, mutual TLS, TLS 1.2", cfg.NextProtos, cfg.ClientAuth, cfg.MinVersion)
	}
	if grpcCfg, _ := s.Config().GetConfigForClient(&tls.ClientHelloInfo{}); strings.Join(grpcCfg.NextProtos, ",") != "h2" {
		t.Errorf("gRPC: ALPN %v, want h2 only", grpcCfg.NextProtos)
	}
	write(t, f.Cert, c2)
	write(t, f.Key, k2)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(httpServed().Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if leaf.Subject.CommonName != "second" {
		t.Errorf("HTTPS after a reload serves %q, want the second certificate", leaf.Subject.CommonName)
	}
}
