package dane_test

import (
	"slices"
	"testing"

	"github.com/daned/daned/dane"
)

func TestApplies(t *testing.T) {
	// base is a host of a secure MX RRset with secure addresses and no
	// alias: DANE applies. Each case changes what it names.
	base := dane.HostFacts{Name: "mx.example.com", MXSecure: true, MXState: "secure", AddressSecure: true, AddressState: "secure"}
	with := func(f func(*dane.HostFacts)) dane.HostFacts {
		h := base
		f(&h)
		return h
	}
	insecureAddrs := func(h *dane.HostFacts) { h.AddressSecure, h.AddressState = false, "insecure" }
	tests := []struct {
		name       string
		facts      dane.HostFacts
		want       bool
		why        string // exact; "" when DANE applies
		linkMatter bool
	}{
		{name: "secure MX, secure addresses (RFC 7672 §2.2.2)", facts: base, want: true},
		{name: "insecure MX under policy dane still judged by its own records (RFC 7672 §2.2.1)",
			facts: with(func(h *dane.HostFacts) { h.MXSecure, h.MXState = false, "insecure" }), want: true},
		{name: "insecure MX under policy may (RFC 7672 §2.2.1)",
			facts: with(func(h *dane.HostFacts) { h.MXSecure, h.MXState, h.InsecureMXMay = false, "insecure", true }),
			why:   `the MX RRset is insecure: no DANE for mx.example.com (insecure MX policy "may", RFC 7672 §2.2.1)`},
		{name: "policy may is moot for a secure MX",
			facts: with(func(h *dane.HostFacts) { h.InsecureMXMay = true }), want: true},
		{name: "insecure MX under may wins over an IP literal",
			facts: with(func(h *dane.HostFacts) {
				h.Name, h.MXSecure, h.MXState, h.InsecureMXMay, h.IPLiteral = "192.0.2.1", false, "insecure", true, true
			}),
			why: `the MX RRset is insecure: no DANE for 192.0.2.1 (insecure MX policy "may", RFC 7672 §2.2.1)`},
		{name: "IP literal (RFC 7672 §2.2)",
			facts: with(func(h *dane.HostFacts) { h.Name, h.IPLiteral = "2001:db8::25", true }),
			why:   "MX host 2001:db8::25 is an IP address: no DANE (RFC 7672 §2.2)"},
		{name: "insecure addresses, no alias (RFC 7672 §2.2.2)", facts: with(insecureAddrs),
			why: "the addresses of mx.example.com are insecure: no DANE for this host (RFC 7672 §2.2.2)"},
		{name: "insecure addresses, no alias: a secure first link is not read",
			facts: with(func(h *dane.HostFacts) { insecureAddrs(h); h.FirstLinkSecure = true }),
			why:   "the addresses of mx.example.com are insecure: no DANE for this host (RFC 7672 §2.2.2)"},
		{name: "alias with a secure first link (RFC 7672 §2.2.2)",
			facts: with(func(h *dane.HostFacts) { insecureAddrs(h); h.CNAME, h.FirstLinkSecure = true, true }),
			want:  true, linkMatter: true},
		{name: "alias insecure from the start",
			facts: with(func(h *dane.HostFacts) { insecureAddrs(h); h.CNAME = true }),
			why:   "the addresses of mx.example.com are insecure: no DANE for this host (RFC 7672 §2.2.2)", linkMatter: true},
		{name: "secure alias: the first link is not needed",
			facts: with(func(h *dane.HostFacts) { h.CNAME = true }), want: true},
		{name: "the state word is the caller's",
			facts: with(func(h *dane.HostFacts) { h.AddressSecure, h.AddressState = false, "bogus" }),
			why:   "the addresses of mx.example.com are bogus: no DANE for this host (RFC 7672 §2.2.2)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, why := dane.Applies(tt.facts)
			if ok != tt.want || why != tt.why {
				t.Errorf("Applies = %v, %q; want %v, %q", ok, why, tt.want, tt.why)
			}
			if got := tt.facts.FirstLinkMatters(); got != tt.linkMatter {
				t.Errorf("FirstLinkMatters = %v, want %v", got, tt.linkMatter)
			}
			if !tt.linkMatter {
				// The first link must not change an answer it does not matter to.
				flipped := tt.facts
				flipped.FirstLinkSecure = !flipped.FirstLinkSecure
				if ok2, why2 := dane.Applies(flipped); ok2 != ok || why2 != why {
					t.Errorf("FirstLinkSecure=%v changed the answer to %v, %q", flipped.FirstLinkSecure, ok2, why2)
				}
			}
		})
	}
}

func TestTLSABaseCandidates(t *testing.T) {
	tests := []struct {
		name        string
		host        string
		chain       []string
		chainSecure bool
		want        []string
	}{
		{"not an alias", "mx.example.com", nil, true, []string{"mx.example.com"}},
		{"not an alias, insecure", "mx.example.com", nil, false, []string{"mx.example.com"}},
		{"secure alias: expanded name, then original (RFC 7672 §2.2.3)", "mx.example.com", []string{"mx.hosting.example"}, true,
			[]string{"mx.hosting.example", "mx.example.com"}},
		{"secure two-link alias: no intermediate name (RFC 7671 §7)", "mx.example.com", []string{"a.example.net", "b.example.org"}, true,
			[]string{"b.example.org", "mx.example.com"}},
		{"alias not secure throughout: original only (RFC 7672 §2.2.2)", "mx.example.com", []string{"a.example.net", "b.example.org"}, false,
			[]string{"mx.example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dane.TLSABaseCandidates(tt.host, tt.chain, tt.chainSecure); !slices.Equal(got, tt.want) {
				t.Errorf("TLSABaseCandidates = %q, want %q", got, tt.want)
			}
		})
	}
}
