package web

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/html"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/internal/config"
	"github.com/daned/daned/internal/danedtest"
	"github.com/daned/daned/internal/testworld"
	danev1 "github.com/daned/daned/proto/dane/v1"
	"github.com/daned/daned/resolver"
	"github.com/daned/daned/server"
	"github.com/daned/daned/tlsrpt"
)

// Scenarios of this package's own, beside the catalogue: a hostile
// certificate, a published TLS-RPT record.
const (
	hostileCN  = `<script>alert("cn")</script>`
	hostileSAN = `"><img src=x onerror=alert(1)>`
)

// pagesDir, when set, receives each scenario's page as rendered (with
// the stylesheet beside it), for a person to review:
// go test ./web -run TestWorld/pages -pages /tmp/pages
var pagesDir = flag.String("pages", "", "write each scenario's page to this directory")

func webScenarios() []testworld.ScenarioSpec {
	return []testworld.ScenarioSpec{
		{Name: "web-hostile-cert", Description: "the server certificate's CN and a SAN are markup; its TLSA record does not match", Expect: "fail: tlsa-invalid (4.7.323)",
			Hosts: []testworld.HostSpec{{Name: "mx", Cert: testworld.CertSpec{CN: hostileCN, SANs: []string{"mx.{z}", hostileSAN}},
				TLSA: []testworld.TLSASpec{{Usage: 3, Selector: 1, MatchingType: 1, Of: testworld.OfOther}}}}},
		{Name: "web-tlsrpt", Description: "DANE-EE 3 1 1 and a TLS-RPT record", Expect: "pass (dane-ee)",
			Hosts:   []testworld.HostSpec{{Name: "mx", TLSA: []testworld.TLSASpec{{Usage: 3, Selector: 1, MatchingType: 1}}}},
			Records: []string{`_smtp._tls.{z} TXT "v=TLSRPTv1; rua=mailto:tls-reports@{z},ftp://bad.example"`}},
	}
}

// worldEnv is the test world, a real Unbound, daned's decision layer built
// as the service builds it (caches, the MTA-STS manager), and the page on
// a loopback listener.
type worldEnv struct {
	world *testworld.World
	unb   *testworld.Unbound
	built *config.Built
	h     *Handler
	base  string
}

func startWorld(t *testing.T) *worldEnv {
	t.Helper()
	extra := append(testworld.STSScenarios(), webScenarios()...)
	for _, s := range testworld.SlowScenarios(0) {
		if s.Name == "tarpit" {
			extra = append(extra, s)
		}
	}
	w := testworld.StartT(t, testworld.Options{Extra: extra})
	u := testworld.StartUnboundT(t, w)
	ec := danedtest.EngineConfig(w, u.Addr())
	ec.MTASTS, ec.MTASTSPort, ec.MTASTSFetchTimeout = true, w.HTTPSPort(), 10*time.Second
	ec.WebPKIRoots, ec.StateDir, ec.CacheSize = w.WebPKIRoots(), t.TempDir(), 1000
	ec.Logger = quiet()
	built, err := ec.BuildService()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = built.Close() })
	h := newHandler(t, nil, Config{Validator: built.Verdicts, TLSRPT: tlsrptLookup(built.Lookup)})
	return &worldEnv{world: w, unb: u, built: built, h: h, base: serve(t, h).URL}
}

// tlsrptLookup answers Config.TLSRPT through daned's resolver, refusing a
// bogus answer, as daned's TLS reporter looks the record up.
func tlsrptLookup(l engine.Lookuper) func(ctx context.Context, domain string) ([]string, error) {
	return func(ctx context.Context, domain string) ([]string, error) {
		a, err := l.Lookup(ctx, tlsrpt.RecordName(domain), dns.TypeTXT)
		if err != nil {
			return nil, err
		}
		if a.Security == resolver.Bogus || a.Security == resolver.Indeterminate {
			return nil, errors.New("DNSSEC validation failed")
		}
		var out []string
		for _, rr := range a.Records {
			if txt, ok := rr.(*dns.TXT); ok {
				out = append(out, strings.Join(txt.Txt, ""))
			}
		}
		return out, nil
	}
}

