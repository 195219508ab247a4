package server_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/daned/daned/internal/danedtest"
	"github.com/daned/daned/internal/testworld"
	danev1 "github.com/daned/daned/proto/dane/v1"
	"github.com/daned/daned/server"
)

// e2e is a running test world, a real Unbound validating it, and daned
// serving real gRPC on loopback.
type e2e struct {
	world  *testworld.World
	client danev1.DaneServiceClient
	conn   *grpc.ClientConn
}

func startE2E(t *testing.T) *e2e {
	t.Helper()
	w := testworld.StartT(t, testworld.Options{})
	u := testworld.StartUnboundT(t, w)
	ec := danedtest.EngineConfig(w, u.Addr())
	built, err := ec.Build()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = built.Close() })
	srv, err := server.New(server.Config{Verdicts: danedtest.Verdicts(t, built.Engine, 0)})
	if err != nil {
		t.Fatal(err)
	}
	conn := danedtest.Serve(t, srv)
	return &e2e{world: w, client: danev1.NewDaneServiceClient(conn), conn: conn}
}

func (e *e2e) validate(t *testing.T, req *danev1.ValidateRequest) *danev1.ValidateResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := e.client.Validate(ctx, req)
	if err != nil {
		t.Fatalf("Validate(%q): %v", req.GetDomain(), err)
	}
	return resp
}

// hostWant is what one MX host must look like.
type hostWant struct {
	policy danev1.Policy
	reason danev1.Reason
	usable bool
}

const (
	deliver = danev1.Action_ACTION_DELIVER
	deferA  = danev1.Action_ACTION_DEFER
	reject  = danev1.Action_ACTION_REJECT

	daneReq = danev1.Policy_POLICY_DANE_REQUIRED
	tlsReq  = danev1.Policy_POLICY_TLS_REQUIRED
	opp     = danev1.Policy_POLICY_OPPORTUNISTIC
	noMail  = danev1.Policy_POLICY_NO_MAIL
	unknown = danev1.Policy_POLICY_UNSPECIFIED
)

