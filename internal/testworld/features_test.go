package testworld_test

import (
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/daned/daned/internal/testworld"
)

// TestScenarioFeatures checks the switches the RFC 7672 hard cases need:
// an apex host, a dead second address, TLSA records at a non-host name, a
// CNAME in "test.", leaf names and the expired intermediate.
func TestScenarioFeatures(t *testing.T) {
	w := testworld.StartT(t, testworld.Options{Scenarios: []testworld.ScenarioSpec{
		{Name: "apex", NoMX: true, Hosts: []testworld.HostSpec{{Name: "@", DeadAddr: true,
			Cert: testworld.CertSpec{Issuer: testworld.ExpiredCAIssued, NoSANs: true, Chain: testworld.LeafIntermediateRoot}}},
			Records: []string{"alias.{z} CNAME apex.test."},
			TLSAAt: []testworld.NamedTLSA{{Name: "alias", Host: "apex.test", TLSA: []testworld.TLSASpec{
				{Usage: 3, Selector: 1, MatchingType: 1, UpperHex: true}}}}},
		{Name: "cn", Hosts: []testworld.HostSpec{{Name: "mx", Cert: testworld.CertSpec{Issuer: testworld.CAIssued, CN: "mx.{z}", SANs: []string{"other.example"}}}}},
		{Name: "via", NoZone: true, CNAME: "apex.test."},
	}})
	zoneAddr := map[string]string{}
	for _, z := range w.Zones() {
		zoneAddr[z.Name] = z.Addr
	}

	h, ok := w.Host("apex.test")
	if !ok || len(h.Addrs) != 2 {
		t.Fatalf("apex host %+v: want a host at the apex with two addresses", h)
	}
	if _, err := net.DialTimeout("tcp", h.Addrs[0].String(), 5*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dead address %s: %v, want connection refused", h.Addrs[0], err)
	}
	if c, err := net.DialTimeout("tcp", h.Addrs[1].String(), 5*time.Second); err != nil {
		t.Errorf("live address %s: %v", h.Addrs[1], err)
	} else {
		c.Close()
	}
	r := query(t, zoneAddr["apex.test."], "udp", "apex.test.", dns.TypeA)
	if n := len(r.Answer); n != 3 { // two A records and their RRSIG
		t.Errorf("apex A answer has %d records, want 2 A + RRSIG: %v", n, r.Answer)
	}

	leaf := h.Chain[0]
	if len(leaf.DNSNames) != 0 || leaf.Subject.CommonName != "apex.test" {
		t.Errorf("NoSANs leaf: CN %q SANs %v", leaf.Subject.CommonName, leaf.DNSNames)
	}
	if len(h.Chain) != 3 || !h.Chain[1].Equal(w.PKI().ExpiredIntermediate.Cert) || !w.Now().After(h.Chain[1].NotAfter) {
		t.Errorf("chain does not carry the expired intermediate")
	}

	r = query(t, zoneAddr["apex.test."], "udp", "_25._tcp.alias.apex.test.", dns.TypeTLSA)
	want := strings.ToUpper(testworld.TLSAData(leaf, 1, 1))
	if len(r.Answer) == 0 || !strings.EqualFold(r.Answer[0].(*dns.TLSA).Certificate, want) {
		t.Errorf("TLSA at the alias %v, want 3 1 1 of the apex host's leaf", r.Answer)
	}

	cn, _ := w.Host("mx.cn.test")
	if c := cn.Chain[0]; c.Subject.CommonName != "mx.cn.test" || len(c.DNSNames) != 1 || c.DNSNames[0] != "other.example" {
		t.Errorf("leaf CN %q SANs %v, want CN mx.cn.test and SAN other.example", c.Subject.CommonName, c.DNSNames)
	}

	r = query(t, zoneAddr["test."], "udp", "via.test.", dns.TypeMX)
	if len(r.Answer) == 0 || r.Answer[0].Header().Rrtype != dns.TypeCNAME || r.Answer[0].(*dns.CNAME).Target != "apex.test." {
		t.Errorf("via.test answer %v, want a CNAME to apex.test.", r.Answer)
	}
	if _, ok := w.Scenario("via.test"); !ok {
		t.Errorf("via.test is not listed as a scenario")
	}
}