// TestWorld renders the page of every scenario of the test world and
// checks it against the verdict the decision layer holds, and checks
// what needs the world: the JSON mapping, the deadline, the probe target
// policy and the TLS-RPT record.
func TestWorld(t *testing.T) {
	e := startWorld(t)
	scenarios := e.world.Scenarios()
	if len(scenarios) < 60 {
		t.Fatalf("only %d scenarios: the world did not build the catalogue", len(scenarios))
	}
	t.Run("pages", func(t *testing.T) {
		for _, sc := range scenarios {
			if sc.Domain == "tarpit.test" {
				continue // never answers: the deadline test's
			}
			t.Run(sc.Domain, func(t *testing.T) {
				t.Parallel()
				e.checkScenario(t, sc)
			})
		}
	})
	t.Run("advice", func(t *testing.T) { e.checkAdvice(t) })
	t.Run("advice order", func(t *testing.T) { e.checkAdviceOrder(t) })
	t.Run("json equals the gRPC door", func(t *testing.T) { e.checkJSON(t, scenarios) })
	t.Run("deadline", func(t *testing.T) { e.checkDeadline(t) })
	t.Run("probe target policy", func(t *testing.T) { e.checkForbidden(t) })
	t.Run("tls-rpt record", func(t *testing.T) { e.checkTLSRPT(t) })
	t.Run("hostile certificate", func(t *testing.T) { e.checkHostileCert(t) })
	t.Run("re-check bypasses the cache", func(t *testing.T) { e.checkRecheck(t) })
}

// reExpectCode is the code a catalogue entry's Expect names: "fail:
// tlsa-invalid (4.7.323)".
var reExpectCode = regexp.MustCompile(`\((\d\.\d\.\d+)\)`)

