package engine_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/internal/testca"
	"github.com/daned/daned/mtasts"
	"github.com/daned/daned/probe"
	"github.com/daned/daned/resolver"
)

// fakeSTS is a policy source with a canned answer that counts the calls.
type fakeSTS struct {
	res   mtasts.PolicyResult
	calls atomic.Int32
}

func (f *fakeSTS) Policy(_ context.Context, domain string) mtasts.PolicyResult {
	f.calls.Add(1)
	r := f.res
	r.Domain = domain
	return r
}

func stsPolicy(mode mtasts.Mode, patterns ...string) mtasts.PolicyResult {
	return mtasts.PolicyResult{RecordID: "20260601", Policy: mtasts.Policy{Mode: mode, MX: patterns, MaxAge: 86400 * time.Second},
		FetchedAt: now.Add(-time.Hour), Expires: now.Add(23 * time.Hour)}
}

// TestMTASTS covers the precedence of DANE over MTA-STS in the engine
// (RFC 8461 §2) and the application of a policy to the hosts (§4, §5):
// every verdict is checked for its action, host policy, reason and source.
func TestMTASTS(t *testing.T) {
	ca := testca.New(t, "test WebPKI root", now)
	inter := ca.Intermediate(t, "test WebPKI intermediate", now.AddDate(-1, 0, 0), now.AddDate(1, 0, 0))
	leaf := func(names ...string) []*x509.Certificate {
		chain, _ := inter.Issue(t, testca.Leaf{DNSNames: names, NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(0, 3, 0)})
		return chain
	}
	expiredLeaf, _ := inter.Issue(t, testca.Leaf{DNSNames: []string{"mx1.example.com"}, NotBefore: now.AddDate(0, -3, 0), NotAfter: now.Add(-time.Hour)})
	webpki := func(chain []*x509.Certificate) *probe.Result {
		r := tlsOK(chain[0])
		r.Chain = chain
		return r
	}
	selfSignedCert := selfSigned(t, now.Add(365*24*time.Hour))
	noSTARTTLS := &probe.Result{Err: fmt.Errorf("%w: not in EHLO", probe.ErrNoSTARTTLS), Reached: probe.StageEHLO}

	unsignedMX := func(targets ...string) *resolver.Answer {
		var rrs []string
		for i, tg := range targets {
			rrs = append(rrs, fmt.Sprintf("example.com. 3600 IN MX %d %s.", (i+1)*10, tg))
		}
		return insecure(t, "example.com", dns.TypeMX, 3600, rrs...)
	}
	unsignedA := func(name string, ip netip.Addr) *resolver.Answer {
		return insecure(t, name, dns.TypeA, 600, fmt.Sprintf("%s. 600 IN A %s", name, ip))
	}
	unsigned := func(hosts ...string) map[string]any {
		m := map[string]any{"example.com./MX": unsignedMX(hosts...)}
		for i, h := range hosts {
			m[h+"./A"] = unsignedA(h, []netip.Addr{ip1, ip2}[i])
			m[h+"./AAAA"] = insecure(t, h, dns.TypeAAAA, 600)
		}
		return m
	}
	signedNoTLSA := map[string]any{
		"example.com./MX":    secure(t, "example.com", dns.TypeMX, 3600, "example.com. 3600 IN MX 10 mx1.example.com."),
		"mx1.example.com./A": secure(t, "mx1.example.com", dns.TypeA, 600, "mx1.example.com. 600 IN A "+ip1.String()),
	}
	withTLSA := func(c *x509.Certificate) map[string]any {
		m := map[string]any{}
		for k, v := range signedNoTLSA {
			m[k] = v
		}
		m["_25._tcp.mx1.example.com./TLSA"] = secure(t, "_25._tcp.mx1.example.com", dns.TypeTLSA, 300, "_25._tcp.mx1.example.com. 300 IN TLSA "+spki311(c))
		return m
	}
	good := leaf("mx1.example.com")

	tests := []struct {
		name       string
		dns        map[string]any
		probes     map[netip.Addr]*probe.Result
		sts        mtasts.PolicyResult
		noSource   bool
		opts       engine.Options
		wantAction dane.Action
		wantPolicy dane.Policy
		wantReason dane.Reason
		wantCode   string
		wantSource mtasts.Source
		wantAsked  bool
		check      func(t *testing.T, r *engine.Result)
	}{
		{
			name: "unsigned domain, enforce, WebPKI-valid host delivers",
			dns:  unsigned("mx1.example.com"), probes: map[netip.Addr]*probe.Result{ip1: webpki(good)},
			sts:        stsPolicy(mtasts.ModeEnforce, "mx1.example.com"),
			wantAction: dane.ActionDeliver, wantPolicy: dane.PolicyMTASTSRequired, wantReason: dane.ReasonOK,
			wantSource: mtasts.SourceMTASTS, wantAsked: true,
			check: func(t *testing.T, r *engine.Result) {
				h := r.Hosts[0]
				if h.Policy != dane.PolicyMTASTSRequired || !h.Usable || h.STSFailure != dane.ReasonUnspecified {
					t.Errorf("host %+v, want a usable MTA_STS_REQUIRED host", h)
				}
				if !strings.Contains(h.Detail, "valid under the WebPKI") {
					t.Errorf("host detail %q", h.Detail)
				}
				if r.MTASTS == nil || r.MTASTS.RecordID != "20260601" {
					t.Errorf("MTASTS %+v, want the policy source's result", r.MTASTS)
				}
				if r.TTL > 23*time.Hour {
					t.Errorf("TTL %v outlives the policy", r.TTL)
				}
			},
		},
		{
			name: "DNSSEC-proven absence of TLSA, enforce applies",
			dns:  signedNoTLSA, probes: map[netip.Addr]*probe.Result{ip1: webpki(good)},
			sts:        stsPolicy(mtasts.ModeEnforce, "*.example.com"),
			wantAction: dane.ActionDeliver, wantPolicy: dane.PolicyMTASTSRequired, wantReason: dane.ReasonOK,
			wantSource: mtasts.SourceMTASTS, wantAsked: true,
		},
		{
			name: "enforce, self-signed certificate defers with 4.7.5",
			dns:  unsigned("mx1.example.com"), probes: map[netip.Addr]*probe.Result{ip1: tlsOK(selfSignedCert)},
			sts:        stsPolicy(mtasts.ModeEnforce, "mx1.example.com"),
			wantAction: dane.ActionDefer, wantPolicy: dane.PolicyMTASTSRequired, wantReason: dane.ReasonCertNotTrusted, wantCode: "4.7.5",
			wantSource: mtasts.SourceMTASTS, wantAsked: true,
			check: func(t *testing.T, r *engine.Result) {
				if !strings.HasPrefix(r.Verdict.Text, "certificate-not-trusted: mx1.example.com [192.0.2.1]") || r.Verdict.Status.TLSRPT != "certificate-not-trusted" {
					t.Errorf("verdict %+v", r.Verdict)
				}
				if r.Hosts[0].STSFailure != dane.ReasonCertNotTrusted || r.Hosts[0].Addresses[0].Reason != dane.ReasonCertNotTrusted {
					t.Errorf("host %+v", r.Hosts[0])
				}
				if r.TTL > 30*time.Second {
					t.Errorf("failure TTL %v", r.TTL)
				}
			},
		},
		{
			name: "enforce, certificate for another name defers",
			dns:  unsigned("mx1.example.com"), probes: map[netip.Addr]*probe.Result{ip1: webpki(leaf("other.example.net"))},
			sts:        stsPolicy(mtasts.ModeEnforce, "mx1.example.com"),
			wantAction: dane.ActionDefer, wantPolicy: dane.PolicyMTASTSRequired, wantReason: dane.ReasonCertNameMismatch, wantCode: "4.7.5",
			wantSource: mtasts.SourceMTASTS, wantAsked: true,
			check: func(t *testing.T, r *engine.Result) {
				if r.Verdict.Status.Short != "certificate-host-mismatch" {
					t.Errorf("status %+v, want MTA-STS's certificate-host-mismatch, not DANE's tlsa-invalid", r.Verdict.Status)
				}
			},
		},
		{
			name: "enforce, expired certificate defers",
			dns:  unsigned("mx1.example.com"), probes: map[netip.Addr]*probe.Result{ip1: webpki(expiredLeaf)},
			sts:        stsPolicy(mtasts.ModeEnforce, "mx1.example.com"),
			wantAction: dane.ActionDefer, wantPolicy: dane.PolicyMTASTSRequired, wantReason: dane.ReasonCertExpired, wantCode: "4.7.5",
			wantSource: mtasts.SourceMTASTS, wantAsked: true,
		},
		{
			name: "enforce, no STARTTLS defers with 4.7.321",
			dns:  unsigned("mx1.example.com"), probes: map[netip.Addr]*probe.Result{ip1: noSTARTTLS},
			sts:        stsPolicy(mtasts.ModeEnforce, "mx1.example.com"),
			wantAction: dane.ActionDefer, wantPolicy: dane.PolicyMTASTSRequired, wantReason: dane.ReasonSTARTTLSNotOffered, wantCode: "4.7.321",
			wantSource: mtasts.SourceMTASTS, wantAsked: true,
		},
		{
			name: "enforce, the only host is not in the policy",
			dns:  unsigned("mx1.example.com"), probes: map[netip.Addr]*probe.Result{ip1: webpki(good)},
			sts:        stsPolicy(mtasts.ModeEnforce, "mail.example.org"),
			wantAction: dane.ActionDefer, wantPolicy: dane.PolicyMTASTSRequired, wantReason: dane.ReasonMXNotInPolicy, wantCode: "4.7.5",
			wantSource: mtasts.SourceMTASTS, wantAsked: true,
			check: func(t *testing.T, r *engine.Result) {
				if r.Verdict.Status.TLSRPT != "validation-failure" {
					t.Errorf("TLS-RPT type %q", r.Verdict.Status.TLSRPT)
				}
			},
		},
		{
			name: "enforce, first host not in the policy, second delivers",
			dns:  unsigned("mx1.example.com", "mx2.example.net"),
			probes: map[netip.Addr]*probe.Result{ip1: webpki(good),
				ip2: webpki(leaf("mx2.example.net"))},
			sts:        stsPolicy(mtasts.ModeEnforce, "*.example.net"),
			wantAction: dane.ActionDeliver, wantPolicy: dane.PolicyMTASTSRequired, wantReason: dane.ReasonOK,
			wantSource: mtasts.SourceMTASTS, wantAsked: true,
			check: func(t *testing.T, r *engine.Result) {
				if h := r.Hosts[0]; h.Usable || h.Reason != dane.ReasonMXNotInPolicy {
					t.Errorf("mx1 %+v, want unusable MX_NOT_IN_POLICY", h)
				}
				if h := r.Hosts[1]; !h.Usable {
					t.Errorf("mx2 %+v, want usable", h)
				}
			},
		},
		{
			name: "testing: failures are recorded, mail is delivered",
			dns:  unsigned("mx1.example.com"), probes: map[netip.Addr]*probe.Result{ip1: tlsOK(selfSignedCert)},
			sts:        stsPolicy(mtasts.ModeTesting, "mx1.example.com"),
			wantAction: dane.ActionDeliver, wantPolicy: dane.PolicyOpportunistic, wantReason: dane.ReasonOK,
			wantSource: mtasts.SourceMTASTS, wantAsked: true,
			check: func(t *testing.T, r *engine.Result) {
				h := r.Hosts[0]
				if !h.Usable || h.STSFailure != dane.ReasonCertNotTrusted || h.Addresses[0].Reason != dane.ReasonOK {
					t.Errorf("host %+v, want usable with STSFailure CERT_NOT_TRUSTED", h)
				}
				if !strings.Contains(h.Detail, "mode testing would refuse") {
					t.Errorf("detail %q", h.Detail)
				}
			},
		},
		{
			name: "mode none is no policy",
			dns:  unsigned("mx1.example.com"), probes: map[netip.Addr]*probe.Result{ip1: tlsOK(selfSignedCert)},
			sts:        stsPolicy(mtasts.ModeNone),
			wantAction: dane.ActionDeliver, wantPolicy: dane.PolicyOpportunistic, wantReason: dane.ReasonOK,
			wantSource: mtasts.SourceNone, wantAsked: true,
		},
		{
			name: "fetch failed and nothing cached: as without a policy, and said so",
			dns:  unsigned("mx1.example.com"), probes: map[netip.Addr]*probe.Result{ip1: tlsOK(selfSignedCert)},
			sts:        mtasts.PolicyResult{Failure: mtasts.ReasonPolicyFetchFailed, Detail: "HTTP 404"},
			wantAction: dane.ActionDeliver, wantPolicy: dane.PolicyOpportunistic, wantReason: dane.ReasonOK,
			wantSource: mtasts.SourceNone, wantAsked: true,
			check: func(t *testing.T, r *engine.Result) {
				if !strings.Contains(r.PolicySourceDetail, "could not be fetched") {
					t.Errorf("source detail %q", r.PolicySourceDetail)
				}
				if r.TTL > 30*time.Second {
					t.Errorf("TTL %v resting on a failed fetch", r.TTL)
				}
			},
		},
		{
			name: "fetch failed, the cached policy stands in",
			dns:  unsigned("mx1.example.com"), probes: map[netip.Addr]*probe.Result{ip1: tlsOK(selfSignedCert)},
			sts: func() mtasts.PolicyResult {
				r := stsPolicy(mtasts.ModeEnforce, "mx1.example.com")
				r.FromCache, r.Failure, r.Detail = true, mtasts.ReasonPolicyFetchFailed, "connection refused"
				return r
			}(),
			wantAction: dane.ActionDefer, wantPolicy: dane.PolicyMTASTSRequired, wantReason: dane.ReasonCertNotTrusted, wantCode: "4.7.5",
			wantSource: mtasts.SourceMTASTS, wantAsked: true,
			check: func(t *testing.T, r *engine.Result) {
				if !strings.Contains(r.PolicySourceDetail, "cached one") {
					t.Errorf("source detail %q", r.PolicySourceDetail)
				}
			},
		},
		{
			name: "DANE wins: a secure TLSA RRset, MTA-STS not asked",
			dns:  withTLSA(selfSignedCert), probes: map[netip.Addr]*probe.Result{ip1: tlsOK(selfSignedCert)},
			sts:        stsPolicy(mtasts.ModeEnforce, "mail.example.org"),
			wantAction: dane.ActionDeliver, wantPolicy: dane.PolicyDANERequired, wantReason: dane.ReasonOK,
			wantSource: mtasts.SourceDANE,
			check: func(t *testing.T, r *engine.Result) {
				if r.MTASTS != nil {
					t.Errorf("MTASTS %+v, want nil", r.MTASTS)
				}
			},
		},
		{
			name: "a DANE failure is not rescued by a WebPKI-valid host",
			dns:  withTLSA(selfSignedCert), probes: map[netip.Addr]*probe.Result{ip1: webpki(good)},
			sts:        stsPolicy(mtasts.ModeEnforce, "mx1.example.com"),
			wantAction: dane.ActionDefer, wantPolicy: dane.PolicyDANERequired, wantReason: dane.ReasonTLSANoMatch, wantCode: "4.7.323",
			wantSource: mtasts.SourceDANE,
		},
		{
			name: "a bogus TLSA lookup is not rescued",
			dns: func() map[string]any {
				m := withTLSA(selfSignedCert)
				m["_25._tcp.mx1.example.com./TLSA"] = &resolver.QueryError{Kind: resolver.ErrBogus, Security: resolver.Bogus, Rcode: dns.RcodeServerFailure}
				return m
			}(),
			probes:     map[netip.Addr]*probe.Result{ip1: webpki(good)},
			sts:        stsPolicy(mtasts.ModeEnforce, "mx1.example.com"),
			wantAction: dane.ActionDefer, wantReason: dane.ReasonDNSSECBogus, wantCode: "4.7.324",
			wantSource: mtasts.SourceDANE,
			check: func(t *testing.T, r *engine.Result) {
				if !strings.Contains(r.PolicySourceDetail, "never stands in") {
					t.Errorf("source detail %q", r.PolicySourceDetail)
				}
			},
		},
		{
			name: "policy only: the pattern decides, the caller checks the chain",
			dns:  unsigned("mx1.example.com", "mx2.example.net"), opts: engine.Options{PolicyOnly: true},
			sts:        stsPolicy(mtasts.ModeEnforce, "mx1.example.com"),
			wantAction: dane.ActionDeliver, wantPolicy: dane.PolicyMTASTSRequired, wantReason: dane.ReasonOK,
			wantSource: mtasts.SourceMTASTS, wantAsked: true,
			check: func(t *testing.T, r *engine.Result) {
				if h := r.Hosts[0]; !h.Usable || h.Policy != dane.PolicyMTASTSRequired || h.Addresses[0].Reason != dane.ReasonNotProbed {
					t.Errorf("mx1 %+v", h)
				}
				if h := r.Hosts[1]; h.Usable || h.Reason != dane.ReasonMXNotInPolicy {
					t.Errorf("mx2 %+v, want MX_NOT_IN_POLICY", h)
				}
			},
		},
		{
			name: "no policy source: opportunistic, source none",
			dns:  unsigned("mx1.example.com"), probes: map[netip.Addr]*probe.Result{ip1: tlsOK(selfSignedCert)},
			noSource:   true,
			wantAction: dane.ActionDeliver, wantPolicy: dane.PolicyOpportunistic, wantReason: dane.ReasonOK,
			wantSource: mtasts.SourceNone,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &fakeSTS{res: tt.sts}
			e := newEngine(t, &fakeDNS{answers: tt.dns}, &fakeProber{results: tt.probes}, func(c *engine.Config) {
				if !tt.noSource {
					c.MTASTS = src
				}
				c.WebPKIRoots = ca.Pool()
			})
			r, err := e.Validate(context.Background(), "example.com", tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if r.Verdict.Action != tt.wantAction || r.Verdict.Policy != tt.wantPolicy || r.Verdict.Reason != tt.wantReason {
				t.Fatalf("verdict %v/%v/%v (%s), want %v/%v/%v", r.Verdict.Action, r.Verdict.Policy, r.Verdict.Reason, r.Verdict.Text,
					tt.wantAction, tt.wantPolicy, tt.wantReason)
			}
			if r.Verdict.Status.Code != tt.wantCode {
				t.Errorf("status code %q, want %q", r.Verdict.Status.Code, tt.wantCode)
			}
			if r.PolicySource != tt.wantSource || r.PolicySourceDetail == "" {
				t.Errorf("source %v (%q), want %v", r.PolicySource, r.PolicySourceDetail, tt.wantSource)
			}
			if asked := src.calls.Load() > 0; asked != tt.wantAsked {
				t.Errorf("policy source asked: %v, want %v", asked, tt.wantAsked)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

// TestNoHostsSource: a verdict reached before any host is judged never
// asks for an MTA-STS policy; a failed MX lookup is DANE's (it cannot be
// known whether the domain has DANE), a domain that takes no mail none's.
func TestNoHostsSource(t *testing.T) {
	for _, tt := range []struct {
		name string
		mx   any
		want mtasts.Source
	}{
		{"null MX", secure(t, "example.com", dns.TypeMX, 300, "example.com. 300 IN MX 0 ."), mtasts.SourceNone},
		{"MX lookup failed", &resolver.QueryError{Kind: resolver.ErrServFail, Rcode: dns.RcodeServerFailure}, mtasts.SourceDANE},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := &fakeSTS{res: stsPolicy(mtasts.ModeEnforce, "nothing.example")}
			e := newEngine(t, &fakeDNS{answers: map[string]any{"example.com./MX": tt.mx}}, &fakeProber{}, func(c *engine.Config) { c.MTASTS = src })
			r, err := e.Validate(context.Background(), "example.com", engine.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if r.PolicySource != tt.want || src.calls.Load() != 0 {
				t.Errorf("source %v, policy source asked %d times; want %v and never", r.PolicySource, src.calls.Load(), tt.want)
			}
		})
	}
}
