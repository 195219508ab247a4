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

// recordingLookup answers every lookup with a and remembers the names
// and types asked.
type recordingLookup struct {
	a     *resolver.Answer
	asked []string
}

func (r *recordingLookup) Lookup(_ context.Context, name string, qtype uint16) (*resolver.Answer, error) {
	r.asked = append(r.asked, name+" "+dns.TypeToString[qtype])
	return r.a, nil
}

// TestBuiltTLSRPTRecords: the diagnostics page asks for a domain's
// TLS-RPT records by the domain; the lookup is the reporter's, at the
// domain's _smtp._tls name.
func TestBuiltTLSRPTRecords(t *testing.T) {
	txt := &dns.TXT{Hdr: dns.RR_Header{Name: "_smtp._tls.example.com.", Rrtype: dns.TypeTXT, Class: dns.ClassINET},
		Txt: []string{"v=TLSRPTv1; rua=mailto:r@example.com"}}
	l := &recordingLookup{a: &resolver.Answer{Security: resolver.Secure, Records: []dns.RR{txt}}}
	got, err := (&Built{Lookup: l}).TLSRPTRecords(context.Background(), "example.com")
	if err != nil || !slices.Equal(got, []string{"v=TLSRPTv1; rua=mailto:r@example.com"}) {
		t.Errorf("TLSRPTRecords = %q, %v", got, err)
	}
	if !slices.Equal(l.asked, []string{"_smtp._tls.example.com TXT"}) && !slices.Equal(l.asked, []string{"_smtp._tls.example.com. TXT"}) {
		t.Errorf("asked %q, want the TXT records at _smtp._tls.example.com", l.asked)
	}
	if _, err := (&Built{}).TLSRPTRecords(context.Background(), "example.com"); err == nil {
		t.Error("TLSRPTRecords without a resolver: no error")
	}
}