// checkScenario renders one scenario and checks the page against the
// verdict.
func (e *worldEnv) checkScenario(t *testing.T, sc testworld.Scenario) {
	r := checkPage(t, e.base, sc.Domain)
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200:\n%s", r.status, r.body)
	}
	assertSecurityHeaders(t, r)
	if *pagesDir != "" {
		dumpPage(t, e.h, sc.Domain, r.body)
	}
	d, ok := e.built.Verdicts.Cached(context.Background(), sc.Domain, engine.Options{})
	if !ok {
		t.Fatal("the page's verdict is not in the decision layer's cache")
	}
	res := d.Result
	p := parse(t, r.body)
	assertInert(t, p)

	// The action, its code and TLS-RPT type, in words.
	v := p.byID("verdict")
	if v == nil {
		t.Fatal("no verdict section")
	}
	word, _ := actionWords(res.Verdict.Action)
	vt := text(v)
	if h1 := p.byID("verdict-title"); h1 == nil || !strings.Contains(text(h1), word+": mail to "+res.Domain) {
		t.Errorf("verdict heading does not say %q", word+": mail to "+res.Domain)
	}
	say := reasonText(res.Verdict.Reason)
	if n := usableHosts(res); res.Verdict.Action == dane.ActionDeliver && n < len(res.Hosts) {
		say = fmt.Sprintf("%d of %d MX hosts usable", n, len(res.Hosts))
	}
	for _, want := range []string{res.Verdict.Status.Code, res.Verdict.Status.TLSRPT, say} {
		if !strings.Contains(vt, want) {
			t.Errorf("verdict section lacks %q:\n%s", want, vt)
		}
	}
	wantTone := "pass"
	if res.Verdict.Action != dane.ActionDeliver {
		wantTone = "fail"
	}
	if !hasClass(v, wantTone) {
		t.Errorf("verdict section not marked %s", wantTone)
	}
	// The catalogue's own expectation, where it names a failure.
	if strings.HasPrefix(sc.Expect, "fail:") {
		if res.Verdict.Action != dane.ActionDefer {
			t.Errorf("the catalogue expects %q, the verdict is %v", sc.Expect, res.Verdict.Action)
		}
		if m := reExpectCode.FindStringSubmatch(sc.Expect); m != nil && !strings.Contains(vt, m[1]) {
			t.Errorf("the catalogue expects %q; the verdict section lacks %s", sc.Expect, m[1])
		}
	}

	// The picture, in both drawings: a step per host, marked as the host
	// is, and the failing step visible when the mail does not go.
	svgs := p.all(func(n *html.Node) bool { return n.Data == "svg" })
	if len(svgs) != 2 {
		t.Fatalf("%d svg elements, want 2 (wide and tall)", len(svgs))
	}
	for _, svg := range svgs {
		assertSVGAlternative(t, svg)
		steps := parsed{svg}.all(func(n *html.Node) bool { return n.Data == "a" && hasClass(n, "step") })
		if len(steps) == 0 {
			t.Fatal("no steps in the picture")
		}
		failing := 0
		for _, s := range steps {
			if hasClass(s, "fail") {
				failing++
				if ds, _ := attr(s, "data-state"); ds != "fail" || !strings.Contains(text(s), "✗") {
					t.Errorf("failing step %q is not marked in words and icon (data-state %q)", text(s), ds)
				}
			}
		}
		if res.Verdict.Action != dane.ActionDeliver && failing == 0 {
			t.Error("the mail does not go, and no step of the picture is marked failing")
		}
		for i, h := range res.Hosts {
			var node *html.Node
			for _, s := range steps {
				if href, _ := attr(s, "href"); href == fmt.Sprintf("#host-%d", i+1) && hasClass(s, "host") {
					node = s
				}
			}
			if node == nil {
				t.Fatalf("host %s: no step", h.Name)
			}
			if got := hasClass(node, "fail"); got != !h.Usable {
				t.Errorf("host %s: step marked failing %v, usable %v", h.Name, got, h.Usable)
			}
			if !strings.Contains(text(node), h.Name) && !strings.Contains(text(node), "…") {
				t.Errorf("host %s: step %q does not name it", h.Name, text(node))
			}
		}
	}
	for i, h := range res.Hosts {
		id := fmt.Sprintf("host-%d", i+1)
		sec := p.byID(id)
		if sec == nil {
			t.Fatalf("host %s: no section", h.Name)
		}
		if !strings.Contains(text(sec), h.Name) {
			t.Errorf("section %s does not name %s", id, h.Name)
		}
		if got := hasClass(sec, "fail"); got != !h.Usable {
			t.Errorf("host %s: section marked failing %v, usable %v", h.Name, got, h.Usable)
		}
		if !h.Usable {
			st := dane.StatusOf(h.Reason, false)
			if h.STSFailure == h.Reason {
				st = dane.StatusOfSTS(h.Reason, false)
			}
			if h1 := p.byID(id + "-title"); h1 == nil || !strings.Contains(text(h1), reasonText(h.Reason)) || !strings.Contains(text(h1), st.Code) {
				t.Errorf("host %s: heading does not say %q and %q", h.Name, reasonText(h.Reason), st.Code)
			}
		}
		for _, a := range h.Addresses {
			if !strings.Contains(text(sec), a.IP.String()) {
				t.Errorf("host %s: section lacks address %s", h.Name, a.IP)
			}
			for _, c := range a.Chain {
				if !strings.Contains(r.body, spkiHex(c.RawSubjectPublicKeyInfo)) {
					t.Errorf("host %s: the chain's SPKI hash is not shown", h.Name)
				}
			}
		}
		if len(h.TLSA) > 0 && !strings.Contains(text(sec), "TLSA records of") {
			t.Errorf("host %s: no TLSA table", h.Name)
		}
	}

	// Advice for every reason the verdict fails with.
	adv := p.byID("advice")
	if adv == nil {
		t.Fatal("no advice section")
	}
	at := text(adv)
	if len(res.Hosts) == 0 && res.Verdict.Reason != dane.ReasonOK {
		if !strings.Contains(at, reasonText(res.Verdict.Reason)) {
			t.Errorf("no advice for %v", res.Verdict.Reason)
		}
	}
	for _, h := range res.Hosts {
		if !h.Usable && !strings.Contains(at, h.Name+": "+reasonText(h.Reason)) {
			t.Errorf("no advice for host %s (%v)", h.Name, h.Reason)
		}
	}
	if len(p.all(func(n *html.Node) bool { return n.Data == "li" && isWithin(n, adv) })) == 0 {
		t.Error("the advice has no steps")
	}

	// The DNSSEC cause, where validation failed.
	if res.Verdict.Reason == dane.ReasonDNSSECBogus {
		ds := p.byID("dnssec")
		if ds == nil {
			t.Fatal("DNSSEC failed, and the page has no DNSSEC section")
		}
		if !strings.Contains(text(ds), "zone") {
			t.Errorf("the DNSSEC section names no zone: %s", text(ds))
		}
	}

	// When checked, from the cache or not, and the re-check form.
	if !strings.Contains(vt, res.CheckedAt.UTC().Format(timeFormat)) {
		t.Error("the page does not say when the domain was checked")
	}
	forms := p.all(func(n *html.Node) bool { return n.Data == "form" && hasClass(n, "recheck") })
	if len(forms) != 1 {
		t.Fatalf("%d re-check forms, want 1", len(forms))
	}
	if m, _ := attr(forms[0], "method"); m != "post" {
		t.Errorf("the re-check form uses %q", m)
	}
}

