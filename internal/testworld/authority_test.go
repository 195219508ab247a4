package testworld_test

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/daned/daned/internal/testworld"
)

func zoneAddr(t *testing.T, w *testworld.World, name string) string {
	t.Helper()
	for _, z := range w.Zones() {
		if z.Name == name {
			return z.Addr
		}
	}
	t.Fatalf("no zone %s", name)
	return ""
}

func ask(t *testing.T, addr, netw, name string, qtype uint16, do bool, bufsize uint16) (*dns.Msg, error) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = false
	if bufsize > 0 {
		m.SetEdns0(bufsize, do)
	}
	c := &dns.Client{Net: netw, Timeout: 2 * time.Second, UDPSize: bufsize}
	r, _, err := c.Exchange(m, addr)
	return r, err
}

func countType(rrs []dns.RR, t uint16) int {
	n := 0
	for _, rr := range rrs {
		if rr.Header().Rrtype == t {
			n++
		}
	}
	return n
}

func TestAuthoritativeServers(t *testing.T) {
	w := testworld.StartT(t, testworld.Options{})
	tld := zoneAddr(t, w, "test.")

	t.Run("referral with DS", func(t *testing.T) {
		r, err := ask(t, tld, "udp", "mx.ee-spki.test", dns.TypeA, true, 1232)
		if err != nil {
			t.Fatal(err)
		}
		if r.Authoritative || len(r.Answer) != 0 || countType(r.Ns, dns.TypeNS) != 1 || countType(r.Ns, dns.TypeDS) != 1 || countType(r.Ns, dns.TypeRRSIG) != 1 || countType(r.Extra, dns.TypeA) != 1 {
			t.Errorf("bad referral:\n%s", r)
		}
	})
	t.Run("insecure referral proves no DS", func(t *testing.T) {
		r, err := ask(t, tld, "udp", "mx.unsigned.test", dns.TypeA, true, 1232)
		if err != nil {
			t.Fatal(err)
		}
		if countType(r.Ns, dns.TypeDS) != 0 || countType(r.Ns, dns.TypeNSEC) != 1 || countType(r.Ns, dns.TypeRRSIG) != 1 {
			t.Errorf("bad insecure referral:\n%s", r)
		}
	})
	t.Run("DS at the cut is answered by the parent", func(t *testing.T) {
		r, err := ask(t, tld, "udp", "ee-spki.test", dns.TypeDS, true, 1232)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Authoritative || countType(r.Answer, dns.TypeDS) != 1 || countType(r.Answer, dns.TypeRRSIG) != 1 {
			t.Errorf("bad DS answer:\n%s", r)
		}
	})
	t.Run("no RRSIGs without DO", func(t *testing.T) {
		r, err := ask(t, zoneAddr(t, w, "ee-spki.test."), "udp", "nope.ee-spki.test", dns.TypeA, false, 0)
		if err != nil {
			t.Fatal(err)
		}
		if r.Rcode != dns.RcodeNameError || countType(r.Ns, dns.TypeRRSIG)+countType(r.Ns, dns.TypeNSEC) != 0 || r.IsEdns0() != nil {
			t.Errorf("bad plain NXDOMAIN:\n%s", r)
		}
	})
	t.Run("NXDOMAIN with NSEC proof", func(t *testing.T) {
		r, err := ask(t, tld, "udp", "nxdomain.test", dns.TypeMX, true, 1232)
		if err != nil {
			t.Fatal(err)
		}
		if r.Rcode != dns.RcodeNameError || !r.Authoritative || countType(r.Ns, dns.TypeSOA) != 1 || countType(r.Ns, dns.TypeNSEC) < 1 || r.IsEdns0() == nil || !r.IsEdns0().Do() {
			t.Errorf("bad NXDOMAIN:\n%s", r)
		}
	})
	t.Run("large TLSA: truncated over UDP, whole over TCP", func(t *testing.T) {
		z := zoneAddr(t, w, "big-tlsa.test.")
		r, err := ask(t, z, "udp", "_25._tcp.mx.big-tlsa.test", dns.TypeTLSA, true, 1232)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Truncated {
			t.Errorf("UDP answer not truncated (%d octets)", r.Len())
		}
		r, err = ask(t, z, "tcp", "_25._tcp.mx.big-tlsa.test", dns.TypeTLSA, true, 1232)
		if err != nil {
			t.Fatal(err)
		}
		if r.Truncated || countType(r.Answer, dns.TypeTLSA) != 4 {
			t.Errorf("bad TCP answer:\n%s", r)
		}
	})
	t.Run("SERVFAIL name", func(t *testing.T) {
		r, err := ask(t, zoneAddr(t, w, "tlsa-servfail.test."), "udp", "_25._tcp.mx.tlsa-servfail.test", dns.TypeTLSA, true, 1232)
		if err != nil {
			t.Fatal(err)
		}
		if r.Rcode != dns.RcodeServerFailure {
			t.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
		}
	})
	t.Run("dead zone never answers", func(t *testing.T) {
		m := new(dns.Msg)
		m.SetQuestion("_25._tcp.mx.dead.test.", dns.TypeTLSA)
		_, _, err := (&dns.Client{Timeout: 300 * time.Millisecond}).Exchange(m, zoneAddr(t, w, "dead.test."))
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("err = %v, want a timeout", err)
		}
	})
}

