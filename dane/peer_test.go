package dane_test

import (
	"crypto/x509"
	"strings"
	"testing"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/internal/testcert"
)

func TestPolicyPredicates(t *testing.T) {
	tests := []struct {
		name         string
		policy       dane.Policy
		enforceable  bool
		authenticate bool
	}{
		{"DANE required (RFC 7672 §2.2 outcome 1)", dane.PolicyDANERequired, true, true},
		{"TLS required (outcome 2)", dane.PolicyTLSRequired, true, false},
		{"opportunistic (outcome 3)", dane.PolicyOpportunistic, true, false},
		{"unspecified", dane.PolicyUnspecified, false, false},
		{"no mail", dane.PolicyNoMail, false, false},
		{"unknown value", dane.Policy(99), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.policy.Enforceable(); got != tt.enforceable {
				t.Errorf("Enforceable = %v, want %v", got, tt.enforceable)
			}
			if got := tt.policy.RequiresAuthentication(); got != tt.authenticate {
				t.Errorf("RequiresAuthentication = %v, want %v", got, tt.authenticate)
			}
		})
	}
}

func TestCheckPeer(t *testing.T) {
	p := newPKI(t)
	full := chainOf(p.leaf, p.inter, p.root)
	expired := mint(t, testcert.Spec{CommonName: "mx.example.com", DNSNames: []string{"mx.example.com"}, NotBefore: longAgo, NotAfter: lastMonth, Parent: p.inter})
	other := mint(t, testcert.Spec{CommonName: "other", DNSNames: []string{"other.example"}})
	pkixEE := dane.Assess([]dane.Record{rec(1, 1, 1, p.leaf.Cert)})
	ee := dane.Assess([]dane.Record{rec(1, 1, 1, p.leaf.Cert), rec(3, 1, 1, p.leaf.Cert)})
	ta := dane.Assess([]dane.Record{rec(2, 0, 1, p.inter.Cert)})
	refs := []string{"mx.example.com"}

	tests := []struct {
		name    string
		peer    dane.PeerPolicy
		chain   []*x509.Certificate
		reason  dane.Reason
		authed  bool
		matched int
		detail  string // exact when it starts with "=", else a substring
	}{
		{name: "DANE-EE match", peer: dane.PeerPolicy{Policy: dane.PolicyDANERequired, TLSA: ee, ReferenceNames: refs}, chain: full,
			reason: dane.ReasonOK, authed: true, matched: 1, detail: "authenticated by TLSA record [1] (DANE-EE record 3 1 1 "},
		{name: "DANE-TA match with names (RFC 7672 §3.2.2)", peer: dane.PeerPolicy{Policy: dane.PolicyDANERequired, TLSA: ta, ReferenceNames: refs}, chain: full,
			reason: dane.ReasonOK, authed: true, matched: 0, detail: "authenticated by TLSA record [0] (DANE-TA record 2 0 1 "},
		{name: "DANE-TA without reference names", peer: dane.PeerPolicy{Policy: dane.PolicyDANERequired, TLSA: ta}, chain: full,
			reason: dane.ReasonCertNameMismatch, matched: -1, detail: "no reference identifier"},
		{name: "DANE-TA expired leaf (RFC 7672 §3.1.2)", peer: dane.PeerPolicy{Policy: dane.PolicyDANERequired, TLSA: ta, ReferenceNames: refs},
			chain: chainOf(expired, p.inter), reason: dane.ReasonCertExpired, matched: -1, detail: "expired at"},
		{name: "no match", peer: dane.PeerPolicy{Policy: dane.PolicyDANERequired, TLSA: ee, ReferenceNames: refs}, chain: chainOf(other),
			reason: dane.ReasonTLSANoMatch, matched: -1, detail: "no usable TLSA record"},
		{name: "TLS required: any chain, unchecked (RFC 7672 §3.1.3)", peer: dane.PeerPolicy{Policy: dane.PolicyTLSRequired, TLSABase: "mx.example.com", TLSA: pkixEE},
			chain: chainOf(other), reason: dane.ReasonOK, matched: -1,
			detail: "=the secure TLSA RRset at _25._tcp.mx.example.com has no usable record: TLS is required, authentication is not (RFC 7672 §3.1.3); the chain was not checked"},
		{name: "TLS required ignores records it cannot use", peer: dane.PeerPolicy{Policy: dane.PolicyTLSRequired, TLSABase: "mx.example.com", TLSA: ee},
			chain: chainOf(other), reason: dane.ReasonOK, matched: -1, detail: "the chain was not checked"},
		{name: "opportunistic: any chain (RFC 7672 §2.2)", peer: dane.PeerPolicy{Policy: dane.PolicyOpportunistic}, chain: nil, reason: dane.ReasonOK, matched: -1,
			detail: "=no secure TLSA RRset, opportunistic TLS (RFC 7672 §2.2): nothing to authenticate against; the chain was not checked"},
		{name: "unspecified: nothing to enforce", peer: dane.PeerPolicy{Policy: dane.PolicyUnspecified, TLSA: ee}, chain: full,
			reason: dane.ReasonNotConsidered, matched: -1, detail: "=host policy UNSPECIFIED leaves nothing to enforce"},
		{name: "no mail: nothing to enforce", peer: dane.PeerPolicy{Policy: dane.PolicyNoMail}, chain: full,
			reason: dane.ReasonNotConsidered, matched: -1, detail: "=host policy NO_MAIL leaves nothing to enforce"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := dane.CheckPeer(tt.peer, tt.chain, now)
			if got.Reason != tt.reason || got.Authenticated != tt.authed || got.Matched != tt.matched {
				t.Fatalf("CheckPeer = %v authenticated=%v matched=%d, want %v %v %d (%s)",
					got.Reason, got.Authenticated, got.Matched, tt.reason, tt.authed, tt.matched, got.Detail)
			}
			if exact, ok := strings.CutPrefix(tt.detail, "="); ok {
				if got.Detail != exact {
					t.Errorf("Detail %q, want %q", got.Detail, exact)
				}
			} else if !strings.Contains(got.Detail, tt.detail) {
				t.Errorf("Detail %q does not contain %q", got.Detail, tt.detail)
			}
		})
	}
}

// TestCheckPeerIsVerify pins CheckPeer under DANE_REQUIRED to Verify: the
// same reason, record and detail, so that the probes (which call Verify)
// and the peer checks never disagree.
func TestCheckPeerIsVerify(t *testing.T) {
	p := newPKI(t)
	other := mint(t, testcert.Spec{CommonName: "other", DNSNames: []string{"other.example"}})
	rrset := dane.Assess([]dane.Record{rec(2, 0, 1, p.inter.Cert), rec(3, 1, 1, other.Cert)})
	refs := []string{"mx.example.com"}
	tests := []struct {
		name  string
		chain []*x509.Certificate
	}{
		{"DANE-TA", chainOf(p.leaf, p.inter)},
		{"DANE-EE", chainOf(other)},
		{"nothing", chainOf(mint(t, testcert.Spec{CommonName: "third"}))},
		{"empty chain", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := dane.Verify(tt.chain, rrset, dane.Options{ReferenceNames: refs, Now: now})
			c := dane.CheckPeer(dane.PeerPolicy{Policy: dane.PolicyDANERequired, TLSA: rrset, ReferenceNames: refs}, tt.chain, now)
			if c.Reason != v.Reason || c.Matched != v.Matched || c.Authenticated != v.Authenticated() || !strings.Contains(c.Detail, v.Detail) {
				t.Errorf("CheckPeer %+v, Verify %+v", c, v)
			}
		})
	}
}