func TestEndToEnd(t *testing.T) {
	e := startE2E(t)
	// ip returns the i-th address of a world host, as the API prints it.
	ip := func(host string, i int) string {
		t.Helper()
		h, ok := e.world.Host(host)
		if !ok || i >= len(h.Addrs) {
			t.Fatalf("no address %d for world host %s", i, host)
		}
		return h.Addrs[i].Addr().String()
	}
	dnsUnspec := danev1.DnsSecurity_DNS_SECURITY_UNSPECIFIED
	dnsSecure := danev1.DnsSecurity_DNS_SECURITY_SECURE
	dnsInsecure := danev1.DnsSecurity_DNS_SECURITY_INSECURE
	tests := []struct {
		domain   string
		action   danev1.Action
		policy   danev1.Policy
		reason   danev1.Reason
		code     string
		tlsrpt   string
		hosts    []hostWant // checked when non-nil, in MX order
		contains string     // substring of status_text, or of the first host's detail on DELIVER
		check    func(t *testing.T, r *danev1.ValidateResponse)
	}{
		{domain: "ee-spki.test", action: deliver, policy: daneReq, reason: danev1.Reason_REASON_OK,
			hosts: []hostWant{{daneReq, danev1.Reason_REASON_OK, true}}, check: authenticated(0)},
		{domain: "ee-cert.test", action: deliver, policy: daneReq, reason: danev1.Reason_REASON_OK, check: authenticated(0)},
		{domain: "ta.test", action: deliver, policy: daneReq, reason: danev1.Reason_REASON_OK, check: authenticated(0)},
		{domain: "ta-intermediate.test", action: deliver, policy: daneReq, reason: danev1.Reason_REASON_OK, check: authenticated(0)},
		{domain: "ta-wildcard.test", action: deliver, policy: daneReq, reason: danev1.Reason_REASON_OK, check: authenticated(0)},
		{domain: "ta-domain-name.test", action: deliver, policy: daneReq, reason: danev1.Reason_REASON_OK, check: authenticated(0)},
		{domain: "ee-expired.test", action: deliver, policy: daneReq, reason: danev1.Reason_REASON_OK, check: authenticated(0)},
		{domain: "big-tlsa.test", action: deliver, policy: daneReq, reason: danev1.Reason_REASON_OK, check: authenticated(0)},
		{domain: "digest-agility.test", action: deliver, policy: daneReq, reason: danev1.Reason_REASON_OK,
			check: func(t *testing.T, r *danev1.ValidateResponse) {
				authenticated(0)(t, r)
				recs := r.GetMxHosts()[0].GetTlsa()
				if len(recs) != 2 {
					t.Fatalf("%d TLSA records, want 2", len(recs))
				}
				for _, rec := range recs {
					if rec.GetMatchingType() == 1 && (rec.GetUsable() || rec.GetUnusableReason() == "") {
						t.Errorf("the SHA2-256 record is usable next to a SHA2-512 one (RFC 7671 §9): %+v", rec)
					}
				}
			}},
		{domain: "mismatch.test", action: deferA, policy: daneReq, reason: danev1.Reason_REASON_TLSA_NO_MATCH,
			code: "4.7.323", tlsrpt: "tlsa-invalid", contains: "no TLSA record matches the certificate of mx.mismatch.test ["},
		{domain: "nostarttls.test", action: deferA, policy: daneReq, reason: danev1.Reason_REASON_STARTTLS_NOT_OFFERED,
			code: "4.7.321", tlsrpt: "starttls-not-supported"},
		{domain: "starttls-refused.test", action: deferA, policy: daneReq, reason: danev1.Reason_REASON_STARTTLS_NOT_OFFERED,
			code: "4.7.321", tlsrpt: "starttls-not-supported"},
		{domain: "unsigned.test", action: deliver, policy: opp, reason: danev1.Reason_REASON_OK,
			check: func(t *testing.T, r *danev1.ValidateResponse) {
				if r.GetMxSecurity() != danev1.DnsSecurity_DNS_SECURITY_INSECURE {
					t.Errorf("MX security %v, want insecure", r.GetMxSecurity())
				}
				if h := r.GetMxHosts()[0]; h.GetTlsaSecurity() != danev1.DnsSecurity_DNS_SECURITY_UNSPECIFIED || len(h.GetTlsa()) != 0 {
					t.Errorf("TLSA looked up for a host with insecure addresses: %v", h)
				}
			}},
		{domain: "notlsa.test", action: deliver, policy: opp, reason: danev1.Reason_REASON_OK,
			check: func(t *testing.T, r *danev1.ValidateResponse) {
				if s := r.GetMxHosts()[0].GetTlsaSecurity(); s != danev1.DnsSecurity_DNS_SECURITY_SECURE {
					t.Errorf("TLSA denial security %v, want secure", s)
				}
			}},
		{domain: "expired-rrsig.test", action: deferA, policy: unknown, reason: danev1.Reason_REASON_DNSSEC_BOGUS,
			code: "4.7.324", tlsrpt: "dnssec-invalid"},
		{domain: "future-rrsig.test", action: deferA, policy: unknown, reason: danev1.Reason_REASON_DNSSEC_BOGUS, code: "4.7.324"},
		{domain: "ds-mismatch.test", action: deferA, policy: unknown, reason: danev1.Reason_REASON_DNSSEC_BOGUS, code: "4.7.324"},
		{domain: "no-dnskey.test", action: deferA, policy: unknown, reason: danev1.Reason_REASON_DNSSEC_BOGUS, code: "4.7.324"},
		{domain: "tlsa-nosig.test", action: deferA, policy: unknown, reason: danev1.Reason_REASON_DNSSEC_BOGUS, code: "4.7.324",
			contains: "TLSA lookup for _25._tcp.mx.tlsa-nosig.test"},
		{domain: "nsec3-notlsa.test", action: deliver, policy: opp, reason: danev1.Reason_REASON_OK,
			check: func(t *testing.T, r *danev1.ValidateResponse) {
				if s := r.GetMxHosts()[0].GetTlsaSecurity(); s != danev1.DnsSecurity_DNS_SECURITY_SECURE {
					t.Errorf("NSEC3 denial of the TLSA records is %v, want secure", s)
				}
			}},
		{domain: "nsec3-ee.test", action: deliver, policy: daneReq, reason: danev1.Reason_REASON_OK, check: authenticated(0)},
		{domain: "tlsa-nodenial-nsec3.test", action: deferA, policy: unknown, reason: danev1.Reason_REASON_DNSSEC_BOGUS, code: "4.7.324",
			tlsrpt: "dnssec-invalid", contains: "NSEC/NSEC3 proof missing"},
		{domain: "tlsa-nodenial.test", action: deferA, policy: unknown, reason: danev1.Reason_REASON_DNSSEC_BOGUS, code: "4.7.324",
			tlsrpt: "dnssec-invalid", contains: "NSEC/NSEC3 proof missing"},
		{domain: "tlsa-servfail.test", action: deferA, policy: unknown, reason: danev1.Reason_REASON_TLSA_LOOKUP_FAILED,
			code: "4.7.324", tlsrpt: "dnssec-invalid", contains: "TLSA lookup for _25._tcp.mx.tlsa-servfail.test"},
		{domain: "tlsa-timeout.test", action: deferA, policy: unknown, reason: danev1.Reason_REASON_TLSA_LOOKUP_FAILED, code: "4.7.324"},
		{domain: "pkix-only.test", action: deliver, policy: tlsReq, reason: danev1.Reason_REASON_OK,
			check: func(t *testing.T, r *danev1.ValidateResponse) {
				rec := r.GetMxHosts()[0].GetTlsa()[0]
				if rec.GetUsable() || rec.GetUnusableReason() == "" {
					t.Errorf("usage 1 record usable for SMTP: %+v", rec)
				}
				if a := r.GetMxHosts()[0].GetAddresses()[0]; a.GetTlsVersion() == "" || a.GetAuthenticated() {
					t.Errorf("address %+v: want TLS without authentication", a)
				}
			}},
		{domain: "two-mx.test", action: deliver, policy: daneReq, reason: danev1.Reason_REASON_OK,
			hosts: []hostWant{{daneReq, danev1.Reason_REASON_TLSA_NO_MATCH, false}, {daneReq, danev1.Reason_REASON_OK, true}}},
		{domain: "partial-tlsa.test", action: deliver, policy: opp, reason: danev1.Reason_REASON_OK,
			hosts: []hostWant{{opp, danev1.Reason_REASON_OK, true}, {daneReq, danev1.Reason_REASON_OK, true}}},
		{domain: "nullmx.test", action: reject, policy: noMail, reason: danev1.Reason_REASON_NULL_MX, code: "5.1.10"},
		{domain: "nxdomain.test", action: reject, policy: noMail, reason: danev1.Reason_REASON_NXDOMAIN, code: "5.1.2"},
		{domain: "ta-expired.test", action: deferA, policy: daneReq, reason: danev1.Reason_REASON_CERT_EXPIRED,
			code: "4.7.322", tlsrpt: "certificate-expired"},
		{domain: "ta-notyet.test", action: deferA, policy: daneReq, reason: danev1.Reason_REASON_CERT_NOT_YET_VALID,
			code: "4.7.323", tlsrpt: "certificate-not-trusted"},
		{domain: "ta-badname.test", action: deferA, policy: daneReq, reason: danev1.Reason_REASON_CERT_NAME_MISMATCH,
			code: "4.7.323", tlsrpt: "certificate-host-mismatch", contains: "mx.ta-badname.test"},
		{domain: "refused.test", action: deferA, policy: daneReq, reason: danev1.Reason_REASON_CONNECT_FAILED, code: "4.4.1"},
		{domain: "cname-mx.test", action: deliver, policy: daneReq, reason: danev1.Reason_REASON_OK,
			check: func(t *testing.T, r *danev1.ValidateResponse) {
				authenticated(0)(t, r)
				h := r.GetMxHosts()[0]
				if h.GetName() != "alias.cname-mx.test" || h.GetTlsaBaseDomain() != "mx.cname-mx.test" || len(h.GetCnameChain()) != 1 {
					t.Errorf("host %q base %q chain %v: want the expanded name as TLSA base", h.GetName(), h.GetTlsaBaseDomain(), h.GetCnameChain())
				}
			}},
		{domain: "tlsa-cname.test", action: deliver, policy: daneReq, reason: danev1.Reason_REASON_OK,
			check: func(t *testing.T, r *danev1.ValidateResponse) {
				authenticated(0)(t, r)
				if b := r.GetMxHosts()[0].GetTlsaBaseDomain(); b != "mx.tlsa-cname.test" {
					t.Errorf("TLSA base %q: a CNAME at the TLSA name must not change the base domain", b)
				}
			}},
		{domain: "insecure-mx.test", action: deliver, policy: opp, reason: danev1.Reason_REASON_OK,
			hosts: []hostWant{{daneReq, danev1.Reason_REASON_OK, true}}},
		{domain: "ipv6.test", action: deliver, policy: daneReq, reason: danev1.Reason_REASON_OK,
			check: func(t *testing.T, r *danev1.ValidateResponse) {
				addrs := r.GetMxHosts()[0].GetAddresses()
				if len(addrs) != 2 {
					t.Fatalf("%d addresses, want A and AAAA", len(addrs))
				}
				for _, a := range addrs {
					if !a.GetAuthenticated() {
						t.Errorf("%s not authenticated: %s", a.GetIp(), a.GetDetail())
					}
				}
			}},

		// CNAMEs (RFC 7672 §2.2.2, §2.2.3; RFC 7671 §7).
		{domain: "cname-orig-tlsa.test", action: deliver, policy: daneReq, reason: danev1.Reason_REASON_OK,
			hosts: []hostWant{{daneReq, danev1.Reason_REASON_OK, true}},
			check: func(t *testing.T, r *danev1.ValidateResponse) {
				authenticated(0)(t, r)
				h := r.GetMxHosts()[0]
				hostIs(t, h, "alias.cname-orig-tlsa.test", dnsSecure, dnsSecure, "alias.cname-orig-tlsa.test", "mx.cname-orig-tlsa.test")
				// RFC 7672 §8.1: SNI is the TLSA base domain, here the
				// original name.
				if sni := e.world.SNISeen("mx.cname-orig-tlsa.test"); len(sni) == 0 || slices.ContainsFunc(sni, func(s string) bool { return s != "alias.cname-orig-tlsa.test" }) {
					t.Errorf("SNI seen %v, want only alias.cname-orig-tlsa.test", sni)
				}
				mentions(t, "address detail", h.GetAddresses()[0].GetDetail(), "alias.cname-orig-tlsa.test ["+ip("mx.cname-orig-tlsa.test", 0)+"]", "3 1 1 ")
			}},
		{domain: "cname-two-link.test", action: deliver, policy: opp, reason: danev1.Reason_REASON_OK,
			hosts: []hostWant{{opp, danev1.Reason_REASON_OK, true}},
			check: func(t *testing.T, r *danev1.ValidateResponse) {
				h := r.GetMxHosts()[0]
				// The last candidate tried is the original name; mid is
				// never one (RFC 7671 §7).
				hostIs(t, h, "alias.cname-two-link.test", dnsSecure, dnsSecure, "alias.cname-two-link.test", "mid.cname-two-link.test", "mx.cname-two-link.test")
				if len(h.GetTlsa()) != 0 {
					t.Errorf("TLSA records %v used: the only ones are at the intermediate name mid", h.GetTlsa())
				}
				notAuthenticated(t, h)
				mentions(t, "host detail", h.GetDetail(), "no TLSA records for alias.cname-two-link.test")
			}},
		{domain: "cname-insecure-target.test", action: deliver, policy: daneReq, reason: danev1.Reason_REASON_OK,
			hosts: []hostWant{{daneReq, danev1.Reason_REASON_OK, true}},
			check: func(t *testing.T, r *danev1.ValidateResponse) {
				authenticated(0)(t, r)
				h := r.GetMxHosts()[0]
				hostIs(t, h, "alias.cname-insecure-target.test", dnsSecure, dnsInsecure, "alias.cname-insecure-target.test", "mx.cname-unsigned.test")
				if sni := e.world.SNISeen("mx.cname-unsigned.test"); len(sni) == 0 || sni[0] != "alias.cname-insecure-target.test" {
					t.Errorf("SNI seen %v, want the original name", sni)
				}
			}},
		{domain: "cname-insecure-start.test", action: deliver, policy: opp, reason: danev1.Reason_REASON_OK,
			hosts: []hostWant{{opp, danev1.Reason_REASON_OK, true}},
			check: func(t *testing.T, r *danev1.ValidateResponse) {
				h := r.GetMxHosts()[0]
				hostIs(t, h, "alias.cname-unsigned.test", dnsSecure, dnsInsecure, "", "mx.ee-spki.test")
				if h.GetTlsaSecurity() != dnsUnspec || len(h.GetTlsa()) != 0 {
					t.Errorf("TLSA looked up (%v, %v) for a chain insecure from its first link", h.GetTlsaSecurity(), h.GetTlsa())
				}
				notAuthenticated(t, h)
				mentions(t, "host detail", h.GetDetail(), "alias.cname-unsigned.test", "insecure")
			}},
		{domain: "mx-cname.test", action: deliver, policy: daneReq, reason: danev1.Reason_REASON_OK,
			hosts: []hostWant{{daneReq, danev1.Reason_REASON_OK, true}},
			check: func(t *testing.T, r *danev1.ValidateResponse) {
				authenticated(0)(t, r)
				h := r.GetMxHosts()[0]
				hostIs(t, h, "mx.ta-domain-name.test", dnsSecure, dnsSecure, "mx.ta-domain-name.test")
				mentions(t, "address detail", h.GetAddresses()[0].GetDetail(), "mx.ta-domain-name.test ["+ip("mx.ta-domain-name.test", 0)+"]", "DANE-TA record 2 1 1 ")
			}},

		// Several MX hosts and addresses (RFC 7672 §2.1.2, §2.2.2).
		{domain: "mx-servfail-a.test", action: deliver, policy: daneReq, reason: danev1.Reason_REASON_OK,
			hosts: []hostWant{{unknown, danev1.Reason_REASON_DNS_QUERY_FAILED, false}, {daneReq, danev1.Reason_REASON_OK, true}},
			check: func(t *testing.T, r *danev1.ValidateResponse) {
				h := r.GetMxHosts()[0]
				if h.GetAddressSecurity() != danev1.DnsSecurity_DNS_SECURITY_LOOKUP_FAILED || len(h.GetAddresses()) != 0 || h.GetTlsaSecurity() != dnsUnspec {
					t.Errorf("mx1: address security %v, %d addresses, TLSA %v: want a failed lookup, no probe, no TLSA lookup",
						h.GetAddressSecurity(), len(h.GetAddresses()), h.GetTlsaSecurity())
				}
				mentions(t, "mx1 detail", h.GetDetail(), "A lookup for MX host mx1.mx-servfail-a.test", "SERVFAIL", "skipped")
				authenticated(1)(t, r)
			}},
		{domain: "all-hosts-fail.test", action: deferA, policy: daneReq, reason: danev1.Reason_REASON_TLSA_NO_MATCH,
			code: "4.7.323", tlsrpt: "tlsa-invalid",
			hosts: []hostWant{{unknown, danev1.Reason_REASON_DNS_QUERY_FAILED, false}, {daneReq, danev1.Reason_REASON_TLSA_NO_MATCH, false}},
			check: func(t *testing.T, r *danev1.ValidateResponse) {
				// The DANE failure of mx2 speaks for the domain, not the
				// DNS failure of the more-preferred mx1.
				mentions(t, "status text", r.GetStatusText(), "tlsa-invalid: ", "mx2.all-hosts-fail.test ["+ip("mx2.all-hosts-fail.test", 0)+"]", "3 1 1 ")
				mentions(t, "mx1 detail", r.GetMxHosts()[0].GetDetail(), "mx1.all-hosts-fail.test", "SERVFAIL")
			}},
		{domain: "multi-addr.test", action: deliver, policy: daneReq, reason: danev1.Reason_REASON_OK,
			hosts: []hostWant{{daneReq, danev1.Reason_REASON_OK, true}},
			check: func(t *testing.T, r *danev1.ValidateResponse) {
				dead, live := ip("mx.multi-addr.test", 0), ip("mx.multi-addr.test", 1)
				got := map[string]*danev1.AddressResult{}
				for _, a := range r.GetMxHosts()[0].GetAddresses() {
					got[a.GetIp()] = a
				}
				if len(got) != 2 || got[dead] == nil || got[live] == nil {
					t.Fatalf("addresses %v, want %s and %s", r.GetMxHosts()[0].GetAddresses(), dead, live)
				}
				if a := got[dead]; a.GetReason() != danev1.Reason_REASON_CONNECT_FAILED || a.GetAuthenticated() || a.MatchedTlsaIndex != nil {
					t.Errorf("dead address %s: %v authenticated=%v", dead, a.GetReason(), a.GetAuthenticated())
				}
				mentions(t, "dead address detail", got[dead].GetDetail(), "mx.multi-addr.test ["+dead+"]", "refused")
				if a := got[live]; a.GetReason() != danev1.Reason_REASON_OK || !a.GetAuthenticated() {
					t.Errorf("live address %s: %v authenticated=%v (%s)", live, a.GetReason(), a.GetAuthenticated(), a.GetDetail())
				}
				mentions(t, "host detail", r.GetMxHosts()[0].GetDetail(), "mx.multi-addr.test ["+live+"]", "3 1 1 ")
			}},
		{domain: "insecure-host.test", action: deliver, policy: opp, reason: danev1.Reason_REASON_OK,
			hosts: []hostWant{{opp, danev1.Reason_REASON_OK, true}},
			check: func(t *testing.T, r *danev1.ValidateResponse) {
				h := r.GetMxHosts()[0]
				hostIs(t, h, "mx.unsigned.test", dnsSecure, dnsInsecure, "")
				if h.GetTlsaSecurity() != dnsUnspec || len(h.GetTlsa()) != 0 {
					t.Errorf("TLSA looked up (%v, %v) for a host with insecure addresses (RFC 7672 §2.2.2)", h.GetTlsaSecurity(), h.GetTlsa())
				}
				notAuthenticated(t, h)
				mentions(t, "host detail", h.GetDetail(), "mx.unsigned.test", "insecure", "no DANE")
			}},
		{domain: "implicit-mx.test", action: deliver, policy: daneReq, reason: danev1.Reason_REASON_OK,
			hosts: []hostWant{{daneReq, danev1.Reason_REASON_OK, true}},
			check: func(t *testing.T, r *danev1.ValidateResponse) {
				authenticated(0)(t, r)
				if !r.GetImplicitMx() {
					t.Errorf("implicit_mx not set for a domain without MX records")
				}
				h := r.GetMxHosts()[0]
				hostIs(t, h, "implicit-mx.test", dnsSecure, dnsSecure, "implicit-mx.test")
				if h.GetPreference() != 0 {
					t.Errorf("implicit MX preference %d, want 0", h.GetPreference())
				}
			}},

		// Digest agility and TLSA data (RFC 7671 §9, RFC 6698 §4.1).
		{domain: "agility-weak-match.test", action: deferA, policy: daneReq, reason: danev1.Reason_REASON_TLSA_NO_MATCH,
			code: "4.7.323", tlsrpt: "tlsa-invalid",
			check: func(t *testing.T, r *danev1.ValidateResponse) {
				mentions(t, "status text", r.GetStatusText(), "mx.agility-weak-match.test ["+ip("mx.agility-weak-match.test", 0)+"]",
					"SHA2-256 record 3 1 1 ", "RFC 7671 §9", "SHA2-512")
				tlsaWant(t, r.GetMxHosts()[0], map[string]string{"3 1 1": "SHA2-512", "3 1 2": ""})
			}},
		{domain: "tlsa-malformed.test", action: deliver, policy: daneReq, reason: danev1.Reason_REASON_OK,
			hosts: []hostWant{{daneReq, danev1.Reason_REASON_OK, true}},
			check: func(t *testing.T, r *danev1.ValidateResponse) {
				authenticated(0)(t, r)
				h := r.GetMxHosts()[0]
				tlsaWant(t, h, map[string]string{"3 1 2": "64 bytes", "4 1 1": "usage 4", "3 2 1": "selector 2",
					"3 1 3": "matching type 3", "3 0 0": "does not parse", "3 1 1": ""})
				if rec := h.GetTlsa()[h.GetAddresses()[0].GetMatchedTlsaIndex()]; rec.GetUsage() != 3 || rec.GetSelector() != 1 || rec.GetMatchingType() != 1 {
					t.Errorf("matched record %+v, want the 3 1 1", rec)
				}
			}},
		{domain: "tlsa-all-malformed.test", action: deliver, policy: tlsReq, reason: danev1.Reason_REASON_OK,
			hosts: []hostWant{{tlsReq, danev1.Reason_REASON_OK, true}},
			check: func(t *testing.T, r *danev1.ValidateResponse) {
				h := r.GetMxHosts()[0]
				tlsaWant(t, h, map[string]string{"3 1 2": "64 bytes", "4 1 1": "usage 4", "3 0 0": "does not parse"})
				for _, a := range h.GetAddresses() {
					if a.GetTlsVersion() == "" || a.GetAuthenticated() {
						t.Errorf("address %s: TLS %q authenticated=%v, want TLS without authentication", a.GetIp(), a.GetTlsVersion(), a.GetAuthenticated())
					}
				}
			}},
		{domain: "tlsa-uppercase.test", action: deliver, policy: daneReq, reason: danev1.Reason_REASON_OK,
			hosts: []hostWant{{daneReq, danev1.Reason_REASON_OK, true}},
			check: func(t *testing.T, r *danev1.ValidateResponse) {
				authenticated(0)(t, r)
				h, _ := e.world.Host("mx.tlsa-uppercase.test")
				if len(h.TLSA) != 1 || h.TLSA[0] == strings.ToLower(h.TLSA[0]) {
					t.Fatalf("zone data %v is not upper-case hex", h.TLSA)
				}
				if got := r.GetMxHosts()[0].GetTlsa()[0].GetData(); "3 1 1 "+got != strings.ToLower(h.TLSA[0]) {
					t.Errorf("data %q, want the lower-case hex of %q", got, h.TLSA[0])
				}
			}},

		// DANE-TA and DANE-EE certificates (RFC 7672 §3.1, §3.2).
		{domain: "ta-leaf-only.test", action: deferA, policy: daneReq, reason: danev1.Reason_REASON_TLSA_NO_MATCH,
			code: "4.7.323", tlsrpt: "tlsa-invalid",
			check: func(t *testing.T, r *danev1.ValidateResponse) {
				mentions(t, "status text", r.GetStatusText(), "mx.ta-leaf-only.test ["+ip("mx.ta-leaf-only.test", 0)+"]", "2 1 1 ", "no issuer certificate")
			}},
		{domain: "ta-full-cert.test", action: deliver, policy: daneReq, reason: danev1.Reason_REASON_OK,
			hosts: []hostWant{{daneReq, danev1.Reason_REASON_OK, true}},
			check: func(t *testing.T, r *danev1.ValidateResponse) {
				authenticated(0)(t, r)
				a := r.GetMxHosts()[0].GetAddresses()[0]
				if len(a.GetChain()) != 1 {
					t.Errorf("chain of %d certificates, want the leaf only", len(a.GetChain()))
				}
				mentions(t, "address detail", a.GetDetail(), "mx.ta-full-cert.test ["+ip("mx.ta-full-cert.test", 0)+"]", "2 0 0 ", "carried by the record")
			}},
		{domain: "ta-cn-only.test", action: deliver, policy: daneReq, reason: danev1.Reason_REASON_OK,
			hosts: []hostWant{{daneReq, danev1.Reason_REASON_OK, true}},
			check: func(t *testing.T, r *danev1.ValidateResponse) {
				authenticated(0)(t, r)
				if c := r.GetMxHosts()[0].GetAddresses()[0].GetChain()[0]; len(c.GetDnsNames()) != 0 || !strings.Contains(c.GetSubject(), "CN=mx.ta-cn-only.test") {
					t.Errorf("leaf %s with SANs %v, want CN=mx.ta-cn-only.test and no SAN", c.GetSubject(), c.GetDnsNames())
				}
			}},
		{domain: "ta-cn-san.test", action: deferA, policy: daneReq, reason: danev1.Reason_REASON_CERT_NAME_MISMATCH,
			code: "4.7.323", tlsrpt: "certificate-host-mismatch",
			check: func(t *testing.T, r *danev1.ValidateResponse) {
				mentions(t, "status text", r.GetStatusText(), "mx.ta-cn-san.test ["+ip("mx.ta-cn-san.test", 0)+"]", "2 0 1 ", `"other.example"`)
			}},
		{domain: "ta-expired-intermediate.test", action: deferA, policy: daneReq, reason: danev1.Reason_REASON_CERT_EXPIRED,
			code: "4.7.322", tlsrpt: "certificate-expired",
			check: func(t *testing.T, r *danev1.ValidateResponse) {
				mentions(t, "status text", r.GetStatusText(), "certificate-expired: ", "mx.ta-expired-intermediate.test ["+ip("mx.ta-expired-intermediate.test", 0)+"]",
					"2 1 1 ", "intermediate certificate", "expired")
			}},
		{domain: "ee-notyet.test", action: deliver, policy: daneReq, reason: danev1.Reason_REASON_OK,
			hosts: []hostWant{{daneReq, danev1.Reason_REASON_OK, true}},
			check: func(t *testing.T, r *danev1.ValidateResponse) {
				authenticated(0)(t, r)
				h, _ := e.world.Host("mx.ee-notyet.test")
				from := h.Chain[0].NotBefore.UTC().Format("2006-01-02")
				mentions(t, "address detail", r.GetMxHosts()[0].GetAddresses()[0].GetDetail(), "mx.ee-notyet.test ["+ip("mx.ee-notyet.test", 0)+"]",
					"3 1 1 ", "valid only from "+from, "DANE-EE ignores")
			}},
	}

	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.domain] = true
	}
	for _, sc := range e.world.Scenarios() {
		if !covered[sc.Domain] {
			t.Errorf("scenario %s (%s) has no expected verdict in this test", sc.Domain, sc.Description)
		}
	}

	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			t.Parallel()
			r := e.validate(t, &danev1.ValidateRequest{Domain: tt.domain})
			if r.GetAction() != tt.action || r.GetPolicy() != tt.policy || r.GetReason() != tt.reason || r.GetStatusCode() != tt.code {
				t.Fatalf("verdict %v/%v/%v %q, want %v/%v/%v %q\nstatus text: %s\nhosts: %v",
					r.GetAction(), r.GetPolicy(), r.GetReason(), r.GetStatusCode(), tt.action, tt.policy, tt.reason, tt.code,
					r.GetStatusText(), r.GetMxHosts())
			}
			if tt.tlsrpt != "" && r.GetTlsrptResultType() != tt.tlsrpt {
				t.Errorf("TLS-RPT result type %q, want %q", r.GetTlsrptResultType(), tt.tlsrpt)
			}
			if tt.code != "" && !strings.HasPrefix(r.GetStatusText(), strings.SplitN(r.GetStatusText(), ":", 2)[0]+": ") {
				t.Errorf("status text %q has no short text", r.GetStatusText())
			}
			if tt.contains != "" && !strings.Contains(r.GetStatusText(), tt.contains) {
				t.Errorf("status text %q does not contain %q", r.GetStatusText(), tt.contains)
			}
			if r.GetDomain() != tt.domain || r.GetCheckedAt() == nil || r.GetTtl() == nil {
				t.Errorf("domain %q checked_at %v ttl %v", r.GetDomain(), r.GetCheckedAt(), r.GetTtl())
			}
			if tt.action != deliver && r.GetTtl().AsDuration() > 30*time.Second {
				t.Errorf("failure verdict reusable for %v, longer than the failure TTL", r.GetTtl().AsDuration())
			}
			if tt.hosts != nil {
				if len(r.GetMxHosts()) != len(tt.hosts) {
					t.Fatalf("%d hosts, want %d: %v", len(r.GetMxHosts()), len(tt.hosts), r.GetMxHosts())
				}
				for i, want := range tt.hosts {
					h := r.GetMxHosts()[i]
					if h.GetHostPolicy() != want.policy || h.GetReason() != want.reason || h.GetUsableForDelivery() != want.usable {
						t.Errorf("host %s: %v/%v usable=%v, want %v/%v usable=%v (%s)", h.GetName(), h.GetHostPolicy(), h.GetReason(),
							h.GetUsableForDelivery(), want.policy, want.reason, want.usable, h.GetDetail())
					}
				}
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

// authenticated checks that host i was authenticated on every address by
// a TLSA record, with the chain reported.
func authenticated(i int) func(t *testing.T, r *danev1.ValidateResponse) {
	return func(t *testing.T, r *danev1.ValidateResponse) {
		t.Helper()
		h := r.GetMxHosts()[i]
		if len(h.GetAddresses()) == 0 {
			t.Fatalf("host %s has no addresses", h.GetName())
		}
		for _, a := range h.GetAddresses() {
			if !a.GetAuthenticated() || a.MatchedTlsaIndex == nil || len(a.GetChain()) == 0 || !a.GetStarttlsOffered() || a.GetTlsVersion() == "" {
				t.Errorf("%s [%s] not authenticated: %s", h.GetName(), a.GetIp(), a.GetDetail())
			}
		}
	}
}

// hostIs checks a host's name, DNSSEC states, TLSA base domain and CNAME
// chain.
func hostIs(t *testing.T, h *danev1.MxHost, name string, mx, addr danev1.DnsSecurity, base string, chain ...string) {
	t.Helper()
	if h.GetName() != name || h.GetMxSecurity() != mx || h.GetAddressSecurity() != addr || h.GetTlsaBaseDomain() != base || !slices.Equal(h.GetCnameChain(), chain) {
		t.Errorf("host %q mx %v addresses %v base %q chain %v; want %q %v %v %q %v (%s)",
			h.GetName(), h.GetMxSecurity(), h.GetAddressSecurity(), h.GetTlsaBaseDomain(), h.GetCnameChain(),
			name, mx, addr, base, chain, h.GetDetail())
	}
}

// notAuthenticated checks that every address of a host was probed and
// reached without authentication.
func notAuthenticated(t *testing.T, h *danev1.MxHost) {
	t.Helper()
	if len(h.GetAddresses()) == 0 {
		t.Fatalf("host %s has no addresses", h.GetName())
	}
	for _, a := range h.GetAddresses() {
		if a.GetAuthenticated() || a.MatchedTlsaIndex != nil || a.GetReason() != danev1.Reason_REASON_OK {
			t.Errorf("%s [%s]: %v authenticated=%v, want OK without authentication (%s)", h.GetName(), a.GetIp(), a.GetReason(), a.GetAuthenticated(), a.GetDetail())
		}
	}
}

// mentions checks that s contains every part.
func mentions(t *testing.T, what, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("%s %q does not mention %q", what, s, p)
		}
	}
}

