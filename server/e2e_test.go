package server_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/daned/daned/internal/config"
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
	ec := config.Engine{
		Resolver:         u.Addr(),
		ResolverTimeout:  2 * time.Second,
		HeloName:         "daned.test",
		TLSMinVersion:    "1.2",
		ProbePort:        w.SMTPPort(),
		ProbeTimeout:     10 * time.Second,
		ProbeStepTimeout: 3 * time.Second,
		ProbeAllow:       w.ProbeAllow(),
		ProbeConcurrency: 32,
		InsecureMXPolicy: "dane",
		MaxMXHosts:       10,
		FailureTTL:       30 * time.Second,
		ValidateTimeout:  30 * time.Second,
	}
	eng, err := ec.Build()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	srv.Register(g)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
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
