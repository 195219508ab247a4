package mtasts_test

import (
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/daned/daned/internal/testca"
	"github.com/daned/daned/mtasts"
)

func TestVerifyHost(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	root := testca.New(t, "Test Root", now)
	inter := root.Intermediate(t, "Test Intermediate", now.AddDate(-1, 0, 0), now.AddDate(5, 0, 0))
	oldInter := root.Intermediate(t, "Old Intermediate", now.AddDate(-2, 0, 0), now.AddDate(0, 0, -1))
	rogue := testca.New(t, "Rogue Root", now)
	valid := func(names ...string) testca.Leaf {
		return testca.Leaf{DNSNames: names, NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(0, 3, 0)}
	}
	issue := func(ca *testca.CA, l testca.Leaf) []*x509.Certificate {
		chain, _ := ca.Issue(t, l)
		return chain
	}
	patterns := []string{"mx1.example.com", "*.example.net"}

	for _, tt := range []struct {
		name  string
		chain []*x509.Certificate
		roots *x509.CertPool
		host  string
		want  mtasts.Reason // ReasonNone: passes
	}{
		{name: "valid through an intermediate", chain: issue(inter, valid("mx1.example.com")), host: "mx1.example.com"},
		{name: "valid, host in any case with a trailing dot", chain: issue(inter, valid("mx1.example.com")), host: "MX1.Example.com."},
		{name: "valid straight from the root", chain: issue(root, valid("mx1.example.com")), host: "mx1.example.com"},
		{name: "wildcard pattern and wildcard certificate", chain: issue(inter, valid("*.example.net")), host: "a.example.net"},
		{name: "one of several SANs", chain: issue(inter, valid("other.example", "mx1.example.com")), host: "mx1.example.com"},
		{name: "host matches no pattern", chain: issue(inter, valid("mx2.example.com")), host: "mx2.example.com", want: mtasts.ReasonMXNotInPolicy},
		{name: "wildcard pattern covers one label only", chain: issue(inter, valid("*.b.example.net")), host: "a.b.example.net", want: mtasts.ReasonMXNotInPolicy},
		{name: "pattern checked before the chain", chain: nil, host: "mx.example.org", want: mtasts.ReasonMXNotInPolicy},
		{name: "certificate names another host", chain: issue(inter, valid("mail.example.org")), host: "mx1.example.com", want: mtasts.ReasonCertNameMismatch},
		{name: "wildcard certificate does not cover its parent", chain: issue(inter, valid("*.mx1.example.com")), host: "mx1.example.com", want: mtasts.ReasonCertNameMismatch},
		{name: "unknown issuer", chain: issue(rogue, valid("mx1.example.com")), host: "mx1.example.com", want: mtasts.ReasonCertNotTrusted},
		{name: "unknown issuer and wrong name: trust is the graver fault", chain: issue(rogue, valid("other.example")), host: "mx1.example.com", want: mtasts.ReasonCertNotTrusted},
		{name: "intermediate missing from the chain", chain: issue(inter, valid("mx1.example.com"))[:1], host: "mx1.example.com", want: mtasts.ReasonCertNotTrusted},
		{name: "leaf expired", chain: issue(inter, testca.Leaf{DNSNames: []string{"mx1.example.com"}, NotBefore: now.AddDate(0, -3, 0), NotAfter: now.Add(-time.Minute)}), host: "mx1.example.com", want: mtasts.ReasonCertExpired},
		{name: "expired leaf with a wrong name is expired", chain: issue(inter, testca.Leaf{DNSNames: []string{"other.example"}, NotBefore: now.AddDate(0, -3, 0), NotAfter: now.Add(-time.Minute)}), host: "mx1.example.com", want: mtasts.ReasonCertExpired},
		{name: "intermediate expired", chain: issue(oldInter, testca.Leaf{DNSNames: []string{"mx1.example.com"}, NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(0, 1, 0)}), host: "mx1.example.com", want: mtasts.ReasonCertExpired},
		{name: "leaf not yet valid", chain: issue(inter, testca.Leaf{DNSNames: []string{"mx1.example.com"}, NotBefore: now.Add(time.Hour), NotAfter: now.AddDate(0, 3, 0)}), host: "mx1.example.com", want: mtasts.ReasonCertNotTrusted},
		{name: "client-only key usage", chain: issue(inter, testca.Leaf{DNSNames: []string{"mx1.example.com"}, NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(0, 3, 0), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}), host: "mx1.example.com", want: mtasts.ReasonCertNotTrusted},
		{name: "no certificate", chain: nil, host: "mx1.example.com", want: mtasts.ReasonCertNotTrusted},
		{name: "nil roots trust nothing", chain: issue(inter, valid("mx1.example.com")), roots: nilPool, host: "mx1.example.com", want: mtasts.ReasonCertNotTrusted},
	} {
		t.Run(tt.name, func(t *testing.T) {
			roots := tt.roots
			switch roots {
			case nil:
				roots = root.Pool()
			case nilPool:
				roots = nil
			}
			err := mtasts.VerifyHost(tt.chain, roots, tt.host, patterns, now)
			if tt.want == mtasts.ReasonNone {
				if err != nil {
					t.Fatalf("VerifyHost: %v", err)
				}
				return
			}
			var he *mtasts.HostError
			if !errors.As(err, &he) {
				t.Fatalf("VerifyHost = %v, want a *HostError %v", err, tt.want)
			}
			if he.Reason != tt.want {
				t.Fatalf("reason %v (%v), want %v", he.Reason, err, tt.want)
			}
			if he.Detail == "" || he.Host == "" {
				t.Errorf("HostError without host or detail: %+v", he)
			}
			t.Logf("%v", err)
		})
	}
}

// nilPool marks a case that passes nil roots (a nil *x509.CertPool in the
// table means "the test root").
var nilPool = x509.NewCertPool()
