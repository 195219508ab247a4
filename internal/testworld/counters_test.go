package testworld_test

import (
	"bufio"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/daned/daned/internal/testworld"
)

// countWorld is one signed zone whose MX host has two addresses.
func countWorld(t *testing.T) *testworld.World {
	t.Helper()
	return testworld.StartT(t, testworld.Options{Scenarios: []testworld.ScenarioSpec{{
		Name: "count", Description: "two addresses", RFC: "RFC 7672", Expect: "pass (dane-ee)",
		Hosts: []testworld.HostSpec{{Name: "mx", ExtraAddrs: 1, TLSA: []testworld.TLSASpec{{Usage: 3, Selector: 1, MatchingType: 1}}}},
	}}})
}

// TestQueriesCounted: the world counts, per name and type, the queries
// reaching its name servers over UDP and TCP; a referral counts at the
// parent; nothing is counted that was not asked.
func TestQueriesCounted(t *testing.T) {
	w := countWorld(t)
	var zoneAddr, testAddr string
	for _, z := range w.Zones() {
		switch z.Name {
		case "count.test.":
			zoneAddr = z.Addr
		case "test.":
			testAddr = z.Addr
		}
	}
	if n := w.Queries("count.test", dns.TypeMX); n != 0 {
		t.Fatalf("%d MX queries before any was sent", n)
	}
	query(t, zoneAddr, "udp", "count.test", dns.TypeMX)
	query(t, zoneAddr, "udp", "COUNT.test.", dns.TypeMX)
	query(t, zoneAddr, "tcp", "count.test", dns.TypeMX)
	query(t, zoneAddr, "udp", "_25._tcp.mx.count.test", dns.TypeTLSA)
	query(t, testAddr, "udp", "mx.count.test", dns.TypeA) // a referral
	tests := []struct {
		name  string
		qtype uint16
		want  int64
	}{
		{"count.test", dns.TypeMX, 3},
		{"_25._tcp.mx.count.test.", dns.TypeTLSA, 1},
		{"mx.count.test", dns.TypeA, 1},
		{"mx.count.test", dns.TypeAAAA, 0},
		{"count.test", dns.TypeDNSKEY, 0},
	}
	for _, tt := range tests {
		if n := w.Queries(tt.name, tt.qtype); n != tt.want {
			t.Errorf("Queries(%s, %s) = %d, want %d", tt.name, dns.TypeToString[tt.qtype], n, tt.want)
		}
	}
	at := w.QueriesAt("count.test")
	want := map[testworld.Question]int64{
		{Name: "count.test.", Type: dns.TypeMX}:               3,
		{Name: "_25._tcp.mx.count.test.", Type: dns.TypeTLSA}: 1,
	}
	if len(at) != len(want) {
		t.Errorf("QueriesAt(count.test) = %v, want %v", at, want)
	}
	for q, n := range want {
		if at[q] != n {
			t.Errorf("QueriesAt(count.test)[%v] = %d, want %d", q, at[q], n)
		}
	}
	if at := w.QueriesAt("test"); at[testworld.Question{Name: "mx.count.test.", Type: dns.TypeA}] != 1 || len(at) != 1 {
		t.Errorf("QueriesAt(test) = %v, want the one referral", at)
	}
}

// TestConnectionsCounted: the world counts per address the SMTP
// connections accepted and the TLS handshakes begun, so a test can tell
// how often each address was probed.
func TestConnectionsCounted(t *testing.T) {
	w := countWorld(t)
	h, _ := w.Host("mx.count.test")
	if len(h.Addrs) != 2 {
		t.Fatalf("addresses %v, want 2", h.Addrs)
	}
	a, b := h.Addrs[0], h.Addrs[1]
	smtpSession(t, a.String(), h.Name, true)
	smtpSession(t, a.String(), h.Name, false)
	smtpSession(t, b.String(), h.Name, true)
	for _, tt := range []struct {
		name              string
		conns, handshakes int64
		got               func() (int64, int64)
	}{
		{"first address", 2, 1, func() (int64, int64) { return w.Connections(a), w.Handshakes(a) }},
		{"second address", 1, 1, func() (int64, int64) { return w.Connections(b), w.Handshakes(b) }},
	} {
		if c, hs := tt.got(); c != tt.conns || hs != tt.handshakes {
			t.Errorf("%s: %d connections and %d handshakes, want %d and %d", tt.name, c, hs, tt.conns, tt.handshakes)
		}
	}
}

// TestHold: a held host's server keeps a new session before its banner
// until release; then it greets as usual.
func TestHold(t *testing.T) {
	w := countWorld(t)
	h, _ := w.Host("mx.count.test")
	release := w.Hold(h.Name)
	c, err := net.DialTimeout("tcp", h.Addrs[0].String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Held: nothing comes within a while (a false pass at worst, never
	// a false failure).
	r := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if l, err := r.ReadString('\n'); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a held server sent %q (%v)", l, err)
	}
	if w.Connections(h.Addrs[0]) != 1 {
		t.Fatalf("%d connections accepted, want the held one", w.Connections(h.Addrs[0]))
	}
	release()
	release()
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	if l, err := r.ReadString('\n'); !strings.HasPrefix(l, "220 ") {
		t.Fatalf("after release: %q (%v), want the banner", l, err)
	}
	// Later sessions are not held.
	if _, rep, _ := smtpSession(t, h.Addrs[1].String(), h.Name, true); !strings.HasPrefix(rep, "220") {
		t.Errorf("STARTTLS reply %q after release", rep)
	}
}
