package resolver

import (
	"errors"
	"testing"

	"github.com/miekg/dns"
)

// fuzzSeeds are replies worth mutating: an answer with a CNAME chain, a
// negative answer with SOA, a bogus SERVFAIL with EDE.
func fuzzSeeds(t testing.TB) [][]byte {
	t.Helper()
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	q := new(dns.Msg)
	q.SetQuestion("mx.example.com.", dns.TypeA)
	q.SetEdns0(1232, true)

	chain := new(dns.Msg)
	chain.SetReply(q)
	chain.AuthenticatedData = true
	chain.Answer = []dns.RR{
		rr("mx.example.com. 300 IN CNAME b.example.org."),
		rr("b.example.org. 100 IN CNAME c.example.net."),
		rr("c.example.net. 200 IN A 192.0.2.1"),
	}

	nx := new(dns.Msg)
	nx.SetRcode(q, dns.RcodeNameError)
	nx.Ns = []dns.RR{rr("example.com. 3600 IN SOA ns.example.com. host.example.com. 1 7200 3600 1209600 300")}

	bogus := new(dns.Msg)
	bogus.SetRcode(q, dns.RcodeServerFailure)
	bogus.SetEdns0(1232, true)
	opt := bogus.IsEdns0()
	opt.Option = append(opt.Option, &dns.EDNS0_EDE{InfoCode: 7, ExtraText: "expired"}, &dns.EDNS0_EDE{InfoCode: 3})

	var out [][]byte
	for _, m := range []*dns.Msg{chain, nx, bogus} {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

var sentinels = []error{ErrServFail, ErrBogus, ErrTimeout, ErrRefused, ErrMalformed, ErrNetwork}

// checkParse runs parseReply and checks the invariants that must hold for
// any reply whatsoever.
func checkParse(t *testing.T, qname string, qtype uint16, m *dns.Msg, maxChain int) {
	t.Helper()
	ans, err := parseReply(qname, qtype, m, maxChain)
	if (ans == nil) == (err == nil) {
		t.Fatalf("parseReply() = %v, %v: want exactly one of answer and error", ans, err)
	}
	if err != nil {
		var qe *QueryError
		if !errors.As(err, &qe) {
			t.Fatalf("error %v is not a *QueryError", err)
		}
		known := false
		for _, s := range sentinels {
			known = known || qe.Kind == s
		}
		if !known {
			t.Fatalf("Kind %v is not a sentinel", qe.Kind)
		}
		if (qe.Kind == ErrBogus) != (qe.Security == Bogus || qe.Security == Indeterminate) {
			t.Fatalf("Kind %v with Security %v", qe.Kind, qe.Security)
		}
		_ = qe.Error()
		return
	}
	if ans.Security == Secure && !m.AuthenticatedData {
		t.Fatal("Secure without AD")
	}
	if ans.Security != Secure && ans.Security != Insecure {
		t.Fatalf("answer with Security %v", ans.Security)
	}
	if ans.Rcode != dns.RcodeSuccess && ans.Rcode != dns.RcodeNameError {
		t.Fatalf("answer with rcode %d", ans.Rcode)
	}
	if len(ans.Chain) > maxChain {
		t.Fatalf("chain %v longer than %d", ans.Chain, maxChain)
	}
	for _, rr := range ans.Records {
		if rr.Header().Rrtype != qtype {
			t.Fatalf("record %v is not of type %d", rr, qtype)
		}
	}
	for _, e := range ans.EDE {
		_ = e.String()
	}
}

// FuzzParseReply feeds arbitrary wire bytes, as a network reply would be,
// through the function that turns a reply into an Answer or a QueryError.
func FuzzParseReply(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s, uint8(3))
	}
	f.Fuzz(func(t *testing.T, b []byte, maxChain uint8) {
		m := new(dns.Msg)
		if err := m.Unpack(b); err != nil {
			return // the exchanger reports these as ErrMalformed
		}
		mc := int(maxChain%16) + 1
		// Once as an answer to the question it carries, to get past the
		// question check, and once to a fixed question.
		if len(m.Question) == 1 {
			q := m.Question[0]
			if name := dns.CanonicalName(q.Name); len(name) <= 255 {
				checkParse(t, name, q.Qtype, m, mc)
			}
		}
		checkParse(t, "mx.example.com.", dns.TypeA, m, mc)
	})
}

