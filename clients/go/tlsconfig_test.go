package daneclient_test

import (
	"crypto/tls"
	"errors"
	"testing"
	"time"

	daneclient "github.com/daned/daned/clients/go"
	"github.com/daned/daned/dane"
	"github.com/daned/daned/internal/testca"
	danev1 "github.com/daned/daned/proto/dane/v1"
)

// TestHostTLSConfigMTASTS: an MTA_STS_REQUIRED host's tls.Config accepts
// a chain valid under the WebPKI for the host name and refuses others
// with a *VerifyError, over a real handshake on an in-memory pipe.
func TestHostTLSConfigMTASTS(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	ca := testca.New(t, "WebPKI root", now)
	other := testca.New(t, "unknown root", now)
	issue := func(ca *testca.CA, name string) tls.Certificate {
		_, tc := ca.Issue(t, testca.Leaf{DNSNames: []string{name}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)})
		return tc
	}
	c, err := daneclient.Dial("127.0.0.1:1", daneclient.WithInsecure(), daneclient.WithWebPKIRoots(ca.Pool()), daneclient.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	host := &danev1.MxHost{Name: "mx.example.com", HostPolicy: danev1.Policy_POLICY_MTA_STS_REQUIRED, Reason: danev1.Reason_REASON_OK, UsableForDelivery: true}
	resp := &danev1.ValidateResponse{Domain: "example.com", MxHosts: []*danev1.MxHost{host},
		MtaSts: &danev1.MtaSts{Mode: danev1.MtaStsMode_MTA_STS_MODE_ENFORCE, MxPatterns: []string{"*.example.com"}}}

	var he *daneclient.HostError
	if _, err := c.HostTLSConfig(host); !errors.As(err, &he) {
		t.Fatalf("HostTLSConfig without the policy: %v, want a HostError", err)
	}
	cfg, err := c.HostTLSConfigFor(resp, host)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ServerName != "mx.example.com" {
		t.Errorf("ServerName %q, want the MX host name", cfg.ServerName)
	}
	for _, tt := range []struct {
		name   string
		cert   tls.Certificate
		reason dane.Reason
	}{
		{"valid for the host", issue(ca, "mx.example.com"), dane.ReasonOK},
		{"another name", issue(ca, "mail.example.net"), dane.ReasonCertNameMismatch},
		{"unknown issuer", issue(other, "mx.example.com"), dane.ReasonCertNotTrusted},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := handshake(t, cfg, tt.cert)
			if tt.reason == dane.ReasonOK {
				if err != nil {
					t.Fatalf("handshake: %v", err)
				}
				return
			}
			var ve *daneclient.VerifyError
			if !errors.As(err, &ve) || ve.Reason != tt.reason || !ve.MTASTS || ve.Code() != "4.7.5" {
				t.Fatalf("handshake: %v, want a VerifyError %s with 4.7.5", err, tt.reason)
			}
		})
	}
}

// handshake runs a TLS handshake of cfg against a server on loopback
// presenting cert and returns the client's error. (Over net.Pipe, which
// has no buffer, a client's alert and the server's flight would block
// each other.)
func handshake(t *testing.T, cfg *tls.Config, cert tls.Certificate) error {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.(*tls.Conn).Handshake()
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), cfg.Clone())
	if err == nil {
		conn.Close()
	}
	<-done
	return err
}
