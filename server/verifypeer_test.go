package server

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/internal/testca"
	"github.com/daned/daned/internal/testcert"
	"github.com/daned/daned/mtasts"
	danev1 "github.com/daned/daned/proto/dane/v1"
)

var peerNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func selfSigned(t *testing.T, cn string) *x509.Certificate {
	t.Helper()
	return testcert.SelfSigned(t, cn, peerNow.Add(-time.Hour), peerNow.Add(time.Hour)).Cert
}

func spkiRecord(c *x509.Certificate) dane.AssessedRecord {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return dane.AssessedRecord{Record: dane.Record{Usage: 3, Selector: 1, MatchingType: 1, Data: sum[:]}, Usable: true}
}

func TestVerifyPeerSemantics(t *testing.T) {
	good, other := selfSigned(t, "mx.example.test"), selfSigned(t, "other.test")
	unusable := dane.AssessedRecord{Record: dane.Record{Usage: 1, Selector: 1, MatchingType: 1, Data: spkiRecord(good).Data}, Why: "PKIX-EE is not used for SMTP"}
	host := func(name string, p dane.Policy, r dane.Reason, tlsa ...dane.AssessedRecord) engine.Host {
		return engine.Host{Name: name, Policy: p, Reason: r, TLSA: tlsa, TLSABase: name, ReferenceNames: []string{name}}
	}
	ok := dane.ReasonOK
	verdict := &engine.Result{Domain: "example.test", Verdict: dane.Verdict{Reason: ok}, Hosts: []engine.Host{
		host("dane.example.test", dane.PolicyDANERequired, ok, unusable, spkiRecord(good)),
		host("tls.example.test", dane.PolicyTLSRequired, ok, unusable),
		host("opp.example.test", dane.PolicyOpportunistic, ok),
		host("bogus.example.test", dane.PolicyUnspecified, dane.ReasonDNSSECBogus),
		host("far.example.test", dane.PolicyUnspecified, dane.ReasonNotConsidered),
	}}
	nullMX := &engine.Result{Domain: "null.test", Verdict: dane.Verdict{Reason: dane.ReasonNullMX, Text: "null MX"}}
	ca := testca.New(t, "WebPKI root", peerNow)
	webpki := func(name string) *x509.Certificate {
		chain, _ := ca.Issue(t, testca.Leaf{DNSNames: []string{name}, NotBefore: peerNow.Add(-time.Hour), NotAfter: peerNow.Add(time.Hour)})
		return chain[0]
	}
	sts := &engine.Result{Domain: "sts.test", Verdict: dane.Verdict{Reason: ok},
		MTASTS: &mtasts.PolicyResult{Policy: mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"*.sts.test"}}},
		Hosts: []engine.Host{
			{Name: "mx.sts.test", Policy: dane.PolicyMTASTSRequired, Reason: ok},
			{Name: "mx.elsewhere.test", Policy: dane.PolicyMTASTSRequired, Reason: dane.ReasonMXNotInPolicy, Detail: "not in the policy"},
		}}
	wantData := hex.EncodeToString(spkiRecord(good).Data)
	tests := []struct {
		name     string
		verdict  *engine.Result
		host     string
		chain    *x509.Certificate
		verified bool
		reason   danev1.Reason
		code     string
		matched  int // -1: none
	}{
		{"match", verdict, "dane.example.test", good, true, danev1.Reason_REASON_OK, "", 1},
		{"no match", verdict, "dane.example.test", other, false, danev1.Reason_REASON_TLSA_NO_MATCH, "4.7.323", -1},
		{"TLS required", verdict, "tls.example.test", other, false, danev1.Reason_REASON_OK, "", -1},
		{"opportunistic", verdict, "opp.example.test", other, false, danev1.Reason_REASON_OK, "", -1},
		{"host lookups failed", verdict, "bogus.example.test", good, false, danev1.Reason_REASON_DNSSEC_BOGUS, "4.7.324", -1},
		{"beyond the MX limit", verdict, "far.example.test", good, false, danev1.Reason_REASON_NOT_CONSIDERED, "", -1},
		{"not an MX host", verdict, "elsewhere.test", good, false, danev1.Reason_REASON_NOT_CONSIDERED, "", -1},
		{"null MX", nullMX, "null.test", good, false, danev1.Reason_REASON_NULL_MX, "5.1.10", -1},
		{"MTA-STS: WebPKI-valid for the host", sts, "mx.sts.test", webpki("mx.sts.test"), true, danev1.Reason_REASON_OK, "", -1},
		{"MTA-STS: self-signed", sts, "mx.sts.test", good, false, danev1.Reason_REASON_CERT_NOT_TRUSTED, "4.7.5", -1},
		{"MTA-STS: another name", sts, "mx.sts.test", webpki("other.sts.test"), false, danev1.Reason_REASON_CERT_NAME_MISMATCH, "4.7.5", -1},
		{"MTA-STS: host not in the policy", sts, "mx.elsewhere.test", webpki("mx.elsewhere.test"), false, danev1.Reason_REASON_MX_NOT_IN_POLICY, "4.7.5", -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := verifyPeer(tc.verdict, tc.host, []*x509.Certificate{tc.chain}, peerNow, ca.Pool())
			if r.GetVerified() != tc.verified || r.GetReason() != tc.reason || r.GetStatusCode() != tc.code {
				t.Fatalf("verified=%v reason=%s code=%q, want %v %s %q (%s)", r.GetVerified(), r.GetReason(), r.GetStatusCode(), tc.verified, tc.reason, tc.code, r.GetDetail())
			}
			if tc.matched < 0 && (r.MatchedTlsaIndex != nil || r.MatchedRecord != nil) {
				t.Errorf("matched %v %v, want none", r.MatchedTlsaIndex, r.MatchedRecord)
			}
			if tc.matched >= 0 && (r.MatchedTlsaIndex == nil || int(*r.MatchedTlsaIndex) != tc.matched || r.GetMatchedRecord().GetData() != wantData) {
				t.Errorf("matched %v %v, want [%d]", r.MatchedTlsaIndex, r.GetMatchedRecord(), tc.matched)
			}
			if r.GetDetail() == "" || r.GetMxHost() != tc.host || r.GetDomain() != tc.verdict.Domain {
				t.Errorf("detail %q, mx_host %q, domain %q", r.GetDetail(), r.GetMxHost(), r.GetDomain())
			}
		})
	}
}

func TestParseChainBounds(t *testing.T) {
	good := selfSigned(t, "mx.example.test").Raw
	tests := []struct {
		name  string
		chain [][]byte
		err   string // "" for none
	}{
		{"one certificate", [][]byte{good}, ""},
		{"sixteen", repeat(good, maxPeerCerts), ""},
		{"empty", nil, "no certificate"},
		{"seventeen", repeat(good, maxPeerCerts+1), "at most 16"},
		{"too big", [][]byte{make([]byte, maxPeerChainBytes+1)}, "bytes of certificates"},
		{"not DER", [][]byte{good, []byte("garbage")}, "chain[1] is not a DER X.509 certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseChain(tc.chain)
			if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("parseChain: %v, want %q", err, tc.err)
			}
		})
	}
}

func repeat(b []byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}
