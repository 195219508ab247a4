package engine_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/internal/testcert"
	"github.com/daned/daned/probe"
	"github.com/daned/daned/resolver"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// fakeDNS answers from a table and records the queries made.
type fakeDNS struct {
	mu      sync.Mutex
	answers map[string]any // "name./TYPE" → *resolver.Answer or error
	asked   []string
}

func (f *fakeDNS) Lookup(_ context.Context, name string, qtype uint16) (*resolver.Answer, error) {
	key := dns.Fqdn(strings.ToLower(name)) + "/" + dns.TypeToString[qtype]
	f.mu.Lock()
	f.asked = append(f.asked, key)
	v, ok := f.answers[key]
	f.mu.Unlock()
	if !ok {
		// Unlisted names are securely denied, as in a signed zone.
		return &resolver.Answer{Name: dns.Fqdn(name), Type: qtype, Security: resolver.Secure, TTL: 300}, nil
	}
	if err, ok := v.(error); ok {
		return nil, err
	}
	return v.(*resolver.Answer), nil
}

func (f *fakeDNS) queried(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.asked, key)
}

// fakeProber returns a canned result per address and counts probes.
type fakeProber struct {
	mu      sync.Mutex
	results map[netip.Addr]*probe.Result
	sni     map[netip.Addr]string
	calls   int
}

func (f *fakeProber) Probe(_ context.Context, addr netip.Addr, sni string) *probe.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.sni == nil {
		f.sni = map[netip.Addr]string{}
	}
	f.sni[addr] = sni
	if r, ok := f.results[addr]; ok {
		return r
	}
	return &probe.Result{Err: fmt.Errorf("%w: no server", probe.ErrConnect)}
}

func rr(t *testing.T, s string) dns.RR {
	t.Helper()
	r, err := dns.NewRR(s)
	if err != nil {
		t.Fatalf("NewRR(%q): %v", s, err)
	}
	return r
}

func secure(t *testing.T, name string, qtype uint16, ttl uint32, rrs ...string) *resolver.Answer {
	t.Helper()
	a := &resolver.Answer{Name: dns.Fqdn(name), Type: qtype, Security: resolver.Secure, TTL: ttl}
	for _, s := range rrs {
		a.Records = append(a.Records, rr(t, s))
	}
	return a
}

func insecure(t *testing.T, name string, qtype uint16, ttl uint32, rrs ...string) *resolver.Answer {
	a := secure(t, name, qtype, ttl, rrs...)
	a.Security = resolver.Insecure
	return a
}

// selfSigned is a certificate for mx.example.com, valid from a day before
// now until notAfter.
func selfSigned(t *testing.T, notAfter time.Time) *x509.Certificate {
	t.Helper()
	return testcert.New(t, testcert.Spec{CommonName: "mx.example.com", NotBefore: now.Add(-24 * time.Hour), NotAfter: notAfter}).Cert
}

func spki311(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return "3 1 1 " + hex.EncodeToString(sum[:])
}

func tlsOK(c *x509.Certificate) *probe.Result {
	return &probe.Result{STARTTLSOffered: true, TLS: true, TLSVersion: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256,
		Chain: []*x509.Certificate{c}, Reached: probe.StageDone}
}

var (
	ip1 = netip.MustParseAddr("192.0.2.1")
	ip2 = netip.MustParseAddr("192.0.2.2")
	ip6 = netip.MustParseAddr("2001:db8::1")
)

