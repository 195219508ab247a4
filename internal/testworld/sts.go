package testworld

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// STSSpec publishes an MTA-STS policy (RFC 8461) for a scenario's domain:
// TXT records at _mta-sts.{z} and a policy host, mta-sts.{z}, with an A
// record at an address of the world's block where an HTTPS server serves
// /.well-known/mta-sts.txt on the world's HTTPS port, with a certificate
// from the world's CA (WebPKIRoots).
type STSSpec struct {
	// TXT holds the TXT records at _mta-sts.{z}, one string each; nil
	// means one, "v=STSv1; id=1".
	TXT []string
	// Policy is the policy file served ("{z}" replaced by the domain
	// without its trailing dot).
	Policy string
	// Serve says how the policy host answers.
	Serve STSServe
}

// STSServe selects how a policy host answers.
type STSServe int

const (
	// ServePolicy (the zero value): HTTP 200, text/plain, the policy.
	ServePolicy STSServe = iota
	// ServeRedirect: HTTP 301 to /elsewhere/mta-sts.txt on the same host,
	// which would serve the policy (RFC 8461 §3.3: not to be followed).
	ServeRedirect
	// ServeOversized: HTTP 200, text/plain, the policy padded with comment
	// lines past 64 KiB (RFC 8461 §3.3).
	ServeOversized
	// ServeUntrusted: the policy as ServePolicy, but the host's
	// certificate is self-signed: not valid under the WebPKI.
	ServeUntrusted
)

// stsPath is where a policy host serves the policy (RFC 8461 §3.2).
const stsPath = "/.well-known/mta-sts.txt"

// policyHost is one MTA-STS policy host and its HTTPS server.
type policyHost struct {
	domain   string // "sts-enforce.test"
	name     string // "mta-sts.sts-enforce.test"
	ln       net.Listener
	srv      *http.Server
	requests atomic.Int64
	stopOnce sync.Once
}

func (p *policyHost) handler(spec *STSSpec, body string) http.Handler {
	mux := http.NewServeMux()
	serve := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(body))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		switch {
		case r.URL.Path == "/elsewhere/mta-sts.txt":
			serve(w, r)
		case r.URL.Path != stsPath:
			http.NotFound(w, r)
		case spec.Serve == ServeRedirect:
			http.Redirect(w, r, "/elsewhere/mta-sts.txt", http.StatusMovedPermanently)
		default:
			serve(w, r)
		}
	})
	return mux
}

func (p *policyHost) stop() {
	p.stopOnce.Do(func() { _ = p.srv.Close() })
}

// oversized pads a policy with comment-like unknown keys past 64 KiB.
func oversized(policy string) string {
	var b strings.Builder
	b.WriteString(policy)
	for b.Len() <= 64<<10 {
		b.WriteString("x-padding: " + strings.Repeat("x", 100) + "\n")
	}
	return b.String()
}

