package resolver_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/daned/daned/resolver"
)

// Public is what a mail admin sees: the failure and the resolver's reason,
// never daned's own sockets.
func TestQueryErrorPublic(t *testing.T) {
	e := &resolver.QueryError{
		Name: "_25._tcp.mx.example.com.", Type: dns.TypeTLSA, Kind: resolver.ErrBogus, Reason: resolver.BogusReason(nil, "signature expired"),
		EDE: []resolver.EDE{{Code: 7, Text: "signature expired"}},
		Err: errors.New("read udp 127.0.0.1:40404->127.0.0.1:53: i/o timeout"),
	}
	pub := e.Public()
	if strings.Contains(pub, "127.0.0.1") || strings.Contains(pub, "udp") {
		t.Fatalf("Public leaks the socket: %q", pub)
	}
	for _, want := range []string{"TLSA _25._tcp.mx.example.com.", "DNSSEC validation failed", "RRSIG expired", "EDE 7"} {
		if !strings.Contains(pub, want) {
			t.Errorf("Public %q lacks %q", pub, want)
		}
	}
	if !strings.HasPrefix(e.Error(), pub) || !strings.Contains(e.Error(), "i/o timeout") {
		t.Fatalf("Error %q must keep the cause for logs", e.Error())
	}
}