// dumpPage writes a page and the stylesheet to pagesDir.
func dumpPage(t *testing.T, h *Handler, domain, body string) {
	t.Helper()
	css := h.static.files["style.css"]
	if err := os.MkdirAll(filepath.Join(*pagesDir, "static"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*pagesDir, "static", "style.css"), css.data, 0o644); err != nil {
		t.Fatal(err)
	}
	body = strings.Replace(body, h.static.cssURL, "static/style.css", 1)
	if err := os.WriteFile(filepath.Join(*pagesDir, domain+".html"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func isWithin(n, ancestor *html.Node) bool {
	for p := n.Parent; p != nil; p = p.Parent {
		if p == ancestor {
			return true
		}
	}
	return false
}

// assertSVGAlternative fails unless the picture has a text alternative.
func assertSVGAlternative(t *testing.T, svg *html.Node) {
	t.Helper()
	if role, _ := attr(svg, "role"); role != "img" {
		t.Errorf("svg role %q, want img", role)
	}
	ids, _ := attr(svg, "aria-labelledby")
	kind, _ := attr(svg, "class")
	kind = strings.TrimPrefix(kind, "path ")
	var title, desc string
	for c := svg.FirstChild; c != nil; c = c.NextSibling {
		switch c.Data {
		case "title":
			title = text(c)
		case "desc":
			desc = text(c)
		}
	}
	if title == "" || desc == "" || ids != "path-"+kind+"-title path-"+kind+"-desc" {
		t.Errorf("svg title %q, desc %q, aria-labelledby %q", title, desc, ids)
	}
}

func spkiHex(spki []byte) string {
	sum := sha256.Sum256(spki)
	return hex.EncodeToString(sum[:])
}

// checkJSON compares, for every scenario, the JSON API's answer with the
// gRPC door's for the same verdict (both answered from the decision
// layer's cache, which the pages filled).
func (e *worldEnv) checkJSON(t *testing.T, scenarios []testworld.Scenario) {
	srv, err := server.New(server.Config{Verdicts: e.built.Verdicts, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range scenarios {
		if sc.Domain == "tarpit.test" {
			continue
		}
		t.Run(sc.Domain, func(t *testing.T) {
			r := get(t, e.base+"/v1/validate?domain="+url.QueryEscape(sc.Domain))
			if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d, type %q: %s", r.status, r.header.Get("Content-Type"), r.body)
			}
			assertSecurityHeaders(t, r)
			got := &danev1.ValidateResponse{}
			if err := protojson.Unmarshal([]byte(r.body), got); err != nil {
				t.Fatal(err)
			}
			want, err := srv.Validate(context.Background(), &danev1.ValidateRequest{Domain: sc.Domain})
			if err != nil {
				t.Fatal(err)
			}
			if !got.GetFromCache() || !want.GetFromCache() {
				t.Errorf("from_cache %v (gRPC %v), want both from the cache", got.GetFromCache(), want.GetFromCache())
			}
			if got.GetTtl().AsDuration() <= 0 || got.GetTtl().AsDuration() > want.GetTtl().AsDuration()+time.Second {
				t.Errorf("ttl %v, gRPC %v", got.GetTtl().AsDuration(), want.GetTtl().AsDuration())
			}
			got.Ttl, want.Ttl = nil, nil // what remains moves on between the calls
			if !proto.Equal(got, want) {
				t.Errorf("JSON answer differs from the gRPC door's:\n got %v\nwant %v", got, want)
			}
		})
	}
	t.Run("post", func(t *testing.T) {
		r := do(t, http.MethodPost, e.base+"/v1/validate", "application/json", strings.NewReader(`{"domain":"EE-SPKI.test.","policyOnly":true}`))
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		got := &danev1.ValidateResponse{}
		if err := protojson.Unmarshal([]byte(r.body), got); err != nil {
			t.Fatal(err)
		}
		if got.GetDomain() != "ee-spki.test" || !got.GetPolicyOnly() || got.GetAction() != danev1.Action_ACTION_DELIVER {
			t.Errorf("domain %q, policy_only %v, action %v", got.GetDomain(), got.GetPolicyOnly(), got.GetAction())
		}
		for _, h := range got.GetMxHosts() {
			for _, a := range h.GetAddresses() {
				if a.GetReason() != danev1.Reason_REASON_NOT_PROBED {
					t.Errorf("policy_only probed %s: %v", a.GetIp(), a.GetReason())
				}
			}
		}
	})
}

// checkAdvice checks the steps the page gives for the failures of the
// world, code by code: what the receiving admin reads and acts on. (The
// zone named for a DNSSEC failure comes from Unbound's text, which
// varies with what it has cached: "the zone Z" or "the zone that serves
// N"; TestDNSSECCause pins each form.)
func (e *worldEnv) checkAdvice(t *testing.T) {
	spki := func(host string, i int) string {
		return spkiHex(e.hostChain(t, host)[i].RawSubjectPublicKeyInfo)
	}
	tests := []struct {
		domain string
		want   []string
	}{
		{"nostarttls.test", []string{"4.7.321", "port 25 of mx.nostarttls.test offers STARTTLS", "remove the TLSA records at _25._tcp.mx.nostarttls.test."}},
		{"starttls-refused.test", []string{"4.7.321", "STARTTLS command must get 220"}},
		{"ta-expired.test", []string{"4.7.322", "Renew the expired certificate", "Publish the TLSA record of the new certificate first"}},
		{"mismatch.test", []string{"4.7.323", "_25._tcp.mx.mismatch.test. IN TLSA 3 1 1 " + spki("mx.mismatch.test", 0)}},
		{"ta-badname.test", []string{"4.7.323", "names none of mx.ta-badname.test, ta-badname.test",
			"IN TLSA 3 1 1 " + spki("mx.ta-badname.test", 0), "IN TLSA 2 1 1 " + spki("mx.ta-badname.test", 1)}},
		{"expired-rrsig.test", []string{"4.7.324", "The signatures (RRSIGs) of the zone", "expired-rrsig.test have expired"}},
		{"future-rrsig.test", []string{"4.7.324", "signatures of the zone", "future-rrsig.test are not valid yet"}},
		{"ds-mismatch.test", []string{"4.7.324", "The DS record", "matches no DNSKEY", "ds-mismatch.test"}},
		{"no-dnskey.test", []string{"4.7.324", "no-dnskey.test, but the zone serves no DNSKEY"}},
		{"tlsa-nosig.test", []string{"4.7.324", "arrive without signatures"}},
		{"tlsa-nodenial.test", []string{"4.7.324", "without the NSEC or NSEC3 records that prove it"}},
		{"tlsa-servfail.test", []string{"4.7.324", "The TLSA query for _25._tcp.mx.tlsa-servfail.test. failed", "not the same as \"no TLSA record\""}},
		{"all-hosts-fail.test", []string{"4.4.312", "mx1.all-hosts-fail.test: " + reasonText(dane.ReasonDNSQueryFailed), "4.7.323"}},
		{"refused.test", []string{"4.4.1", "firewalls let port 25 in"}},
		{"nullmx.test", []string{"5.1.10", "replace the null MX"}},
		{"nxdomain.test", []string{"5.1.2", "does not exist in the DNS"}},
		{"notlsa.test", []string{"mx.notlsa.test has no TLSA records", "IN TLSA 3 1 1 " + spki("mx.notlsa.test", 0)}},
		{"unsigned.test", []string{"not DNSSEC-signed"}},
		{"ee-spki.test", []string{"Every host is authenticated with DANE"}},
		{"pkix-only.test", []string{"none is usable for SMTP", "IN TLSA 3 1 1 " + spki("mx.pkix-only.test", 0)}},
		{"tlsa-malformed.test", []string{"5 of the TLSA records of mx.tlsa-malformed.test are unusable", "4 1 1"}},
		{"partial-tlsa.test", []string{"mx1.partial-tlsa.test has no TLSA records", "_25._tcp.mx1.partial-tlsa.test. IN TLSA 3 1 1 " + spki("mx1.partial-tlsa.test", 0)}},
		{"insecure-host.test", []string{"mx.unsigned.test lies in an unsigned zone"}},
		{"sts-not-in-policy.test", []string{"4.7.5", "Add an mx: line naming mx.sts-not-in-policy.test"}},
		{"sts-testing.test", []string{"mode testing: senders deliver all the same", "from a public CA"}},
		{"sts-untrusted.test", []string{"4.7.5", "from a public CA"}},
		{"sts-nostarttls.test", []string{"4.7.321", "offers STARTTLS", "switch the MTA-STS policy", "!remove the TLSA records"}},
		{"sts-expired.test", []string{"4.7.5", "Renew the expired certificate of mx.sts-expired.test from a public CA", "!TLSA"}},
		{"sts-badname.test", []string{"4.7.5", "whose DNS names include mx.sts-badname.test", "!DANE-TA"}},
		{"sts-dane-fail.test", []string{"4.7.323", "IN TLSA 3 1 1"}},
		{"sts-webpki.test", []string{"mta-sts.sts-webpki.test must present a certificate"}},
		{"sts-invalid.test", []string{"Fix the policy's syntax"}},
		{"sts-redirect.test", []string{"without a redirect"}},
	}
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			p := parse(t, checkPage(t, e.base, tt.domain).body)
			adv := p.byID("advice")
			if adv == nil {
				t.Fatal("no advice section")
			}
			for _, w := range tt.want {
				if not, ok := strings.CutPrefix(w, "!"); ok {
					if strings.Contains(text(adv), not) {
						t.Errorf("the advice speaks of %q:\n%s", not, text(adv))
					}
					continue
				}
				if !strings.Contains(text(adv), w) {
					t.Errorf("the advice lacks %q:\n%s", w, text(adv))
				}
			}
		})
	}
}

// checkAdviceOrder: the failure the verdict names comes first, though its
// host comes second.
func (e *worldEnv) checkAdviceOrder(t *testing.T) {
	p := parse(t, checkPage(t, e.base, "all-hosts-fail.test").body)
	items := p.all(func(n *html.Node) bool { return n.Data == "article" && isWithin(n, p.byID("advice")) })
	if len(items) != 2 || !strings.Contains(text(items[0]), "4.7.323 mx2.all-hosts-fail.test") {
		t.Errorf("%d advice items, the first: %q", len(items), text(items[0]))
	}
}

// checkDeadline asks for a domain whose server never answers, with a
// short per-check limit: the page and the API answer 504 promptly rather
// than wait for the probe.
func (e *worldEnv) checkDeadline(t *testing.T) {
	h := newHandler(t, nil, Config{Validator: e.built.Verdicts, Timeout: 300 * time.Millisecond})
	base := serve(t, h).URL
	r := checkPage(t, base, "tarpit.test")
	if r.status != http.StatusGatewayTimeout {
		t.Fatalf("page status %d, want 504:\n%s", r.status, r.body)
	}
	assertInert(t, parse(t, r.body))
	if !strings.Contains(r.body, "within 300ms") {
		t.Errorf("the page does not say the limit:\n%s", r.body)
	}
	j := get(t, base+"/v1/validate?domain=tarpit.test")
	assertJSONError(t, j, http.StatusGatewayTimeout, "DEADLINE_EXCEEDED")
	// The validation the page gave up on goes on in the decision layer
	// for whoever else asks (the fleet): wait for it, and see it end
	// with the probe's own timeout. (It also leaves no goroutine behind
	// for the leak check.)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := e.built.Verdicts.Decide(ctx, "tarpit.test", engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Result.Verdict.Action != dane.ActionDefer || d.Result.Verdict.Reason != dane.ReasonTimeout {
		t.Errorf("tarpit.test: %v %v, want DEFER TIMEOUT", d.Result.Verdict.Action, d.Result.Verdict.Reason)
	}
}

