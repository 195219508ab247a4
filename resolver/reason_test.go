package resolver_test

import (
	"testing"

	"github.com/daned/daned/resolver"
)

func TestBogusReason(t *testing.T) {
	tests := []struct {
		name string
		ede  []resolver.EDE
		why  string
		want string
	}{
		{name: "nothing known"},
		{name: "why: expired", why: "validation failure <x. MX IN>: signature expired from 192.0.2.1 for key x. while building chain of trust", want: resolver.ReasonSigExpired},
		{name: "why: not yet valid", why: "signature before inception date from 192.0.2.1", want: resolver.ReasonSigNotYetValid},
		{name: "why: DS mismatch", why: "no keys have a DS with algorithm ECDSAP256SHA256 from 192.0.2.1 for key x.", want: resolver.ReasonDSMismatch},
		{name: "why: DNSKEY missing", why: "No DNSKEY record from 192.0.2.1 for key x.", want: resolver.ReasonDNSKEYMissing},
		{name: "why: RRSIG missing", why: "validation failure <_25._tcp.mx.x. TLSA IN>: no signatures from 192.0.2.1", want: resolver.ReasonRRSIGMissing},
		{name: "why: denial stripped", why: "validation failure <_25._tcp.mx.x. TLSA IN>: no DNSSEC records from 192.0.2.1 for DS _tcp.mx.x. while building chain of trust", want: resolver.ReasonDenialMissing},
		{name: "why: denial", why: "validation failure <_25._tcp.mx.x. TLSA IN>: nodata proof failed from 192.0.2.1", want: resolver.ReasonDenialMissing},
		{name: "why: NXDOMAIN denial", why: "nameerror proof failed from 192.0.2.1", want: resolver.ReasonDenialMissing},
		{name: "why: crypto", why: "signature crypto failed from 192.0.2.1", want: resolver.ReasonSigInvalid},
		{name: "why: cached bad key keeps the first reason",
			why:  "key for validation x. is marked as invalid because of a previous validation failure <x. MX IN>: signature expired from 192.0.2.1",
			want: resolver.ReasonSigExpired},
		{name: "why: unreachable", why: "upstream server timeout", want: resolver.ReasonNoAuthority},
		{name: "EDE 9 with Unbound's DS text is a DS mismatch",
			ede:  []resolver.EDE{{Code: 9, Text: "validation failure <x. MX IN>: no keys have a DS with algorithm RSASHA256"}},
			want: resolver.ReasonDSMismatch},
		{name: "EDE 7 without text", ede: []resolver.EDE{{Code: 7}}, want: resolver.ReasonSigExpired},
		{name: "EDE 8", ede: []resolver.EDE{{Code: 8}}, want: resolver.ReasonSigNotYetValid},
		{name: "EDE 9", ede: []resolver.EDE{{Code: 9}}, want: resolver.ReasonDNSKEYMissing},
		{name: "EDE 10", ede: []resolver.EDE{{Code: 10}}, want: resolver.ReasonRRSIGMissing},
		{name: "EDE 11", ede: []resolver.EDE{{Code: 11}}, want: resolver.ReasonNoZoneKeyBit},
		{name: "EDE 12", ede: []resolver.EDE{{Code: 12}}, want: resolver.ReasonDenialMissing},
		{name: "EDE 6", ede: []resolver.EDE{{Code: 6}}, want: resolver.ReasonBogus},
		{name: "EDE 5", ede: []resolver.EDE{{Code: 5}}, want: resolver.ReasonIndeterminate},
		{name: "EDE 1 is insecure", ede: []resolver.EDE{{Code: 1}}, want: resolver.ReasonUnsupportedAlg},
		{name: "EDE 2 is insecure", ede: []resolver.EDE{{Code: 2}}, want: resolver.ReasonUnsupportedHash},
		{name: "EDE 22", ede: []resolver.EDE{{Code: 22}}, want: resolver.ReasonNoAuthority},
		{name: "EDE 23", ede: []resolver.EDE{{Code: 23}}, want: resolver.ReasonNetworkError},
		{name: "a DNSSEC code beats a network one", ede: []resolver.EDE{{Code: 22}, {Code: 7}}, want: resolver.ReasonSigExpired},
		{name: "a specific code beats EDE 6", ede: []resolver.EDE{{Code: 6}, {Code: 10}}, want: resolver.ReasonRRSIGMissing},
		{name: "why beats the codes", ede: []resolver.EDE{{Code: 6}}, why: "signature expired", want: resolver.ReasonSigExpired},
		{name: "unknown code", ede: []resolver.EDE{{Code: 60000}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resolver.BogusReason(tt.ede, tt.why); got != tt.want {
				t.Errorf("BogusReason(%v, %q) = %q, want %q", tt.ede, tt.why, got, tt.want)
			}
		})
	}
}