func newEngine(t *testing.T, d *fakeDNS, p *fakeProber, mod func(*engine.Config)) *engine.Engine {
	t.Helper()
	cfg := engine.Config{
		Resolver: d,
		Prober:   p,
		Targets:  probe.TargetPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/32")}},
		Now:      func() time.Time { return now },
	}
	if mod != nil {
		mod(&cfg)
	}
	e, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestValidate(t *testing.T) {
	good := selfSigned(t, now.Add(365*24*time.Hour))
	expired := selfSigned(t, now.Add(-time.Hour))
	other := selfSigned(t, now.Add(365*24*time.Hour))
	tlsa := func(name string, c *x509.Certificate, ttl uint32) *resolver.Answer {
		return secure(t, "_25._tcp."+name, dns.TypeTLSA, ttl, "_25._tcp."+name+". 300 IN TLSA "+spki311(c))
	}
	mx := func(targets ...string) *resolver.Answer {
		var rrs []string
		for i, tg := range targets {
			rrs = append(rrs, fmt.Sprintf("example.com. 3600 IN MX %d %s.", (i+1)*10, tg))
		}
		return secure(t, "example.com", dns.TypeMX, 3600, rrs...)
	}
	a := func(name string, ip netip.Addr) *resolver.Answer {
		return secure(t, name, dns.TypeA, 600, fmt.Sprintf("%s. 600 IN A %s", name, ip))
	}
	servfail := &resolver.QueryError{Kind: resolver.ErrServFail, Rcode: dns.RcodeServerFailure}
	bogus := &resolver.QueryError{Kind: resolver.ErrBogus, Security: resolver.Bogus, Rcode: dns.RcodeServerFailure}
	timeout := &resolver.QueryError{Kind: resolver.ErrTimeout, Rcode: -1}

	tests := []struct {
		name       string
		dns        map[string]any
		probes     map[netip.Addr]*probe.Result
		opts       engine.Options
		mod        func(*engine.Config)
		wantAction dane.Action
		wantPolicy dane.Policy
		wantReason dane.Reason
		wantCode   string
		check      func(t *testing.T, r *engine.Result, d *fakeDNS, p *fakeProber)
	}{
		{
			name: "DANE-EE authenticates",
			dns: map[string]any{
				"example.com./MX":               mx("mx.example.com"),
				"mx.example.com./A":             a("mx.example.com", ip1),
				"_25._tcp.mx.example.com./TLSA": tlsa("mx.example.com", good, 300),
			},
			probes:     map[netip.Addr]*probe.Result{ip1: tlsOK(good)},
			wantAction: dane.ActionDeliver, wantPolicy: dane.PolicyDANERequired, wantReason: dane.ReasonOK,
			check: func(t *testing.T, r *engine.Result, d *fakeDNS, p *fakeProber) {
				h := r.Hosts[0]
				if !h.Addresses[0].Authenticated || h.Addresses[0].Matched != 0 {
					t.Errorf("address not authenticated by record 0: %+v", h.Addresses[0])
				}
				if p.sni[ip1] != "mx.example.com" {
					t.Errorf("SNI %q, want the TLSA base domain", p.sni[ip1])
				}
				if r.TTL != 300*time.Second {
					t.Errorf("TTL %v, want the smallest record TTL 300s", r.TTL)
				}
				if !d.queried("mx.example.com./AAAA") {
					t.Error("AAAA not looked up")
				}
			},
		},
		{
			name: "DANE-EE ignores an expired leaf but notes it",
			dns: map[string]any{
				"example.com./MX":               mx("mx.example.com"),
				"mx.example.com./A":             a("mx.example.com", ip1),
				"_25._tcp.mx.example.com./TLSA": tlsa("mx.example.com", expired, 300),
			},
			probes:     map[netip.Addr]*probe.Result{ip1: tlsOK(expired)},
			wantAction: dane.ActionDeliver, wantPolicy: dane.PolicyDANERequired, wantReason: dane.ReasonOK,
			check: func(t *testing.T, r *engine.Result, _ *fakeDNS, _ *fakeProber) {
				if d := r.Hosts[0].Addresses[0].Detail; !strings.Contains(d, "expired") || !strings.Contains(d, "7672 §3.1.1") {
					t.Errorf("detail %q does not note the expiry", d)
				}
			},
		},
		{
			name: "TLSA mismatch defers with 4.7.323",
			dns: map[string]any{
				"example.com./MX":               mx("mx.example.com"),
				"mx.example.com./A":             a("mx.example.com", ip1),
				"_25._tcp.mx.example.com./TLSA": tlsa("mx.example.com", other, 300),
			},
			probes:     map[netip.Addr]*probe.Result{ip1: tlsOK(good)},
			wantAction: dane.ActionDefer, wantPolicy: dane.PolicyDANERequired, wantReason: dane.ReasonTLSANoMatch, wantCode: "4.7.323",
			check: func(t *testing.T, r *engine.Result, _ *fakeDNS, _ *fakeProber) {
				if !strings.Contains(r.Verdict.Text, "mx.example.com [192.0.2.1]") {
					t.Errorf("status text %q does not name host and address", r.Verdict.Text)
				}
				if r.TTL > 30*time.Second {
					t.Errorf("failure verdict TTL %v exceeds the failure TTL", r.TTL)
				}
			},
		},
		{
			name: "no STARTTLS on a DANE host defers with 4.7.321",
			dns: map[string]any{
				"example.com./MX":               mx("mx.example.com"),
				"mx.example.com./A":             a("mx.example.com", ip1),
				"_25._tcp.mx.example.com./TLSA": tlsa("mx.example.com", good, 300),
			},
			probes:     map[netip.Addr]*probe.Result{ip1: {Err: fmt.Errorf("%w", probe.ErrNoSTARTTLS), Reached: probe.StageEHLO}},
			wantAction: dane.ActionDefer, wantPolicy: dane.PolicyDANERequired, wantReason: dane.ReasonSTARTTLSNotOffered, wantCode: "4.7.321",
		},
		{
			name: "no STARTTLS without DANE delivers in cleartext",
			dns: map[string]any{
				"example.com./MX":   mx("mx.example.com"),
				"mx.example.com./A": a("mx.example.com", ip1),
			},
			probes:     map[netip.Addr]*probe.Result{ip1: {Err: fmt.Errorf("%w", probe.ErrNoSTARTTLS), Reached: probe.StageEHLO}},
			wantAction: dane.ActionDeliver, wantPolicy: dane.PolicyOpportunistic, wantReason: dane.ReasonOK,
		},
		{
			name: "usage 1 only: TLS required, no authentication",
			dns: map[string]any{
				"example.com./MX":   mx("mx.example.com"),
				"mx.example.com./A": a("mx.example.com", ip1),
				"_25._tcp.mx.example.com./TLSA": secure(t, "_25._tcp.mx.example.com", dns.TypeTLSA, 300,
					"_25._tcp.mx.example.com. 300 IN TLSA 1 1 1 "+strings.Repeat("ab", 32)),
			},
			probes:     map[netip.Addr]*probe.Result{ip1: tlsOK(good)},
			wantAction: dane.ActionDeliver, wantPolicy: dane.PolicyTLSRequired, wantReason: dane.ReasonOK,
		},
		{
			name: "first host fails, second authenticates",
			dns: map[string]any{
				"example.com./MX":                mx("mx1.example.com", "mx2.example.com"),
				"mx1.example.com./A":             a("mx1.example.com", ip1),
				"mx2.example.com./A":             a("mx2.example.com", ip2),
				"_25._tcp.mx1.example.com./TLSA": tlsa("mx1.example.com", other, 300),
				"_25._tcp.mx2.example.com./TLSA": tlsa("mx2.example.com", good, 300),
			},
			probes:     map[netip.Addr]*probe.Result{ip1: tlsOK(good), ip2: tlsOK(good)},
			wantAction: dane.ActionDeliver, wantPolicy: dane.PolicyDANERequired, wantReason: dane.ReasonOK,
			check: func(t *testing.T, r *engine.Result, _ *fakeDNS, _ *fakeProber) {
				if r.Hosts[0].Usable || r.Hosts[0].Reason != dane.ReasonTLSANoMatch || !r.Hosts[1].Usable {
					t.Errorf("hosts: %+v / %+v", r.Hosts[0], r.Hosts[1])
				}
			},
		},
		{
			name: "TLSA SERVFAIL makes the host unusable, the other serves",
			dns: map[string]any{
				"example.com./MX":                mx("mx1.example.com", "mx2.example.com"),
				"mx1.example.com./A":             a("mx1.example.com", ip1),
				"mx2.example.com./A":             a("mx2.example.com", ip2),
				"_25._tcp.mx1.example.com./TLSA": servfail,
				"_25._tcp.mx2.example.com./TLSA": tlsa("mx2.example.com", good, 300),
			},
			probes:     map[netip.Addr]*probe.Result{ip1: tlsOK(good), ip2: tlsOK(good)},
			wantAction: dane.ActionDeliver, wantPolicy: dane.PolicyDANERequired, wantReason: dane.ReasonOK,
			check: func(t *testing.T, r *engine.Result, _ *fakeDNS, p *fakeProber) {
				if r.Hosts[0].Reason != dane.ReasonTLSALookupFailed || r.Hosts[0].Usable {
					t.Errorf("mx1: %+v", r.Hosts[0])
				}
				if _, probed := p.sni[ip1]; probed {
					t.Error("a host whose TLSA lookup failed was probed")
				}
			},
		},
		{
			name: "TLSA SERVFAIL on the only host defers with 4.7.324",
			dns: map[string]any{
				"example.com./MX":               mx("mx.example.com"),
				"mx.example.com./A":             a("mx.example.com", ip1),
				"_25._tcp.mx.example.com./TLSA": servfail,
			},
			wantAction: dane.ActionDefer, wantReason: dane.ReasonTLSALookupFailed, wantCode: "4.7.324",
		},
		{
			name:       "bogus MX defers with 4.7.324",
			dns:        map[string]any{"example.com./MX": bogus},
			wantAction: dane.ActionDefer, wantReason: dane.ReasonDNSSECBogus, wantCode: "4.7.324",
			check: func(t *testing.T, r *engine.Result, _ *fakeDNS, _ *fakeProber) {
				if r.MXState != engine.DNSBogus {
					t.Errorf("MX state %v", r.MXState)
				}
			},
		},
		{
			name:       "MX timeout defers with 4.4.312",
			dns:        map[string]any{"example.com./MX": timeout},
			wantAction: dane.ActionDefer, wantReason: dane.ReasonTimeout, wantCode: "4.4.312",
		},
		{
			name:       "NXDOMAIN rejects with 5.1.2",
			dns:        map[string]any{"example.com./MX": &resolver.Answer{Rcode: dns.RcodeNameError, Security: resolver.Secure, TTL: 60}},
			wantAction: dane.ActionReject, wantPolicy: dane.PolicyNoMail, wantReason: dane.ReasonNXDomain, wantCode: "5.1.2",
		},
		{
			name:       "null MX rejects with 5.1.10",
			dns:        map[string]any{"example.com./MX": secure(t, "example.com", dns.TypeMX, 300, "example.com. 300 IN MX 0 .")},
			wantAction: dane.ActionReject, wantPolicy: dane.PolicyNoMail, wantReason: dane.ReasonNullMX, wantCode: "5.1.10",
		},
		{
			name: "no MX: the domain is its own host",
			dns: map[string]any{
				"example.com./A":             a("example.com", ip1),
				"_25._tcp.example.com./TLSA": tlsa("example.com", good, 300),
			},
			probes:     map[netip.Addr]*probe.Result{ip1: tlsOK(good)},
			wantAction: dane.ActionDeliver, wantPolicy: dane.PolicyDANERequired, wantReason: dane.ReasonOK,
			check: func(t *testing.T, r *engine.Result, _ *fakeDNS, _ *fakeProber) {
				if !r.ImplicitMX || len(r.Hosts) != 1 || r.Hosts[0].Name != "example.com" {
					t.Errorf("implicit MX not used: %+v", r.Hosts)
				}
			},
		},
		{
			name: "insecure addresses: no TLSA lookup",
			dns: map[string]any{
				"example.com./MX":      mx("mx.example.net"),
				"mx.example.net./A":    insecure(t, "mx.example.net", dns.TypeA, 600, "mx.example.net. 600 IN A 192.0.2.1"),
				"mx.example.net./AAAA": insecure(t, "mx.example.net", dns.TypeAAAA, 600),
			},
			probes:     map[netip.Addr]*probe.Result{ip1: tlsOK(good)},
			wantAction: dane.ActionDeliver, wantPolicy: dane.PolicyOpportunistic, wantReason: dane.ReasonOK,
			check: func(t *testing.T, r *engine.Result, d *fakeDNS, _ *fakeProber) {
				if d.queried("_25._tcp.mx.example.net./TLSA") {
					t.Error("TLSA looked up for a host with insecure addresses (RFC 7672 §2.2.2)")
				}
			},
		},
		{
			name: "secure CNAME: TLSA at the expanded name first, then the original",
			dns: map[string]any{
				"example.com./MX": mx("mx.example.com"),
				"mx.example.com./A": func() *resolver.Answer {
					a := secure(t, "mx.example.com", dns.TypeA, 600, "mail.hoster.net. 600 IN A 192.0.2.1")
					a.Chain = []string{"mail.hoster.net."}
					return a
				}(),
				"_25._tcp.mx.example.com./TLSA": tlsa("mx.example.com", good, 300),
			},
			probes:     map[netip.Addr]*probe.Result{ip1: tlsOK(good)},
			wantAction: dane.ActionDeliver, wantPolicy: dane.PolicyDANERequired, wantReason: dane.ReasonOK,
			check: func(t *testing.T, r *engine.Result, d *fakeDNS, p *fakeProber) {
				if !d.queried("_25._tcp.mail.hoster.net./TLSA") {
					t.Error("expanded name not tried first")
				}
				if h := r.Hosts[0]; h.TLSABase != "mx.example.com" || p.sni[ip1] != "mx.example.com" {
					t.Errorf("base %q, SNI %q: want the original name that produced the RRset", h.TLSABase, p.sni[ip1])
				}
			},
		},
		{
			name: "insecure MX with policy may: no DANE",
			dns: map[string]any{
				"example.com./MX":               insecure(t, "example.com", dns.TypeMX, 300, "example.com. 300 IN MX 10 mx.example.com."),
				"mx.example.com./A":             a("mx.example.com", ip1),
				"_25._tcp.mx.example.com./TLSA": tlsa("mx.example.com", other, 300),
			},
			probes:     map[netip.Addr]*probe.Result{ip1: tlsOK(good)},
			mod:        func(c *engine.Config) { c.InsecureMX = engine.InsecureMXMay },
			wantAction: dane.ActionDeliver, wantPolicy: dane.PolicyOpportunistic, wantReason: dane.ReasonOK,
			check: func(t *testing.T, r *engine.Result, d *fakeDNS, _ *fakeProber) {
				if d.queried("_25._tcp.mx.example.com./TLSA") {
					t.Error("TLSA looked up under insecure MX policy may")
				}
			},
		},
		{
			name: "insecure MX with policy dane: the host's TLSA binds, the domain is not DANE",
			dns: map[string]any{
				"example.com./MX":               insecure(t, "example.com", dns.TypeMX, 300, "example.com. 300 IN MX 10 mx.example.com."),
				"mx.example.com./A":             a("mx.example.com", ip1),
				"_25._tcp.mx.example.com./TLSA": tlsa("mx.example.com", other, 300),
			},
			probes:     map[netip.Addr]*probe.Result{ip1: tlsOK(good)},
			wantAction: dane.ActionDefer, wantPolicy: dane.PolicyOpportunistic, wantReason: dane.ReasonTLSANoMatch, wantCode: "4.7.323",
		},
		{
			name: "address lookup failure skips the host",
			dns: map[string]any{
				"example.com./MX":                mx("mx1.example.com", "mx2.example.com"),
				"mx1.example.com./A":             servfail,
				"mx2.example.com./A":             a("mx2.example.com", ip2),
				"_25._tcp.mx2.example.com./TLSA": tlsa("mx2.example.com", good, 300),
			},
			probes:     map[netip.Addr]*probe.Result{ip2: tlsOK(good)},
			wantAction: dane.ActionDeliver, wantPolicy: dane.PolicyDANERequired, wantReason: dane.ReasonOK,
			check: func(t *testing.T, r *engine.Result, _ *fakeDNS, _ *fakeProber) {
				if r.Hosts[0].Reason != dane.ReasonDNSQueryFailed || r.Hosts[0].AddressState != engine.DNSFailed {
					t.Errorf("mx1: %+v", r.Hosts[0])
				}
			},
		},
		{
			name: "host without addresses",
			dns: map[string]any{
				"example.com./MX": mx("mx.example.com"),
			},
			wantAction: dane.ActionDefer, wantPolicy: dane.PolicyUnspecified, wantReason: dane.ReasonNoAddresses, wantCode: "4.4.4",
		},
		{
			name: "forbidden target is not probed",
			dns: map[string]any{
				"example.com./MX":               mx("mx.example.com"),
				"mx.example.com./A":             secure(t, "mx.example.com", dns.TypeA, 600, "mx.example.com. 600 IN A 10.0.0.1"),
				"_25._tcp.mx.example.com./TLSA": tlsa("mx.example.com", good, 300),
			},
			wantAction: dane.ActionDefer, wantPolicy: dane.PolicyDANERequired, wantReason: dane.ReasonTargetForbidden, wantCode: "4.4.4",
			check: func(t *testing.T, r *engine.Result, _ *fakeDNS, p *fakeProber) {
				if p.calls != 0 {
					t.Errorf("%d probes made to a forbidden address", p.calls)
				}
			},
		},
		{
			name: "one address refuses, the other authenticates",
			dns: map[string]any{
				"example.com./MX":               mx("mx.example.com"),
				"mx.example.com./A":             a("mx.example.com", ip1),
				"mx.example.com./AAAA":          secure(t, "mx.example.com", dns.TypeAAAA, 600, "mx.example.com. 600 IN AAAA 2001:db8::1"),
				"_25._tcp.mx.example.com./TLSA": tlsa("mx.example.com", good, 300),
			},
			probes:     map[netip.Addr]*probe.Result{ip6: tlsOK(good)},
			wantAction: dane.ActionDeliver, wantPolicy: dane.PolicyDANERequired, wantReason: dane.ReasonOK,
			check: func(t *testing.T, r *engine.Result, _ *fakeDNS, _ *fakeProber) {
				if n := len(r.Hosts[0].Addresses); n != 2 {
					t.Fatalf("%d addresses, want 2", n)
				}
				for _, a := range r.Hosts[0].Addresses {
					want := dane.ReasonOK
					if a.IP == ip1 {
						want = dane.ReasonConnectFailed
					}
					if a.Reason != want {
						t.Errorf("%s: %v, want %v", a.IP, a.Reason, want)
					}
				}
			},
		},
		{
			name: "policy only: no probes",
			dns: map[string]any{
				"example.com./MX":               mx("mx.example.com"),
				"mx.example.com./A":             a("mx.example.com", ip1),
				"_25._tcp.mx.example.com./TLSA": tlsa("mx.example.com", good, 300),
			},
			opts:       engine.Options{PolicyOnly: true},
			wantAction: dane.ActionDeliver, wantPolicy: dane.PolicyDANERequired, wantReason: dane.ReasonOK,
			check: func(t *testing.T, r *engine.Result, _ *fakeDNS, p *fakeProber) {
				if p.calls != 0 {
					t.Errorf("%d probes made for a policy-only request", p.calls)
				}
				if r.Hosts[0].Addresses[0].Reason != dane.ReasonNotProbed || len(r.Hosts[0].TLSA) != 1 {
					t.Errorf("host: %+v", r.Hosts[0])
				}
			},
		},
		{
			name: "MX hosts past the limit are not considered",
			dns: map[string]any{
				"example.com./MX":    mx("mx1.example.com", "mx2.example.com"),
				"mx1.example.com./A": a("mx1.example.com", ip1),
			},
			probes:     map[netip.Addr]*probe.Result{ip1: tlsOK(good)},
			mod:        func(c *engine.Config) { c.MaxMXHosts = 1 },
			wantAction: dane.ActionDeliver, wantPolicy: dane.PolicyOpportunistic, wantReason: dane.ReasonOK,
			check: func(t *testing.T, r *engine.Result, d *fakeDNS, _ *fakeProber) {
				if r.Hosts[1].Reason != dane.ReasonNotConsidered || d.queried("mx2.example.com./A") {
					t.Errorf("mx2 was considered: %+v", r.Hosts[1])
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &fakeDNS{answers: tt.dns}
			p := &fakeProber{results: tt.probes}
			e := newEngine(t, d, p, tt.mod)
			r, err := e.Validate(context.Background(), "Example.COM.", tt.opts)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			v := r.Verdict
			if v.Action != tt.wantAction || v.Policy != tt.wantPolicy || v.Reason != tt.wantReason || v.Status.Code != tt.wantCode {
				t.Fatalf("verdict %v/%v/%v %q (%s), want %v/%v/%v %q", v.Action, v.Policy, v.Reason, v.Status.Code, v.Text,
					tt.wantAction, tt.wantPolicy, tt.wantReason, tt.wantCode)
			}
			if r.Domain != "example.com" || !r.CheckedAt.Equal(now) {
				t.Errorf("domain %q checked %v", r.Domain, r.CheckedAt)
			}
			if tt.check != nil {
				tt.check(t, r, d, p)
			}
		})
	}
}

// A verdict that rests on probes is reused no longer than a probe is,
// even when its DNS records live for hours; a policy-only verdict rests
// on DNS alone.
func TestProbeTTLCapsVerdict(t *testing.T) {
	good := selfSigned(t, now.Add(365*24*time.Hour))
	d := &fakeDNS{answers: map[string]any{
		"example.com./MX":      secure(t, "example.com", dns.TypeMX, 86400, "example.com. 86400 IN MX 10 mx.example.com."),
		"mx.example.com./A":    secure(t, "mx.example.com", dns.TypeA, 86400, "mx.example.com. 86400 IN A 192.0.2.1"),
		"mx.example.com./AAAA": secure(t, "mx.example.com", dns.TypeAAAA, 86400),
		"_25._tcp.mx.example.com./TLSA": secure(t, "_25._tcp.mx.example.com", dns.TypeTLSA, 86400,
			"_25._tcp.mx.example.com. 86400 IN TLSA "+spki311(good)),
	}}
	p := &fakeProber{results: map[netip.Addr]*probe.Result{ip1: tlsOK(good)}}
	e := newEngine(t, d, p, func(c *engine.Config) { c.ProbeTTL = 10 * time.Minute })
	for _, tt := range []struct {
		policyOnly bool
		want       time.Duration
	}{{false, 10 * time.Minute}, {true, 24 * time.Hour}} {
		r, err := e.Validate(context.Background(), "example.com", engine.Options{PolicyOnly: tt.policyOnly})
		if err != nil || r.Verdict.Action != dane.ActionDeliver {
			t.Fatalf("%v %v", r, err)
		}
		if r.TTL != tt.want {
			t.Errorf("policy-only=%v: TTL %v, want %v", tt.policyOnly, r.TTL, tt.want)
		}
	}
}

func TestValidateRejectsBadInput(t *testing.T) {
	e := newEngine(t, &fakeDNS{}, &fakeProber{}, nil)
	for _, in := range []string{"", "192.0.2.1", "*.example.com", "a b"} {
		if _, err := e.Validate(context.Background(), in, engine.Options{}); err == nil {
			t.Errorf("Validate(%q) succeeded", in)
		}
	}
}

// A caller whose deadline has passed gets the context error, not a
// made-up verdict.
func TestValidateCallerDeadline(t *testing.T) {
	e := newEngine(t, &fakeDNS{answers: map[string]any{"example.com./MX": &resolver.QueryError{Kind: resolver.ErrTimeout, Err: context.DeadlineExceeded}}}, &fakeProber{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.Validate(ctx, "example.com", engine.Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