// checkForbidden validates through an engine whose probe target policy
// admits only ::1: the world's IPv4 hosts are refused, and the page says
// so.
func (e *worldEnv) checkForbidden(t *testing.T) {
	ec := danedtest.EngineConfig(e.world, e.unb.Addr())
	ec.ProbeAllow = config.Prefixes{netip.MustParsePrefix("::1/128")}
	ec.Logger = quiet()
	built, err := ec.Build()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = built.Close() })
	h := newHandler(t, built.Engine, Config{})
	base := serve(t, h).URL
	r := checkPage(t, base, "ee-spki.test")
	if r.status != http.StatusOK {
		t.Fatalf("status %d", r.status)
	}
	p := parse(t, r.body)
	sec := p.byID("host-1")
	if sec == nil {
		t.Fatal("no host section")
	}
	for _, want := range []string{reasonText(dane.ReasonTargetForbidden), "4.4.4"} {
		if !strings.Contains(text(sec), want) {
			t.Errorf("host section lacks %q:\n%s", want, text(sec))
		}
	}
	if !strings.Contains(text(p.byID("advice")), "private, loopback or reserved") {
		t.Error("no advice for the refused address")
	}
}

// checkTLSRPT shows a published TLS-RPT record, its usable and skipped
// addresses, and the absence of one.
func (e *worldEnv) checkTLSRPT(t *testing.T) {
	p := parse(t, checkPage(t, e.base, "web-tlsrpt.test").body)
	pol := p.byID("policies")
	if pol == nil {
		t.Fatal("no policies section")
	}
	for _, want := range []string{"TLS-RPT: ✓ published", "mailto:tls-reports@web-tlsrpt.test", "_smtp._tls.web-tlsrpt.test", "ftp"} {
		if !strings.Contains(text(pol), want) {
			t.Errorf("policies section lacks %q:\n%s", want, text(pol))
		}
	}
	p = parse(t, checkPage(t, e.base, "ee-spki.test").body)
	if !strings.Contains(text(p.byID("policies")), "no TLS-RPT record") {
		t.Errorf("ee-spki.test publishes no TLS-RPT record, the page says: %s", text(p.byID("policies")))
	}
}

