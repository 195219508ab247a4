package resolver_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daned/daned/resolver"
	"github.com/miekg/dns"
)

const tlsaRR = "_25._tcp.mx.example.com. 3600 IN TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func sigFor(t testing.TB, owner string, covered string) dns.RR {
	return mustRR(t, owner+" 3600 IN RRSIG "+covered+" 13 4 3600 20300101000000 20200101000000 12345 example.com. AAAA")
}

func TestLookup(t *testing.T) {
	soa := func(ttl, min int) string {
		return "example.com. " + strconv.Itoa(ttl) + " IN SOA ns.example.com. host.example.com. 1 7200 3600 1209600 " + strconv.Itoa(min)
	}
	tests := []struct {
		name    string
		qname   string
		qtype   uint16
		cfg     resolver.Config
		handler func(t *testing.T, req *dns.Msg, tcp bool, n int32) *dns.Msg // nil reply: no answer
		wantErr error
		check   func(t *testing.T, a *resolver.Answer, err error, ts *testServer)
	}{
		{
			name:  "AD set is secure",
			qname: "_25._TCP.MX.Example.COM", qtype: dns.TypeTLSA,
			handler: func(t *testing.T, req *dns.Msg, _ bool, _ int32) *dns.Msg {
				m := reply(req, dns.RcodeSuccess, true)
				m.Answer = []dns.RR{mustRR(t, tlsaRR), sigFor(t, "_25._tcp.mx.example.com.", "TLSA")}
				return m
			},
			check: func(t *testing.T, a *resolver.Answer, _ error, _ *testServer) {
				if a.Security != resolver.Secure {
					t.Errorf("Security = %v, want secure", a.Security)
				}
				if a.Name != "_25._tcp.mx.example.com." {
					t.Errorf("Name = %q", a.Name)
				}
				if len(a.Records) != 1 || a.Records[0].Header().Rrtype != dns.TypeTLSA {
					t.Errorf("Records = %v, want one TLSA (RRSIG removed)", a.Records)
				}
				if a.TTL != 3600 || a.Chain != nil || a.NoData() || a.NXDomain() {
					t.Errorf("TTL %d Chain %v NoData %v NXDomain %v", a.TTL, a.Chain, a.NoData(), a.NXDomain())
				}
			},
		},
		{
			name:  "AD clear is insecure",
			qname: "_25._tcp.mx.example.com.", qtype: dns.TypeTLSA,
			handler: func(t *testing.T, req *dns.Msg, _ bool, _ int32) *dns.Msg {
				m := reply(req, dns.RcodeSuccess, false)
				m.Answer = []dns.RR{mustRR(t, tlsaRR)}
				return m
			},
			check: func(t *testing.T, a *resolver.Answer, _ error, _ *testServer) {
				if a.Security != resolver.Insecure || len(a.Records) != 1 {
					t.Errorf("Security = %v, Records %v; want insecure, one record", a.Security, a.Records)
				}
			},
		},
		{
			name:  "NXDOMAIN with SOA gives the RFC 2308 negative TTL",
			qname: "nope.example.com", qtype: dns.TypeA,
			handler: func(t *testing.T, req *dns.Msg, _ bool, _ int32) *dns.Msg {
				m := reply(req, dns.RcodeNameError, true)
				m.Ns = []dns.RR{mustRR(t, soa(3600, 300)), sigFor(t, "example.com.", "SOA")}
				return m
			},
			check: func(t *testing.T, a *resolver.Answer, _ error, _ *testServer) {
				if !a.NXDomain() || a.NoData() || a.TTL != 300 || a.Security != resolver.Secure {
					t.Errorf("NXDomain %v NoData %v TTL %d Security %v; want true false 300 secure", a.NXDomain(), a.NoData(), a.TTL, a.Security)
				}
			},
		},
		{
			name:  "NXDOMAIN without SOA has TTL 0",
			qname: "nope.example.com", qtype: dns.TypeA,
			handler: func(t *testing.T, req *dns.Msg, _ bool, _ int32) *dns.Msg {
				return reply(req, dns.RcodeNameError, false)
			},
			check: func(t *testing.T, a *resolver.Answer, _ error, _ *testServer) {
				if !a.NXDomain() || a.TTL != 0 || a.Security != resolver.Insecure {
					t.Errorf("NXDomain %v TTL %d Security %v", a.NXDomain(), a.TTL, a.Security)
				}
			},
		},
		{
			name:  "NODATA uses the SOA TTL when smaller than MINIMUM",
			qname: "_25._tcp.mx.example.com", qtype: dns.TypeTLSA,
			handler: func(t *testing.T, req *dns.Msg, _ bool, _ int32) *dns.Msg {
				m := reply(req, dns.RcodeSuccess, true)
				m.Ns = []dns.RR{mustRR(t, soa(60, 300))}
				return m
			},
			check: func(t *testing.T, a *resolver.Answer, _ error, _ *testServer) {
				if !a.NoData() || a.NXDomain() || a.TTL != 60 || a.Security != resolver.Secure || len(a.Records) != 0 {
					t.Errorf("NoData %v TTL %d Security %v Records %v", a.NoData(), a.TTL, a.Security, a.Records)
				}
			},
		},
		{
			name:  "CNAME chain of two links, shuffled, is followed with the smallest TTL",
			qname: "mx.example.com", qtype: dns.TypeA,
			handler: func(t *testing.T, req *dns.Msg, _ bool, _ int32) *dns.Msg {
				m := reply(req, dns.RcodeSuccess, true)
				m.Answer = []dns.RR{
					mustRR(t, "c.example.net. 200 IN A 192.0.2.1"),
					mustRR(t, "B.example.org. 100 IN CNAME C.Example.NET."),
					mustRR(t, "unrelated.example. 5 IN A 192.0.2.9"),
					mustRR(t, "mx.example.com. 300 IN CNAME b.example.org."),
					sigFor(t, "c.example.net.", "A"),
				}
				return m
			},
			check: func(t *testing.T, a *resolver.Answer, _ error, _ *testServer) {
				want := []string{"b.example.org.", "c.example.net."}
				if strings.Join(a.Chain, " ") != strings.Join(want, " ") {
					t.Errorf("Chain = %v, want %v", a.Chain, want)
				}
				if len(a.Records) != 1 || a.TTL != 100 || a.Final() != "c.example.net." {
					t.Errorf("Records %v TTL %d Final %s; want 1 record, TTL 100", a.Records, a.TTL, a.Final())
				}
			},
		},
		{
			name:  "CNAME to NXDOMAIN target",
			qname: "mx.example.com", qtype: dns.TypeA,
			handler: func(t *testing.T, req *dns.Msg, _ bool, _ int32) *dns.Msg {
				m := reply(req, dns.RcodeNameError, true)
				m.Answer = []dns.RR{mustRR(t, "mx.example.com. 30 IN CNAME gone.example.com.")}
				m.Ns = []dns.RR{mustRR(t, soa(3600, 300))}
				return m
			},
			check: func(t *testing.T, a *resolver.Answer, _ error, _ *testServer) {
				if !a.NXDomain() || len(a.Chain) != 1 || a.TTL != 30 {
					t.Errorf("NXDomain %v Chain %v TTL %d", a.NXDomain(), a.Chain, a.TTL)
				}
			},
		},
		{
			name:  "DNAME is followed through the synthesized CNAME",
			qname: "www.example.org", qtype: dns.TypeA,
			handler: func(t *testing.T, req *dns.Msg, _ bool, _ int32) *dns.Msg {
				m := reply(req, dns.RcodeSuccess, true)
				m.Answer = []dns.RR{
					mustRR(t, "example.org. 600 IN DNAME example.net."),
					mustRR(t, "www.example.org. 600 IN CNAME www.example.net."),
					mustRR(t, "www.example.net. 60 IN A 192.0.2.2"),
				}
				return m
			},
			check: func(t *testing.T, a *resolver.Answer, _ error, _ *testServer) {
				if len(a.Chain) != 1 || a.Chain[0] != "www.example.net." || len(a.Records) != 1 || a.TTL != 60 {
					t.Errorf("Chain %v Records %v TTL %d", a.Chain, a.Records, a.TTL)
				}
			},
		},
		{
			name:  "CNAME loop is malformed",
			qname: "a.example.com", qtype: dns.TypeA,
			handler: func(t *testing.T, req *dns.Msg, _ bool, _ int32) *dns.Msg {
				m := reply(req, dns.RcodeSuccess, true)
				m.Answer = []dns.RR{
					mustRR(t, "a.example.com. 60 IN CNAME b.example.com."),
					mustRR(t, "b.example.com. 60 IN CNAME A.example.com."),
				}
				return m
			},
			wantErr: resolver.ErrMalformed,
		},
		{
			name:  "CNAME chain longer than MaxChain is malformed",
			qname: "a.example.com", qtype: dns.TypeA,
			cfg: resolver.Config{MaxChain: 2},
			handler: func(t *testing.T, req *dns.Msg, _ bool, _ int32) *dns.Msg {
				m := reply(req, dns.RcodeSuccess, true)
				m.Answer = []dns.RR{
					mustRR(t, "a.example.com. 60 IN CNAME b.example.com."),
					mustRR(t, "b.example.com. 60 IN CNAME c.example.com."),
					mustRR(t, "c.example.com. 60 IN CNAME d.example.com."),
					mustRR(t, "d.example.com. 60 IN A 192.0.2.3"),
				}
				return m
			},
			wantErr: resolver.ErrMalformed,
		},
		{
			name:  "SERVFAIL is ErrServFail after one retry",
			qname: "mx.example.com", qtype: dns.TypeA,
			handler: func(t *testing.T, req *dns.Msg, _ bool, _ int32) *dns.Msg {
				return reply(req, dns.RcodeServerFailure, false)
			},
			wantErr: resolver.ErrServFail,
			check: func(t *testing.T, _ *resolver.Answer, err error, ts *testServer) {
				if n := ts.udpHits.Load(); n != 2 {
					t.Errorf("queries = %d, want 2 (one SERVFAIL retry)", n)
				}
				if qe := asQueryError(t, err); qe.Rcode != dns.RcodeServerFailure || qe.Security != resolver.SecurityUnknown {
					t.Errorf("Rcode %d Security %v", qe.Rcode, qe.Security)
				}
			},
		},
		{
			name:  "SERVFAIL then an answer succeeds",
			qname: "mx.example.com", qtype: dns.TypeA,
			handler: func(t *testing.T, req *dns.Msg, _ bool, n int32) *dns.Msg {
				if n == 1 {
					return reply(req, dns.RcodeServerFailure, false)
				}
				m := reply(req, dns.RcodeSuccess, true)
				m.Answer = []dns.RR{mustRR(t, "mx.example.com. 60 IN A 192.0.2.4")}
				return m
			},
			check: func(t *testing.T, a *resolver.Answer, _ error, _ *testServer) {
				if len(a.Records) != 1 || a.Security != resolver.Secure {
					t.Errorf("Records %v Security %v", a.Records, a.Security)
				}
			},
		},
		{
			name:  "SERVFAIL with EDE 7 is bogus and keeps the text",
			qname: "_25._tcp.mx.example.com", qtype: dns.TypeTLSA,
			handler: func(t *testing.T, req *dns.Msg, _ bool, _ int32) *dns.Msg {
				return reply(req, dns.RcodeServerFailure, false,
					dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeSignatureExpired, ExtraText: "signature expired for example.com. TLSA"})
			},
			wantErr: resolver.ErrBogus,
			check: func(t *testing.T, _ *resolver.Answer, err error, ts *testServer) {
				qe := asQueryError(t, err)
				if qe.Security != resolver.Bogus || len(qe.EDE) != 1 || qe.EDE[0].Code != 7 || qe.EDE[0].Text != "signature expired for example.com. TLSA" {
					t.Errorf("Security %v EDE %v", qe.Security, qe.EDE)
				}
				want := "TLSA _25._tcp.mx.example.com.: DNSSEC validation failed: RRSIG expired (EDE 7 (Signature Expired): signature expired for example.com. TLSA)"
				if err.Error() != want {
					t.Errorf("Error() = %q\nwant      %q", err, want)
				}
				if n := ts.udpHits.Load(); n != 1 {
					t.Errorf("queries = %d, want 1 (bogus is not retried)", n)
				}
			},
		},
		{
			name:  "SERVFAIL with EDE 9 is bogus",
			qname: "mx.example.com", qtype: dns.TypeMX,
			handler: func(t *testing.T, req *dns.Msg, _ bool, _ int32) *dns.Msg {
				return reply(req, dns.RcodeServerFailure, false, dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeDNSKEYMissing})
			},
			wantErr: resolver.ErrBogus,
			check: func(t *testing.T, _ *resolver.Answer, err error, _ *testServer) {
				if qe := asQueryError(t, err); qe.Security != resolver.Bogus {
					t.Errorf("Security %v, want bogus", qe.Security)
				}
			},
		},
		{
			name:  "SERVFAIL with EDE 5 is indeterminate",
			qname: "mx.example.com", qtype: dns.TypeMX,
			handler: func(t *testing.T, req *dns.Msg, _ bool, _ int32) *dns.Msg {
				return reply(req, dns.RcodeServerFailure, false, dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeDNSSECIndeterminate})
			},
			wantErr: resolver.ErrBogus,
			check: func(t *testing.T, _ *resolver.Answer, err error, _ *testServer) {
				if qe := asQueryError(t, err); qe.Security != resolver.Indeterminate {
					t.Errorf("Security %v, want indeterminate", qe.Security)
				}
			},
		},
		{
			name:  "SERVFAIL with EDE 22 is a plain SERVFAIL",
			qname: "mx.example.com", qtype: dns.TypeMX,
			handler: func(t *testing.T, req *dns.Msg, _ bool, _ int32) *dns.Msg {
				return reply(req, dns.RcodeServerFailure, false, dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeNoReachableAuthority})
			},
			wantErr: resolver.ErrServFail,
		},
		{
			name:  "NOERROR with EDE 6 (permissive validator) is bogus, not insecure",
			qname: "_25._tcp.mx.example.com", qtype: dns.TypeTLSA,
			handler: func(t *testing.T, req *dns.Msg, _ bool, _ int32) *dns.Msg {
				m := reply(req, dns.RcodeSuccess, false, dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeDNSBogus})
				m.Answer = []dns.RR{mustRR(t, tlsaRR)}
				return m
			},
			wantErr: resolver.ErrBogus,
		},
		{
			name:  "stale answer (EDE 3) is never DANE input",
			qname: "_25._tcp.mx.example.com", qtype: dns.TypeTLSA,
			handler: func(t *testing.T, req *dns.Msg, _ bool, _ int32) *dns.Msg {
				m := reply(req, dns.RcodeSuccess, true, dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeStaleAnswer})
				m.Answer = []dns.RR{mustRR(t, tlsaRR)}
				return m
			},
			wantErr: resolver.ErrServFail,
			check: func(t *testing.T, _ *resolver.Answer, err error, _ *testServer) {
				if !strings.Contains(err.Error(), "never used as DANE input") {
					t.Errorf("Error() = %q, want it to say why", err)
				}
			},
		},
		{
			name:  "EDE 1 (unsupported algorithm) is an insecure answer",
			qname: "_25._tcp.mx.example.com", qtype: dns.TypeTLSA,
			handler: func(t *testing.T, req *dns.Msg, _ bool, _ int32) *dns.Msg {
				m := reply(req, dns.RcodeSuccess, false, dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeUnsupportedDNSKEYAlgorithm, ExtraText: "alg 253"})
				m.Answer = []dns.RR{mustRR(t, tlsaRR)}
				return m
			},
			check: func(t *testing.T, a *resolver.Answer, _ error, _ *testServer) {
				if a.Security != resolver.Insecure || len(a.EDE) != 1 || a.EDE[0].Code != 1 {
					t.Errorf("Security %v EDE %v", a.Security, a.EDE)
				}
			},
		},
		{
			name:  "REFUSED",
			qname: "mx.example.com", qtype: dns.TypeA,
			handler: func(t *testing.T, req *dns.Msg, _ bool, _ int32) *dns.Msg {
				return reply(req, dns.RcodeRefused, false)
			},
			wantErr: resolver.ErrRefused,
		},
		{
			name:  "unexpected rcode is malformed",
			qname: "mx.example.com", qtype: dns.TypeA,
			handler: func(t *testing.T, req *dns.Msg, _ bool, _ int32) *dns.Msg {
				return reply(req, dns.RcodeNotImplemented, false)
			},
			wantErr: resolver.ErrMalformed,
		},
		{
			name:  "reply for another name is malformed",
			qname: "mx.example.com", qtype: dns.TypeA,
			handler: func(t *testing.T, req *dns.Msg, _ bool, _ int32) *dns.Msg {
				m := reply(req, dns.RcodeSuccess, true)
				m.Question[0].Name = "evil.example."
				m.Answer = []dns.RR{mustRR(t, "evil.example. 60 IN A 192.0.2.66")}
				return m
			},
			wantErr: resolver.ErrMalformed,
		},
		{
			name:  "truncated UDP answer is retried over TCP",
			qname: "_25._tcp.mx.example.com", qtype: dns.TypeTLSA,
			handler: func(t *testing.T, req *dns.Msg, tcp bool, _ int32) *dns.Msg {
				m := reply(req, dns.RcodeSuccess, true)
				if !tcp {
					m.Truncated = true
					return m
				}
				m.Answer = []dns.RR{mustRR(t, tlsaRR)}
				return m
			},
			check: func(t *testing.T, a *resolver.Answer, _ error, ts *testServer) {
				if len(a.Records) != 1 || a.Security != resolver.Secure {
					t.Errorf("Records %v Security %v", a.Records, a.Security)
				}
				if u, c := ts.udpHits.Load(), ts.tcpHits.Load(); u != 1 || c != 1 {
					t.Errorf("udp %d tcp %d queries, want 1 and 1", u, c)
				}
			},
		},
		{
			name:  "truncated over TCP too is malformed",
			qname: "_25._tcp.mx.example.com", qtype: dns.TypeTLSA,
			handler: func(t *testing.T, req *dns.Msg, _ bool, _ int32) *dns.Msg {
				m := reply(req, dns.RcodeSuccess, true)
				m.Truncated = true
				return m
			},
			wantErr: resolver.ErrMalformed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			ts := startServer(t, func(w dns.ResponseWriter, req *dns.Msg) {
				m := tt.handler(t, req, w.RemoteAddr().Network() == "tcp", n.Add(1))
				if m != nil {
					w.WriteMsg(m)
				}
			})
			cfg := tt.cfg
			cfg.Server = ts.addr
			r, err := resolver.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			a, err := r.Lookup(ctx, tt.qname, tt.qtype)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Lookup() = %v, %v; want %v", a, err, tt.wantErr)
				}
				if a != nil {
					t.Errorf("Lookup() answer = %v alongside an error", a)
				}
				asQueryError(t, err)
			} else if err != nil {
				t.Fatalf("Lookup() error = %v", err)
			}
			if tt.check != nil {
				tt.check(t, a, err, ts)
			}
		})
	}
}

func asQueryError(t *testing.T, err error) *resolver.QueryError {
	t.Helper()
	var qe *resolver.QueryError
	if !errors.As(err, &qe) {
		t.Fatalf("error %v (%T) is not a *QueryError", err, err)
	}
	return qe
}