// tlsaWant checks a host's TLSA records, keyed by "usage selector
// matching-type" in any answer order: "" means usable, anything else a
// substring of the record's unusable_reason.
func tlsaWant(t *testing.T, h *danev1.MxHost, want map[string]string) {
	t.Helper()
	if len(h.GetTlsa()) != len(want) {
		t.Fatalf("%d TLSA records, want %d: %v", len(h.GetTlsa()), len(want), h.GetTlsa())
	}
	for _, rec := range h.GetTlsa() {
		key := fmt.Sprintf("%d %d %d", rec.GetUsage(), rec.GetSelector(), rec.GetMatchingType())
		why, ok := want[key]
		switch {
		case !ok:
			t.Errorf("unexpected TLSA record %s", key)
		case why == "" && (!rec.GetUsable() || rec.GetUnusableReason() != ""):
			t.Errorf("TLSA %s unusable (%s), want usable", key, rec.GetUnusableReason())
		case why != "" && (rec.GetUsable() || !strings.Contains(rec.GetUnusableReason(), why)):
			t.Errorf("TLSA %s usable=%v reason %q, want unusable because of %q", key, rec.GetUsable(), rec.GetUnusableReason(), why)
		}
	}
}

func TestEndToEndPolicyOnly(t *testing.T) {
	e := startE2E(t)
	r := e.validate(t, &danev1.ValidateRequest{Domain: "mismatch.test", PolicyOnly: true})
	if r.GetAction() != deliver || r.GetPolicy() != daneReq || !r.GetPolicyOnly() {
		t.Fatalf("policy-only verdict %v/%v", r.GetAction(), r.GetPolicy())
	}
	h := r.GetMxHosts()[0]
	if len(h.GetTlsa()) != 1 || !h.GetTlsa()[0].GetUsable() {
		t.Fatalf("TLSA records not returned for the caller to match: %v", h.GetTlsa())
	}
	for _, a := range h.GetAddresses() {
		if a.GetReason() != danev1.Reason_REASON_NOT_PROBED || a.GetStarttlsOffered() {
			t.Errorf("address %s probed in a policy-only request", a.GetIp())
		}
	}
}

func TestEndToEndBadInput(t *testing.T) {
	e := startE2E(t)
	for _, domain := range []string{"", "192.0.2.1", "[192.0.2.1]", "*.example.test", "exa mple.test", "a\x01b.test",
		strings.Repeat("a", 64) + ".test", strings.Repeat("abcdefghi.", 26) + "test", "bad..test"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := e.client.Validate(ctx, &danev1.ValidateRequest{Domain: domain})
		cancel()
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "invalid domain") {
			t.Errorf("Validate(%q): %v, want InvalidArgument naming the problem", domain, err)
		}
	}
	// The server survives all of it.
	hc := healthpb.NewHealthClient(e.conn)
	resp, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: danev1.DaneService_ServiceDesc.ServiceName})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health after bad input: %v %v", resp, err)
	}
}
