package deliver_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/daned/daned/internal/testcert"
	"github.com/daned/daned/tlsrpt/deliver"
)

func TestNew(t *testing.T) {
	rsaKey := testcert.RSAKey(t)
	tests := []struct {
		name string
		cfg  deliver.Config
		err  string // "" for none
	}{
		{name: "zero", cfg: deliver.Config{}},
		{name: "relay", cfg: deliver.Config{SMTPRelay: "127.0.0.1:25", From: "tlsrpt@reports.example"}},
		{name: "relay by name", cfg: deliver.Config{SMTPRelay: "localhost:587", From: "tlsrpt@reports.example", SMTPTLS: &tls.Config{}}},
		{name: "DKIM", cfg: deliver.Config{DKIM: &deliver.DKIM{Domain: "reports.example", Selector: "s1.tlsrpt_2026", Signer: rsaKey}}},
		{name: "negative timeout", cfg: deliver.Config{Timeout: -time.Second}, err: "negative"},
		{name: "relay without port", cfg: deliver.Config{SMTPRelay: "relay.example", From: "tlsrpt@reports.example"}, err: "not host:port"},
		{name: "relay without host", cfg: deliver.Config{SMTPRelay: ":25", From: "tlsrpt@reports.example"}, err: "not host:port"},
		{name: "relay without From", cfg: deliver.Config{SMTPRelay: "127.0.0.1:25"}, err: "needs a From"},
		{name: "bad From", cfg: deliver.Config{SMTPRelay: "127.0.0.1:25", From: "Reports <tlsrpt@reports.example>"}, err: "From"},
		{name: "DKIM without key", cfg: deliver.Config{DKIM: &deliver.DKIM{Domain: "reports.example", Selector: "s1"}}, err: "no key"},
		{name: "DKIM without selector", cfg: deliver.Config{DKIM: &deliver.DKIM{Domain: "reports.example", Signer: rsaKey}}, err: "selector"},
		{name: "DKIM bad selector", cfg: deliver.Config{DKIM: &deliver.DKIM{Domain: "reports.example", Selector: "a b", Signer: rsaKey}}, err: "selector"},
		{name: "DKIM without domain", cfg: deliver.Config{DKIM: &deliver.DKIM{Selector: "s1", Signer: rsaKey}}, err: "domain"},
		{name: "DKIM ECDSA", cfg: deliver.Config{DKIM: &deliver.DKIM{Domain: "reports.example", Selector: "s1", Signer: testcert.ECDSAKey(t)}},
			err: "RSA or Ed25519"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := deliver.New(tt.cfg)
			if tt.err == "" && err != nil {
				t.Fatal(err)
			}
			if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("New: %v, want an error with %q", err, tt.err)
			}
		})
	}
}

// TestBadReport: a report that cannot be sent fails for good, before any
// connection.
func TestBadReport(t *testing.T) {
	tests := []struct {
		name   string
		change func(*deliver.Report)
		want   string
	}{
		{name: "no policy domain", change: func(r *deliver.Report) { r.PolicyDomain = "" }, want: "policy domain"},
		{name: "policy domain with CRLF", change: func(r *deliver.Report) { r.PolicyDomain = "example.com\r\nBcc: x@example.net" }, want: "policy domain"},
		{name: "policy domain U-label", change: func(r *deliver.Report) { r.PolicyDomain = "bücher.example" }, want: "not ASCII"},
		{name: "submitter with !", change: func(r *deliver.Report) { r.Submitter = "reports!example" }, want: "submitter"},
		{name: "no report ID", change: func(r *deliver.Report) { r.ReportID = "" }, want: "report ID"},
		{name: "report ID with space", change: func(r *deliver.Report) { r.ReportID = "a b" }, want: "report ID"},
		{name: "report ID with >", change: func(r *deliver.Report) { r.ReportID = "a>b" }, want: "report ID"},
		{name: "report ID too long", change: func(r *deliver.Report) { r.ReportID = strings.Repeat("a", 257) }, want: "report ID"},
		{name: "no begin", change: func(r *deliver.Report) { r.Begin = time.Time{} }, want: "period"},
		{name: "end before begin", change: func(r *deliver.Report) { r.Begin, r.End = r.End, r.Begin }, want: "period"},
		{name: "not gzip", change: func(r *deliver.Report) { r.Gzip = []byte(`{"report-id":"x"}`) }, want: "not gzip"},
	}
	d := newDeliverer(t, deliver.Config{SMTPRelay: "127.0.0.1:1", From: fromAddr})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := testReport(t)
			tt.change(&r)
			for _, rua := range []string{"mailto:tlsrpt@example.com", "https://reports.test/"} {
				err := d.Deliver(context.Background(), rua, r)
				wantFailure(t, err, true, tt.want)
				if !errors.Is(err, deliver.ErrBadReport) {
					t.Errorf("error %v does not wrap ErrBadReport", err)
				}
			}
		})
	}
}

