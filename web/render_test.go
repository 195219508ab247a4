package web

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/internal/testcert"
	"github.com/daned/daned/mtasts"
	"github.com/daned/daned/resolver"
)

// TestEveryReasonHasWordsAndAdvice fails when dane or mtasts gains a
// reason the page has no words or no advice for.
func TestEveryReasonHasWordsAndAdvice(t *testing.T) {
	n := 0
	res := delivered("example.com")
	for r := dane.ReasonUnspecified + 1; r.String() != "UNKNOWN"; r++ {
		n++
		t.Run(r.String(), func(t *testing.T) {
			if _, ok := reasonWords[r]; !ok {
				t.Error("no words")
			}
			if r == dane.ReasonOK {
				return
			}
			f, ok := adviceFor[r]
			if !ok {
				t.Fatal("no advice")
			}
			for _, c := range []*adviceCtx{{res: res}, {res: res, host: &res.Hosts[0], addr: &res.Hosts[0].Addresses[0]}} {
				steps := f(c)
				if len(steps) == 0 {
					t.Fatal("advice without steps")
				}
				for _, s := range steps {
					if strings.TrimSpace(s.Text) == "" {
						t.Error("a step without text")
					}
				}
			}
		})
	}
	if n < 25 {
		t.Fatalf("only %d reasons: the loop over dane.Reason stopped early", n)
	}
	for r := mtasts.ReasonNone + 1; r.String() != "UNKNOWN"; r++ {
		t.Run("mtasts "+r.String(), func(t *testing.T) {
			d := dane.ReasonNamed(r.String())
			if d == dane.ReasonUnspecified {
				t.Fatalf("mtasts reason %s has no dane reason", r)
			}
			if _, ok := adviceFor[d]; !ok {
				t.Errorf("no advice for %s", r)
			}
		})
	}
}

// TestDNSSECCause reads the validator's texts the resolver passes on,
// and names the zone to fix.
func TestDNSSECCause(t *testing.T) {
	tests := []struct {
		name   string
		detail string
		phrase string
		zone   string
		fix    string // in the advice
	}{
		{name: "expired", detail: "MX lookup for x.test failed: MX x.test.: DNSSEC validation failed: RRSIG expired (EDE 7 (Signature Expired): validation failure <x.test. MX IN>: signature expired from 192.0.2.1 for key x.test. while building chain of trust)",
			phrase: resolver.ReasonSigExpired, zone: "x.test", fix: "Re-sign the zone"},
		{name: "ds mismatch", detail: "MX lookup for a.b.test failed: MX a.b.test.: DNSSEC validation failed: DS in parent matches no DNSKEY (EDE 9 (DNSKEY Missing): validation failure <a.b.test. MX IN>: no keys have a DS with algorithm ECDSAP256SHA256 from 192.0.2.1 for key a.b.test. while building chain of trust)",
			phrase: resolver.ReasonDSMismatch, zone: "a.b.test", fix: "parent zone (b.test"},
		{name: "denial", detail: "TLSA lookup for _25._tcp.mx.x.test failed: TLSA _25._tcp.mx.x.test.: DNSSEC validation failed: NSEC/NSEC3 proof missing (EDE 12 (NSEC Missing): validation failure <_25._tcp.mx.x.test. TLSA IN>: no DNSSEC records from 192.0.2.1 for DS _tcp.mx.x.test. while building chain of trust)",
			phrase: resolver.ReasonDenialMissing, fix: "_tcp.mx.x.test"},
		{name: "no signatures", detail: "TLSA lookup failed: DNSSEC validation failed: RRSIG missing (EDE 10 (RRSIGs Missing): validation failure <_25._tcp.mx.x.test. TLSA IN>: no signatures from 192.0.2.1)",
			phrase: resolver.ReasonRRSIGMissing, fix: "serves _25._tcp.mx.x.test"},
		{name: "judged before", detail: "MX lookup for a.test failed: MX a.test.: DNSSEC validation failed: DS in parent matches no DNSKEY (EDE 9 (DNSKEY Missing): key for validation a.test. is marked as invalid because of a previous validation failure <_smtp._tls.a.test. TXT IN>: no keys have a DS with algorithm ECDSAP256SHA256 from 192.0.2.1 while building chain of trust)",
			phrase: resolver.ReasonDSMismatch, zone: "a.test", fix: "The DS record of a.test in its parent zone (test"},
		{name: "nothing known", detail: "DNSSEC validation failed", fix: "Validation of the zone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := parseDNSSECCause(tt.detail)
			if c.Phrase != tt.phrase || c.Zone != tt.zone {
				t.Errorf("phrase %q zone %q, want %q %q", c.Phrase, c.Zone, tt.phrase, tt.zone)
			}
			if !strings.Contains(c.Fix, tt.fix) {
				t.Errorf("fix %q lacks %q", c.Fix, tt.fix)
			}
		})
	}
}

// hostile is markup in every kind of text a verdict carries.
const hostile = `<script>alert(1)</script><img src=x onerror=alert(2)>"'&<style>*{}</style><a href="javascript:alert(3)">x</a>`

