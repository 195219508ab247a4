package conformance_test

import (
	"testing"

	"github.com/daned/daned/internal/conformance"
)

// Lines as posttls-finger 3.7 prints them (trimmed to what Parse reads).
func TestParse(t *testing.T) {
	const (
		tlsa    = "posttls-finger: dns_query: _25._tcp.mx.x.test (TLSA): OK\n"
		conn    = "posttls-finger: connect_addr: trying: mx.x.test[127.1.2.3] port 25...\nposttls-finger: Connected to mx.x.test[127.1.2.3]:25\n"
		ehloTLS = "posttls-finger: < 250-STARTTLS\nposttls-finger: > STARTTLS\n"
		ehloNo  = "posttls-finger: < 250 8BITMIME\nposttls-finger: > QUIT\n"
	)
	tests := []struct {
		name   string
		out    string
		domain conformance.Outcome
		host   conformance.Outcome
	}{
		{"verified", tlsa + conn + ehloTLS + "posttls-finger: Verified TLS connection established to mx.x.test[127.1.2.3]:25: TLSv1.3\n", "", conformance.Verified},
		{"trusted", "posttls-finger: MX RRset insecure: log verified as trusted\n" + tlsa + conn + ehloTLS + "posttls-finger: Trusted TLS connection established to mx.x.test[127.1.2.3]:25: TLSv1.3\n", "", conformance.Trusted},
		{"auth failure", tlsa + conn + ehloTLS + "posttls-finger: server certificate verification failed for mx.x.test[127.1.2.3]:25: num=65:no matching DANE TLSA records\nposttls-finger: Untrusted TLS connection established to mx.x.test[127.1.2.3]:25: TLSv1.3\n", "", conformance.AuthFailure},
		{"no TLSA: untrusted", conn + ehloTLS + "posttls-finger: certificate verification failed for mx.x.test[127.1.2.3]:25: self-signed certificate\nposttls-finger: Untrusted TLS connection established to mx.x.test[127.1.2.3]:25: TLSv1.3\n", "", conformance.Untrusted},
		{"unusable TLSA: untrusted", tlsa + "posttls-finger: no usable TLSA records found, resorting to \"secure\"\n" + conn + ehloTLS + "posttls-finger: Untrusted TLS connection established to mx.x.test[127.1.2.3]:25: TLSv1.3\n", "", conformance.Untrusted},
		{"malformed TLSA: untrusted", tlsa + conn + ehloTLS + "posttls-finger: warning: mx.x.test[127.1.2.3]:25: all TLSA records unusable, fallback to unauthenticated TLS\nposttls-finger: Untrusted TLS connection established to mx.x.test[127.1.2.3]:25: TLSv1.3\n", "", conformance.Untrusted},
		{"no STARTTLS with TLSA", tlsa + conn + ehloNo, "", conformance.NoSTARTTLS},
		{"no STARTTLS without TLSA", conn + ehloNo, "", conformance.NoTLS},
		{"STARTTLS refused", tlsa + conn + ehloTLS + "posttls-finger: STARTTLS rejected: 454 4.7.0 TLS not available\n", "", conformance.NoSTARTTLS},
		{"TLSA lookup error", "posttls-finger: Failed to establish session to x.test via mx.x.test: TLSA lookup error for mx.x.test:25\n", "", conformance.DNSFailure},
		{"refused", "posttls-finger: Failed to establish session to x.test via mx.x.test: connect to mx.x.test[127.1.2.3]:25: Connection refused\n", "", conformance.ConnectFailure},
		{"tarpit", tlsa + conn + "posttls-finger: timeout while reading server greeting\n", "", conformance.ConnectFailure},
		{"bogus MX", "posttls-finger: Destination address lookup failed: Host or domain name not found. Name service error for name=x.test type=MX: Host not found, try again\n", conformance.DNSFailure, ""},
		{"nxdomain", "posttls-finger: Destination address lookup failed: Host or domain name not found. Name service error for name=x.test type=AAAA: Host not found\n", conformance.NoMail, ""},
		{"null MX", "posttls-finger: Destination address lookup failed: Domain x.test does not accept mail (nullMX)\n", conformance.NoMail, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := conformance.Parse(tt.out)
			if o.Domain != tt.domain {
				t.Errorf("domain %q, want %q", o.Domain, tt.domain)
			}
			if got := o.Hosts["mx.x.test"]; got != tt.host {
				t.Errorf("host %q, want %q (evidence %q)", got, tt.host, o.Evidence["mx.x.test"])
			}
		})
	}
}