// startPolicyHost serves a scenario's policy on ln.
func (w *World) startPolicyHost(spec *ScenarioSpec, ln net.Listener) (*policyHost, error) {
	domain := spec.Name + ".test"
	p := &policyHost{domain: domain, name: "mta-sts." + domain, ln: ln}
	var leaf CertKey
	var err error
	chain := []*x509.Certificate{}
	if spec.STS.Serve == ServeUntrusted {
		leaf, err = SelfSigned(w.now, []string{p.name}, Valid)
		chain = append(chain, leaf.Cert)
	} else {
		leaf, err = w.pki.Leaf([]string{p.name}, Valid)
		chain = append(chain, leaf.Cert, w.pki.Intermediate.Cert)
	}
	if err != nil {
		return nil, err
	}
	tc := tls.Certificate{PrivateKey: leaf.Key, Leaf: leaf.Cert}
	for _, c := range chain {
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	body := strings.ReplaceAll(spec.STS.Policy, "{z}", domain)
	if spec.STS.Serve == ServeOversized {
		body = oversized(body)
	}
	p.srv = &http.Server{
		Handler:           p.handler(spec.STS, body),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{tc}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 5 * time.Second,
		// daned refusing an untrusted certificate is a test passing, not
		// news for the test log.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	started := make(chan struct{})
	go func() {
		close(started)
		if err := p.srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			w.logf("testworld: policy host %s: %v", p.name, err)
		}
	}()
	<-started
	return p, nil
}

// fillSTS adds a scenario's _mta-sts TXT records and the policy host's
// address to its zone.
func (w *World) fillSTS(z *zone, spec *ScenarioSpec, p *plannedPolicyHost) {
	txt := spec.STS.TXT
	if txt == nil {
		txt = []string{"v=STSv1; id=1"}
	}
	owner := "_mta-sts." + z.origin
	for _, t := range txt {
		z.add(&dns.TXT{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: []string{t}})
	}
	z.add(&dns.A{Hdr: dns.RR_Header{Name: "mta-sts." + z.origin, Rrtype: dns.TypeA, Class: dns.ClassINET}, A: p.addr.AsSlice()})
}

// HTTPSPort is the port every MTA-STS policy host listens on; 0 when the
// world has none.
func (w *World) HTTPSPort() int { return w.httpsPort }

// WebPKIRoots returns a pool holding the world's root CA: the WebPKI of
// the MTA-STS scenarios, for their policy hosts and MX hosts.
func (w *World) WebPKIRoots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(w.pki.Root.Cert)
	return p
}

// STSRequests returns how many HTTP requests the policy host of domain
// ("sts-enforce.test") has answered, on any path.
func (w *World) STSRequests(domain string) int64 {
	if p := w.policyHosts[strings.TrimSuffix(strings.ToLower(domain), ".")]; p != nil {
		return p.requests.Load()
	}
	return 0
}

// StopPolicyHost stops the HTTPS server of domain's policy host for good:
// connections to it are refused from then on.
func (w *World) StopPolicyHost(domain string) {
	if p := w.policyHosts[strings.TrimSuffix(strings.ToLower(domain), ".")]; p != nil {
		p.stop()
	}
}

// BlockName makes the authority of name (fully qualified or not) answer
// SERVFAIL for qtype from now on, as an attacker on the path who drops
// those answers would. A validating resolver that has the answer cached
// keeps serving it: start another one to see the block.
func (w *World) BlockName(name string, qtype uint16) error {
	name = dns.CanonicalName(name)
	for i := len(w.zones) - 1; i >= 0; i-- {
		if z := w.zones[i]; dns.IsSubDomain(z.origin, name) {
			z.blocked.Store(rrKey{name, qtype}, true)
			return nil
		}
	}
	return fmt.Errorf("testworld: no zone holds %s", name)
}

// plannedPolicyHost is a policy host's address and listener before the
// world is served.
type plannedPolicyHost struct {
	spec *ScenarioSpec
	addr netip.Addr
	ln   net.Listener
}