// A zone whose scenario asks for NSEC3 denies with NSEC3 proofs (RFC 5155
// §7.2) and no NSEC; NoDenial strips them.
func TestNSEC3Denial(t *testing.T) {
	w := testworld.StartT(t, testworld.Options{})
	// matching is the name whose hash must own one of the proof's NSEC3
	// records: the closest encloser of an NXDOMAIN, the name itself for
	// NODATA. The other records of an NXDOMAIN proof (covering the next
	// closer name and the wildcard) may be the same record.
	tests := []struct {
		name, zone, qname string
		qtype             uint16
		rcode             int
		matching          string // "" when the proof is stripped
	}{
		{"NXDOMAIN: closest encloser proof", "nsec3-notlsa.test.", "_25._tcp.mx.nsec3-notlsa.test", dns.TypeTLSA, dns.RcodeNameError, "mx.nsec3-notlsa.test."},
		{"NODATA: the matching record", "nsec3-notlsa.test.", "mx.nsec3-notlsa.test", dns.TypeAAAA, dns.RcodeSuccess, "mx.nsec3-notlsa.test."},
		{"NODATA at an empty non-terminal", "nsec3-ee.test.", "_tcp.mx.nsec3-ee.test", dns.TypeA, dns.RcodeSuccess, "_tcp.mx.nsec3-ee.test."},
		{"stripped denial", "tlsa-nodenial-nsec3.test.", "_25._tcp.mx.tlsa-nodenial-nsec3.test", dns.TypeTLSA, dns.RcodeNameError, ""},
		{"stripped ancestor's NXDOMAIN", "tlsa-nodenial-nsec3.test.", "_tcp.mx.tlsa-nodenial-nsec3.test", dns.TypeA, dns.RcodeNameError, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ask(t, zoneAddr(t, w, tt.zone), "udp", tt.qname, tt.qtype, true, 1232)
			if err != nil {
				t.Fatal(err)
			}
			if r.Rcode != tt.rcode || countType(r.Ns, dns.TypeNSEC) != 0 {
				t.Fatalf("rcode %d with %d NSEC; want %d and none:\n%s", r.Rcode, countType(r.Ns, dns.TypeNSEC), tt.rcode, r)
			}
			if tt.matching == "" {
				if n := countType(r.Ns, dns.TypeNSEC3); n != 0 {
					t.Fatalf("%d NSEC3 records in a stripped denial:\n%s", n, r)
				}
				return
			}
			want := strings.ToLower(dns.HashName(tt.matching, dns.SHA1, 0, "")) + "." + tt.zone
			found := false
			for _, rr := range r.Ns {
				found = found || (rr.Header().Rrtype == dns.TypeNSEC3 && rr.Header().Name == want)
			}
			if !found || countType(r.Ns, dns.TypeNSEC3) > 3 || countType(r.Ns, dns.TypeRRSIG) < 2 {
				t.Fatalf("no signed NSEC3 record owned by the hash of %s (%s):\n%s", tt.matching, want, r)
			}
			for _, rr := range r.Ns {
				if n3, ok := rr.(*dns.NSEC3); ok && (n3.Iterations != 0 || n3.Salt != "" || n3.Hash != dns.SHA1) {
					t.Errorf("NSEC3 parameters %v: want SHA-1, 0 iterations, no salt (RFC 9276)", n3)
				}
			}
		})
	}
}
