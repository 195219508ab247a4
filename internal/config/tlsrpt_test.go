package config

import (
	"context"
	"slices"
	"testing"

	"github.com/miekg/dns"

	"github.com/daned/daned/resolver"
)

type oneAnswer struct{ a *resolver.Answer }

func (o oneAnswer) Lookup(context.Context, string, uint16) (*resolver.Answer, error) { return o.a, nil }

// TestTLSRPTRecordLookup: the reporter gets the TXT records' strings
// joined, and no addresses from an answer that failed DNSSEC validation.
func TestTLSRPTRecordLookup(t *testing.T) {
	txt := &dns.TXT{Hdr: dns.RR_Header{Name: "_smtp._tls.example.com.", Rrtype: dns.TypeTXT, Class: dns.ClassINET},
		Txt: []string{"v=TLSRPTv1; ", "rua=mailto:r@example.com"}}
	for _, sec := range []resolver.Security{resolver.Secure, resolver.Insecure} {
		got, err := txtRecords{oneAnswer{&resolver.Answer{Security: sec, Records: []dns.RR{txt}}}}.LookupTXT(context.Background(), "_smtp._tls.example.com.")
		if err != nil || !slices.Equal(got, []string{"v=TLSRPTv1; rua=mailto:r@example.com"}) {
			t.Errorf("%v: %q %v", sec, got, err)
		}
	}
	for _, sec := range []resolver.Security{resolver.Bogus, resolver.Indeterminate} {
		if got, err := (txtRecords{oneAnswer{&resolver.Answer{Security: sec, Records: []dns.RR{txt}}}}).LookupTXT(context.Background(), "_smtp._tls.example.com."); err == nil {
			t.Errorf("%v: %q, want an error", sec, got)
		}
	}
}