// STSScenarios returns the opt-in MTA-STS scenarios (RFC 8461): unsigned
// domains, and signed domains without TLSA records, that publish a
// policy, their policy hosts on loopback, and MX hosts with certificates
// from the world's CA (WebPKIRoots). Pass them as Options.Scenarios (or
// Extra) with a daned whose MTA-STS fetcher trusts WebPKIRoots and uses
// HTTPSPort. Postfix's posttls-finger does no MTA-STS, so the conformance
// test leaves them out.
func STSScenarios() []ScenarioSpec {
	enforce := func(mx ...string) string {
		var b strings.Builder
		b.WriteString("version: STSv1\nmode: enforce\n")
		for _, m := range mx {
			b.WriteString("mx: " + m + "\n")
		}
		b.WriteString("max_age: 86400\n")
		return b.String()
	}
	good := enforce("mx.{z}")
	webpki := CertSpec{Issuer: CAIssued}
	return []ScenarioSpec{
		{Name: "sts-enforce", Unsigned: true, Description: "unsigned domain; MTA-STS enforce, mx: mx.{z}; the MX host presents a WebPKI-valid certificate", RFC: "RFC 8461 §4, §5", Expect: "deliver (MTA-STS enforce)",
			Hosts: []HostSpec{{Name: "mx", Cert: webpki}}, STS: &STSSpec{Policy: good}},
		{Name: "sts-signed", Description: "signed domain without TLSA (DNSSEC-proven absence of DANE); MTA-STS enforce; WebPKI-valid MX host", RFC: "RFC 8461 §2, §5", Expect: "deliver (MTA-STS enforce)",
			Hosts: []HostSpec{{Name: "mx", Cert: webpki}}, STS: &STSSpec{Policy: good}},
		{Name: "sts-wildcard", Unsigned: true, Description: "MTA-STS enforce, mx: *.{z}; MX 10 deep.mx.{z} (two labels: no match), MX 20 mx.{z} (matches)", RFC: "RFC 8461 §4.1", Expect: "deliver via mx; deep.mx not in the policy",
			MX:    []string{"10 deep.mx.{z}", "20 mx.{z}"},
			Hosts: []HostSpec{{Name: "deep.mx", Cert: webpki}, {Name: "mx", Cert: webpki}}, STS: &STSSpec{Policy: enforce("*.{z}")}},
		{Name: "sts-not-in-policy", Unsigned: true, Description: "MTA-STS enforce, mx: mail.{z}; the only MX host is mx.{z}", RFC: "RFC 8461 §4.1, §5", Expect: "defer: mx-not-in-policy (4.7.5)",
			Hosts: []HostSpec{{Name: "mx", Cert: webpki}}, STS: &STSSpec{Policy: enforce("mail.{z}")}},
		{Name: "sts-untrusted", Unsigned: true, Description: "MTA-STS enforce; the MX host's certificate is self-signed", RFC: "RFC 8461 §4.2", Expect: "defer: certificate-not-trusted (4.7.5)",
			Hosts: []HostSpec{{Name: "mx"}}, STS: &STSSpec{Policy: good}},
		{Name: "sts-badname", Unsigned: true, Description: "MTA-STS enforce; the MX host's WebPKI certificate names only other.example", RFC: "RFC 8461 §4.2", Expect: "defer: certificate-host-mismatch (4.7.5)",
			Hosts: []HostSpec{{Name: "mx", Cert: CertSpec{Issuer: CAIssued, SANs: []string{"other.example"}}}}, STS: &STSSpec{Policy: good}},
		{Name: "sts-expired", Unsigned: true, Description: "MTA-STS enforce; the MX host's WebPKI certificate expired", RFC: "RFC 8461 §4.2", Expect: "defer: certificate-expired (4.7.5)",
			Hosts: []HostSpec{{Name: "mx", Cert: CertSpec{Issuer: CAIssued, Validity: Expired}}}, STS: &STSSpec{Policy: good}},
		{Name: "sts-nostarttls", Unsigned: true, Description: "MTA-STS enforce; the MX host does not offer STARTTLS", RFC: "RFC 8461 §5", Expect: "defer: starttls-not-supported (4.7.321)",
			Hosts: []HostSpec{{Name: "mx", Mode: NoSTARTTLS, Cert: webpki}}, STS: &STSSpec{Policy: good}},
		{Name: "sts-testing", Unsigned: true, Description: "MTA-STS testing; the MX host's certificate is self-signed", RFC: "RFC 8461 §5", Expect: "deliver; certificate-not-trusted recorded for a report",
			Hosts: []HostSpec{{Name: "mx"}}, STS: &STSSpec{Policy: strings.Replace(good, "enforce", "testing", 1)}},
		{Name: "sts-none", Unsigned: true, Description: "MTA-STS mode none; the MX host's certificate is self-signed", RFC: "RFC 8461 §5", Expect: "opportunistic TLS (mode none is no policy)",
			Hosts: []HostSpec{{Name: "mx"}}, STS: &STSSpec{Policy: "version: STSv1\nmode: none\nmax_age: 86400\n"}},
		{Name: "sts-redirect", Unsigned: true, Description: "the policy host answers 301 to another path that would serve the policy", RFC: "RFC 8461 §3.3", Expect: "opportunistic TLS; sts-policy-fetch-error (the redirect is not followed)",
			Hosts: []HostSpec{{Name: "mx"}}, STS: &STSSpec{Policy: good, Serve: ServeRedirect}},
		{Name: "sts-oversized", Unsigned: true, Description: "the policy body is larger than 64 KiB", RFC: "RFC 8461 §3.3", Expect: "opportunistic TLS; sts-policy-fetch-error",
			Hosts: []HostSpec{{Name: "mx"}}, STS: &STSSpec{Policy: good, Serve: ServeOversized}},
		{Name: "sts-two-records", Unsigned: true, Description: "two v=STSv1 TXT records at _mta-sts.{z}", RFC: "RFC 8461 §3.1", Expect: "no policy (no HTTPS request); opportunistic TLS",
			Hosts: []HostSpec{{Name: "mx"}}, STS: &STSSpec{Policy: good, TXT: []string{"v=STSv1; id=1", "v=STSv1; id=2"}}},
		{Name: "sts-invalid", Unsigned: true, Description: "the policy has no mx line in mode enforce", RFC: "RFC 8461 §3.2", Expect: "opportunistic TLS; sts-policy-invalid",
			Hosts: []HostSpec{{Name: "mx"}}, STS: &STSSpec{Policy: "version: STSv1\nmode: enforce\nmax_age: 86400\n"}},
		{Name: "sts-webpki", Unsigned: true, Description: "the policy host's certificate is self-signed", RFC: "RFC 8461 §3.3", Expect: "opportunistic TLS; sts-webpki-invalid",
			Hosts: []HostSpec{{Name: "mx"}}, STS: &STSSpec{Policy: good, Serve: ServeUntrusted}},
		{Name: "sts-txt-bogus", Description: "signed domain without TLSA; its _mta-sts TXT RRset is served without RRSIGs (bogus)", RFC: "RFC 8461 §3.1, RFC 7672 §2.1.1", Expect: "opportunistic TLS; sts-policy-fetch-error (discovery failed; no HTTPS request)",
			Hosts:      []HostSpec{{Name: "mx", Cert: webpki}},
			STS:        &STSSpec{Policy: good},
			NameFaults: []NameFault{{Name: "_mta-sts", Type: dns.TypeTXT, Kind: NoSig}}},
		{Name: "sts-dane-wins", Description: "signed domain with a matching DANE-EE 3 1 1 and an MTA-STS enforce policy that names another host", RFC: "RFC 8461 §2, RFC 7672", Expect: "deliver (DANE decides; MTA-STS not consulted, no HTTPS request)",
			Hosts: []HostSpec{{Name: "mx", TLSA: []TLSASpec{eeSPKI}}}, STS: &STSSpec{Policy: enforce("elsewhere.example")}},
		{Name: "sts-dane-fail", Description: "signed domain whose TLSA record matches nothing; the MX host's certificate is WebPKI-valid and named by an MTA-STS enforce policy", RFC: "RFC 8461 §2", Expect: "defer: tlsa-invalid (4.7.323): a DANE failure is never rescued by MTA-STS",
			Hosts: []HostSpec{{Name: "mx", Cert: webpki, TLSA: []TLSASpec{mismatch}}}, STS: &STSSpec{Policy: good}},
		{Name: "sts-bogus", Fault: ExpiredSigs, Description: "every RRSIG of the zone expired; the domain also publishes an MTA-STS enforce policy", RFC: "RFC 7672 §2.1.1, RFC 8461 §2", Expect: "defer: dnssec-invalid (4.7.324); MTA-STS not consulted",
			Hosts: []HostSpec{{Name: "mx", Cert: webpki}}, STS: &STSSpec{Policy: good}},
		{Name: "sts-downgrade", Unsigned: true, Description: "MTA-STS enforce on a WebPKI-valid MX host; tests then stop the policy host and block the TXT record", RFC: "RFC 8461 §5.1, §10.2", Expect: "deliver (MTA-STS enforce), from the cached policy once discovery fails",
			Hosts: []HostSpec{{Name: "mx", Cert: webpki}}, STS: &STSSpec{Policy: good}},
	}
}