func TestParseReplyEdgeCases(t *testing.T) {
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	base := func(rcode int, answer ...dns.RR) *dns.Msg {
		q := new(dns.Msg)
		q.SetQuestion("a.example.com.", dns.TypeA)
		m := new(dns.Msg)
		m.SetRcode(q, rcode)
		m.Answer = answer
		return m
	}
	tests := []struct {
		name    string
		m       *dns.Msg
		wantErr error
	}{
		{name: "nil reply", m: nil, wantErr: ErrMalformed},
		{name: "no question", m: func() *dns.Msg { m := base(0); m.Question = nil; return m }(), wantErr: ErrMalformed},
		{name: "QR clear", m: func() *dns.Msg { m := base(0); m.Response = false; return m }(), wantErr: ErrMalformed},
		{name: "wrong type", m: func() *dns.Msg { m := base(0); m.Question[0].Qtype = dns.TypeAAAA; return m }(), wantErr: ErrMalformed},
		{name: "wrong class", m: func() *dns.Msg { m := base(0); m.Question[0].Qclass = dns.ClassCHAOS; return m }(), wantErr: ErrMalformed},
		{name: "0x20 case in the echoed question is fine", m: func() *dns.Msg { m := base(0); m.Question[0].Name = "A.eXample.COM."; return m }()},
		{name: "CNAME with two targets", m: base(0, rr("a.example.com. 60 IN CNAME b.example.com."), rr("a.example.com. 60 IN CNAME c.example.com.")), wantErr: ErrMalformed},
		{name: "CNAME beside data", m: base(0, rr("a.example.com. 60 IN CNAME b.example.com."), rr("a.example.com. 60 IN A 192.0.2.1")), wantErr: ErrMalformed},
		{name: "duplicate CNAME is fine", m: base(0, rr("a.example.com. 60 IN CNAME b.example.com."), rr("a.example.com. 30 IN CNAME b.example.com."), rr("b.example.com. 60 IN A 192.0.2.1"))},
		{name: "self CNAME", m: base(0, rr("a.example.com. 60 IN CNAME a.example.com.")), wantErr: ErrMalformed},
		{name: "NXDOMAIN with records", m: base(dns.RcodeNameError, rr("a.example.com. 60 IN A 192.0.2.1")), wantErr: ErrMalformed},
		{name: "forged answer EDE 4", m: func() *dns.Msg {
			m := base(0, rr("a.example.com. 60 IN A 192.0.2.1"))
			m.SetEdns0(1232, true)
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_EDE{InfoCode: 4})
			return m
		}(), wantErr: ErrServFail},
		{name: "SERVFAIL with EDE 5 and 6 is bogus", m: func() *dns.Msg {
			m := base(dns.RcodeServerFailure)
			m.SetEdns0(1232, true)
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_EDE{InfoCode: 5}, &dns.EDNS0_EDE{InfoCode: 6})
			return m
		}(), wantErr: ErrBogus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ans, err := parseReply("a.example.com.", dns.TypeA, tt.m, 8)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("parseReply() error = %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("parseReply() = %v, %v; want %v", ans, err, tt.wantErr)
			}
			if tt.m != nil {
				checkParse(t, "a.example.com.", dns.TypeA, tt.m, 8)
			}
			if tt.name == "SERVFAIL with EDE 5 and 6 is bogus" {
				if qe := err.(*QueryError); qe.Security != Bogus {
					t.Errorf("Security = %v, want bogus", qe.Security)
				}
			}
		})
	}
}