func TestBadRUA(t *testing.T) {
	d := newDeliverer(t, deliver.Config{})
	r, _ := testReport(t)
	err := d.Deliver(context.Background(), "http://reports.test/", r)
	wantFailure(t, err, true, "not http:")
	if !errors.Is(err, deliver.ErrBadRUA) {
		t.Errorf("error %v does not wrap ErrBadRUA", err)
	}
}

func TestIsPermanent(t *testing.T) {
	cause := errors.New("cause")
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "nil", err: nil},
		{name: "other", err: cause},
		{name: "cancelled", err: context.Canceled},
		{name: "temporary", err: &deliver.Error{RUA: "mailto:a@example.com", Err: cause}},
		{name: "permanent", err: &deliver.Error{RUA: "mailto:a@example.com", Permanent: true, Err: cause}, want: true},
		{name: "wrapped permanent", err: fmt.Errorf("report 1: %w", &deliver.Error{Permanent: true, Err: cause}), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := deliver.IsPermanent(tt.err); got != tt.want {
				t.Errorf("IsPermanent(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestFileNameAndSubject(t *testing.T) {
	r, _ := testReport(t)
	if got := deliver.FileName(r); got != wantFile {
		t.Errorf("FileName = %q, want %q", got, wantFile)
	}
	r.ReportID = "<@>"
	if got, want := deliver.FileName(r), "reports.example!example.com!1795478400!1795564799.json.gz"; got != want {
		t.Errorf("FileName without letters or digits in the report ID = %q, want %q", got, want)
	}
	r.ReportID = "735ff.e317+bf22029@example.com"
	if got, want := deliver.Subject(r), "Report Domain: example.com Submitter: reports.example Report-ID: <735ff.e317+bf22029@example.com>"; got != want {
		t.Errorf("Subject = %q, want %q", got, want)
	}
}

func TestLoadDKIMKey(t *testing.T) {
	rsaKey := testcert.RSAKey(t).(*rsa.PrivateKey)
	edKey := testcert.Ed25519Key(t).(ed25519.PrivateKey)
	ecKey := testcert.ECDSAKey(t).(*ecdsa.PrivateKey)
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	tests := []struct {
		name string
		pem  []byte
		want crypto.PublicKey // nil for an error
		err  string
	}{
		{name: "RSA PKCS #1", pem: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), want: rsaKey.Public()},
		{name: "RSA PKCS #8", pem: pkcs8(rsaKey), want: rsaKey.Public()},
		{name: "Ed25519", pem: pkcs8(edKey), want: edKey.Public()},
		{name: "ECDSA", pem: pkcs8(ecKey), err: "RSA or Ed25519"},
		{name: "a certificate", pem: testcert.SelfSigned(t, "x.test", time.Now(), time.Now().Add(time.Hour)).CertPEM, err: `"CERTIFICATE"`},
		{name: "not PEM", pem: []byte("not a key"), err: "no PEM block"},
		{name: "bad DER", pem: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}), err: "asn1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dkim.pem")
			writeFile(t, path, tt.pem)
			k, err := deliver.LoadDKIMKey(path)
			if tt.want == nil {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), path) {
					t.Fatalf("LoadDKIMKey: %v, want an error naming the file with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if eq, ok := k.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(tt.want) {
				t.Errorf("LoadDKIMKey returned another key")
			}
		})
	}
	if _, err := deliver.LoadDKIMKey(filepath.Join(t.TempDir(), "missing.pem")); err == nil {
		t.Error("LoadDKIMKey of a missing file: no error")
	}
}