// checkHostileCert renders a certificate whose subject and names are
// markup: shown as text, never run.
func (e *worldEnv) checkHostileCert(t *testing.T) {
	r := checkPage(t, e.base, "web-hostile-cert.test")
	p := parse(t, r.body)
	assertInert(t, p)
	sec := p.byID("host-1")
	if sec == nil {
		t.Fatal("no host section")
	}
	leaf := e.hostChain(t, "mx.web-hostile-cert.test")[0]
	// The subject as RFC 2253 writes it, with its markup escaped by
	// backslashes: the page shows the certificate's own text.
	for _, want := range []string{leaf.Subject.String(), hostileSAN} {
		if !strings.Contains(text(sec), want) {
			t.Errorf("the host section does not show %q as text", want)
		}
	}
	if strings.Contains(r.body, "<script>alert") || strings.Contains(r.body, "<img src=x") {
		t.Error("certificate fields reached the page as markup")
	}
	// The advice proposes the record matching the certificate presented.
	want := "_25._tcp.mx.web-hostile-cert.test. IN TLSA 3 1 1 " + spkiHex(leaf.RawSubjectPublicKeyInfo)
	if !strings.Contains(text(p.byID("advice")), want) {
		t.Errorf("the advice does not propose %q:\n%s", want, text(p.byID("advice")))
	}
}

