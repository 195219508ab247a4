package testworld_test

import (
	"errors"
	"net"
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