// hostileResult is a verdict whose every string from the DNS, a
// certificate or a policy is markup: what a hostile name server, mail
// server or policy host could make daned report.
func hostileResult(t testing.TB) *engine.Result {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	leaf := testcert.New(t, testcert.Spec{CommonName: hostile, Organization: []string{hostile}, DNSNames: []string{hostile, "mx.hostile.example"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)})
	issuer := testcert.New(t, testcert.Spec{CommonName: `"><svg onload=alert(4)>`, CA: true, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)})
	return &engine.Result{
		Domain:             "hostile.example",
		Verdict:            dane.Verdict{Policy: dane.PolicyDANERequired, Action: dane.ActionDefer, Reason: dane.ReasonTLSANoMatch, Status: dane.StatusOf(dane.ReasonTLSANoMatch, false), Text: "tlsa-invalid: " + hostile},
		MXState:            engine.DNSSecure,
		CheckedAt:          now,
		TTL:                time.Minute,
		PolicySource:       mtasts.SourceMTASTS,
		PolicySourceDetail: hostile,
		MTASTS: &mtasts.PolicyResult{Domain: "hostile.example", RecordID: hostile, Policy: mtasts.Policy{Mode: mtasts.ModeTesting, MX: []string{hostile}, MaxAge: time.Hour},
			Text: hostile, FetchedAt: now, Expires: now.Add(time.Hour), Failure: mtasts.ReasonPolicyInvalid, Detail: hostile},
		Hosts: []engine.Host{{
			Name: "mx.hostile.example", Preference: 10, MXState: engine.DNSSecure, AddressState: engine.DNSSecure, TLSAState: engine.DNSSecure,
			CNAMEChain: []string{hostile}, TLSABase: hostile, ReferenceNames: []string{hostile},
			TLSA: []dane.AssessedRecord{
				{Record: dane.Record{Usage: 3, Selector: 1, MatchingType: 1, Data: []byte(hostile)}, Usable: true},
				{Record: dane.Record{Usage: 9, Selector: 1, MatchingType: 1, Data: []byte{0xde, 0xad}}, Why: hostile},
			},
			Policy: dane.PolicyDANERequired, Reason: dane.ReasonTLSANoMatch, Detail: hostile, STSFailure: dane.ReasonCertNotTrusted,
			Addresses: []engine.Address{{IP: netip.MustParseAddr("192.0.2.7"), Reason: dane.ReasonTLSANoMatch, STARTTLSOffered: true,
				TLSVersion: 0x0304, CipherSuite: 0x1301, Chain: []*x509.Certificate{leaf.Cert, issuer.Cert}, Matched: -1, Detail: hostile}},
		}},
	}
}

// TestHostileTextIsInert renders a verdict full of markup: every string
// appears as text, none as markup, on a page that runs nothing.
func TestHostileTextIsInert(t *testing.T) {
	res := hostileResult(t)
	up := newResults(t, res)
	base := serve(t, newHandler(t, up, Config{TLSRPT: func(_ context.Context, _ string) ([]string, error) {
		return []string{"v=TLSRPTv1; rua=mailto:" + hostile}, nil
	}})).URL
	r := checkPage(t, base, res.Domain)
	if r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	p := parse(t, r.body)
	assertInert(t, p)
	for _, bad := range []string{"<script", "<img", "<svg onload", "<style>*", `href="javascript:`, "onerror=alert(2)>"} {
		if strings.Contains(r.body, bad) {
			t.Errorf("the page carries %q as markup", bad)
		}
	}
	// Shown as text, where a person reads it.
	body := text(p.byID("main"))
	for _, want := range []string{hostile, res.Hosts[0].Addresses[0].Chain[0].Subject.String(), res.Hosts[0].Addresses[0].Chain[1].Subject.String()} {
		if !strings.Contains(body, want) {
			t.Errorf("the page does not show %q as text", want)
		}
	}
	// TLSA data is shown as hex, whatever bytes it holds.
	if !strings.Contains(body, hex.EncodeToString([]byte(hostile))) {
		t.Error("TLSA data not shown as hex")
	}
	// The advice's record is computed from the presented key.
	sum := sha256.Sum256(res.Hosts[0].Addresses[0].Chain[0].RawSubjectPublicKeyInfo)
	if !strings.Contains(text(p.byID("advice")), "IN TLSA 3 1 1 "+hex.EncodeToString(sum[:])) {
		t.Error("no 3 1 1 record of the presented key")
	}
	// The picture's text alternative and labels carry the text escaped.
	if strings.Contains(r.body, `aria-label="`+hostile) {
		t.Error("an attribute carries the markup unescaped")
	}
}

// TestTLSAMatchShown renders a verdict whose address was authenticated by
// the second record: the table says which record matched, by whom.
func TestTLSAMatchShown(t *testing.T) {
	res := hostileResult(t)
	res.Domain = "match.example"
	h := &res.Hosts[0]
	h.Name, h.TLSABase, h.Usable, h.Reason, h.STSFailure = "mx.match.example", "mx.match.example", true, dane.ReasonOK, dane.ReasonUnspecified
	h.TLSA[1] = dane.AssessedRecord{Record: dane.Record{Usage: 3, Selector: 1, MatchingType: 1, Data: make([]byte, 32)}, Usable: true}
	h.Addresses[0].Reason, h.Addresses[0].Authenticated, h.Addresses[0].Matched = dane.ReasonOK, true, 1
	res.Verdict = dane.Verdict{Policy: dane.PolicyDANERequired, Action: dane.ActionDeliver, Reason: dane.ReasonOK}
	res.MTASTS = nil
	base := serve(t, newHandler(t, newResults(t, res), Config{})).URL
	p := parse(t, checkPage(t, base, res.Domain).body)
	sec := p.byID("host-1")
	if sec == nil {
		t.Fatal("no host section")
	}
	st := text(sec)
	for _, want := range []string{"TLSA record 2 (3 1 1) matched", "✓ by 192.0.2.7", "authenticated", "TLS 1.3, TLS_AES_128_GCM_SHA256"} {
		if !strings.Contains(st, want) {
			t.Errorf("host section lacks %q:\n%s", want, st)
		}
	}
	if !hasClass(sec, "pass") {
		t.Error("an authenticated host is not marked passing")
	}
}