func (e *worldEnv) hostChain(t *testing.T, name string) []*x509.Certificate {
	t.Helper()
	h, ok := e.world.Host(name)
	if !ok || len(h.Chain) == 0 {
		t.Fatalf("no host %s in the world", name)
	}
	return h.Chain
}

// checkRecheck posts the re-check form: the verdict is made afresh (not
// from the cache), and a cross-site form is refused.
func (e *worldEnv) checkRecheck(t *testing.T) {
	before := e.built.Verdicts.Stats().Validations
	r := postForm(t, e.base+"/check", url.Values{"domain": {"ee-spki.test"}})
	if r.status != http.StatusOK {
		t.Fatalf("status %d:\n%s", r.status, r.body)
	}
	if e.built.Verdicts.Stats().Validations == before {
		t.Error("the re-check was answered without a validation")
	}
	if !strings.Contains(r.body, "checked now, for this request") {
		t.Error("the re-checked page does not say it was checked now")
	}
	g := checkPage(t, e.base, "ee-spki.test")
	if !strings.Contains(g.body, "from daned&#39;s cache") {
		t.Error("the page after a re-check is not answered from the cache it refilled")
	}
	x := postForm(t, e.base+"/check", url.Values{"domain": {"ee-spki.test"}}, "Origin", "https://evil.example")
	if x.status != http.StatusForbidden {
		t.Errorf("cross-site re-check: status %d, want 403", x.status)
	}
	x = postForm(t, e.base+"/check", url.Values{"domain": {"ee-spki.test"}}, "Sec-Fetch-Site", "cross-site")
	if x.status != http.StatusForbidden {
		t.Errorf("cross-site re-check (Sec-Fetch-Site): status %d, want 403", x.status)
	}
	if s := postForm(t, e.base+"/check", url.Values{"domain": {"ee-spki.test"}}, "Origin", e.base, "Sec-Fetch-Site", "same-origin"); s.status != http.StatusOK {
		t.Errorf("same-origin re-check: status %d, want 200", s.status)
	}
}
