package testworld_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/daned/daned/internal/testworld"
)

// query sends one DO query to addr with its own deadline.
func query(t *testing.T, addr, netw, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(4096, true)
	c := &dns.Client{Net: netw, Timeout: 10 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s via %s/%s: %v", name, dns.TypeToString[qtype], addr, netw, err)
	}
	return r
}

func edes(r *dns.Msg) []*dns.EDNS0_EDE {
	var out []*dns.EDNS0_EDE
	if opt := r.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				out = append(out, e)
			}
		}
	}
	return out
}

func TestUnboundValidatesWorld(t *testing.T) {
	w := testworld.StartT(t, testworld.Options{})
	u := testworld.StartUnboundT(t, w)

	tests := []struct {
		name    string
		qname   string
		qtype   uint16
		netw    string
		rcodes  []int
		ad      bool
		ede     uint16 // 0: no EDE required
		answers bool   // at least one answer RR
	}{
		{name: "ee-spki MX secure", qname: "ee-spki.test", qtype: dns.TypeMX, rcodes: []int{dns.RcodeSuccess}, ad: true, answers: true},
		{name: "ee-spki TLSA secure", qname: "_25._tcp.mx.ee-spki.test", qtype: dns.TypeTLSA, rcodes: []int{dns.RcodeSuccess}, ad: true, answers: true},
		{name: "ta TLSA over TCP", qname: "_25._tcp.mx.ta.test", qtype: dns.TypeTLSA, netw: "tcp", rcodes: []int{dns.RcodeSuccess}, ad: true, answers: true},
		{name: "unsigned MX insecure", qname: "unsigned.test", qtype: dns.TypeMX, rcodes: []int{dns.RcodeSuccess}, answers: true},
		{name: "insecure-mx MX insecure", qname: "insecure-mx.test", qtype: dns.TypeMX, rcodes: []int{dns.RcodeSuccess}, answers: true},
		{name: "expired-rrsig bogus", qname: "expired-rrsig.test", qtype: dns.TypeMX, rcodes: []int{dns.RcodeServerFailure}, ede: dns.ExtendedErrorCodeSignatureExpired},
		{name: "future-rrsig bogus", qname: "future-rrsig.test", qtype: dns.TypeMX, rcodes: []int{dns.RcodeServerFailure}, ede: dns.ExtendedErrorCodeSignatureNotYetValid},
		{name: "ds-mismatch bogus", qname: "ds-mismatch.test", qtype: dns.TypeMX, rcodes: []int{dns.RcodeServerFailure}, ede: dns.ExtendedErrorCodeDNSKEYMissing},
		{name: "no-dnskey bogus", qname: "no-dnskey.test", qtype: dns.TypeMX, rcodes: []int{dns.RcodeServerFailure}, ede: dns.ExtendedErrorCodeDNSKEYMissing},
		{name: "tlsa-nosig bogus", qname: "_25._tcp.mx.tlsa-nosig.test", qtype: dns.TypeTLSA, rcodes: []int{dns.RcodeServerFailure}, ede: dns.ExtendedErrorCodeRRSIGsMissing},
		{name: "tlsa-servfail", qname: "_25._tcp.mx.tlsa-servfail.test", qtype: dns.TypeTLSA, rcodes: []int{dns.RcodeServerFailure}},
		{name: "tlsa-servfail MX still fine", qname: "tlsa-servfail.test", qtype: dns.TypeMX, rcodes: []int{dns.RcodeSuccess}, ad: true, answers: true},
		{name: "nxdomain proven", qname: "nxdomain.test", qtype: dns.TypeMX, rcodes: []int{dns.RcodeNameError}, ad: true},
		{name: "notlsa denial proven", qname: "_25._tcp.mx.notlsa.test", qtype: dns.TypeTLSA, rcodes: []int{dns.RcodeSuccess, dns.RcodeNameError}, ad: true},
		{name: "notlsa NODATA proven", qname: "mx.notlsa.test", qtype: dns.TypeTLSA, rcodes: []int{dns.RcodeSuccess}, ad: true},
		{name: "nullmx secure", qname: "nullmx.test", qtype: dns.TypeMX, rcodes: []int{dns.RcodeSuccess}, ad: true, answers: true},
		{name: "cname-mx alias secure", qname: "alias.cname-mx.test", qtype: dns.TypeA, rcodes: []int{dns.RcodeSuccess}, ad: true, answers: true},
		{name: "tlsa-cname secure", qname: "_25._tcp.mx.tlsa-cname.test", qtype: dns.TypeTLSA, rcodes: []int{dns.RcodeSuccess}, ad: true, answers: true},
		{name: "big-tlsa over TCP to the authority", qname: "_25._tcp.mx.big-tlsa.test", qtype: dns.TypeTLSA, netw: "tcp", rcodes: []int{dns.RcodeSuccess}, ad: true, answers: true},
		{name: "ipv6 AAAA secure", qname: "mx.ipv6.test", qtype: dns.TypeAAAA, rcodes: []int{dns.RcodeSuccess}, ad: true, answers: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			netw := tt.netw
			if netw == "" {
				netw = "udp"
			}
			r := query(t, u.Addr(), netw, tt.qname, tt.qtype)
			for _, e := range edes(r) {
				t.Logf("EDE %d (%s): %s", e.InfoCode, dns.ExtendedErrorCodeToString[e.InfoCode], e.ExtraText)
			}
			if !slices.Contains(tt.rcodes, r.Rcode) {
				t.Fatalf("rcode %s, want one of %v\n%s", dns.RcodeToString[r.Rcode], tt.rcodes, r)
			}
			if r.AuthenticatedData != tt.ad {
				t.Errorf("AD = %v, want %v", r.AuthenticatedData, tt.ad)
			}
			if tt.answers && len(r.Answer) == 0 {
				t.Errorf("no answer records")
			}
			if tt.ede != 0 {
				var codes []uint16
				for _, e := range edes(r) {
					codes = append(codes, e.InfoCode)
				}
				if !slices.Contains(codes, tt.ede) {
					t.Errorf("EDE codes %v, want %d (%s)", codes, tt.ede, dns.ExtendedErrorCodeToString[tt.ede])
				}
			}
		})
	}

	t.Run("tlsa-timeout gets no usable answer", func(t *testing.T) {
		// Unbound 1.17 drops the client's query after discard-timeout
		// (1.9 s) while the dead server is retried, so no reply or a
		// SERVFAIL are both right; an answer is not.
		m := new(dns.Msg)
		m.SetQuestion("_25._tcp.mx.tlsa-timeout.test.", dns.TypeTLSA)
		m.SetEdns0(4096, true)
		c := &dns.Client{Timeout: 2500 * time.Millisecond}
		r, _, err := c.Exchange(m, u.Addr())
		if err == nil && r.Rcode != dns.RcodeServerFailure {
			t.Errorf("got an answer:\n%s", r)
		}
		t.Logf("err=%v", err)
	})

	t.Run("TLSA data matches the served key", func(t *testing.T) {
		h, ok := w.Host("mx.ee-spki.test")
		if !ok {
			t.Fatal("no host mx.ee-spki.test")
		}
		r := query(t, u.Addr(), "udp", "_25._tcp.mx.ee-spki.test", dns.TypeTLSA)
		var got []string
		for _, rr := range r.Answer {
			if tl, ok := rr.(*dns.TLSA); ok {
				got = append(got, strings.ToLower(tl.Certificate))
			}
		}
		want := testworld.TLSAData(h.Chain[0], 1, 1)
		if !slices.Contains(got, want) {
			t.Errorf("TLSA data %v, want %s", got, want)
		}
	})
}

func TestUnboundCheckconf(t *testing.T) {
	w := testworld.StartT(t, testworld.Options{})
	u := testworld.StartUnboundT(t, w)
	bin, _ := testworld.UnboundBinary()
	checkconf := filepath.Join(filepath.Dir(bin), "unbound-checkconf")
	if p, err := exec.LookPath("unbound-checkconf"); err == nil {
		checkconf = p
	}
	out, err := exec.Command(checkconf, u.ConfigFile()).CombinedOutput()
	if err != nil {
		t.Fatalf("unbound-checkconf: %v\n%s", err, out)
	}
	t.Logf("%s", bytes.TrimSpace(out))
}

// smtpSession runs banner, EHLO and (if offered and wanted) STARTTLS.
func smtpSession(t *testing.T, addr, sni string, startTLS bool) (ehlo []string, starttlsReply string, state *tls.ConnectionState) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	readReply := func() []string {
		var lines []string
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			l = strings.TrimRight(l, "\r\n")
			lines = append(lines, l)
			if len(l) < 4 || l[3] != '-' {
				return lines
			}
		}
	}
	if b := readReply(); !strings.HasPrefix(b[0], "220 ") {
		t.Fatalf("banner %q", b)
	}
	_, _ = c.Write([]byte("EHLO client.test\r\n"))
	ehlo = readReply()
	if !startTLS {
		_, _ = c.Write([]byte("QUIT\r\n"))
		return ehlo, "", nil
	}
	_, _ = c.Write([]byte("STARTTLS\r\n"))
	rep := readReply()
	starttlsReply = rep[0]
	if !strings.HasPrefix(starttlsReply, "220") {
		return ehlo, starttlsReply, nil
	}
	tc := tls.Client(c, &tls.Config{ServerName: sni, InsecureSkipVerify: true}) // DANE, not PKIX, judges: here we only capture
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	st := tc.ConnectionState()
	r = bufio.NewReader(tc)
	c = tc
	_, _ = c.Write([]byte("EHLO client.test\r\n"))
	if again := readReply(); slices.Contains(again, "250-STARTTLS") {
		t.Errorf("STARTTLS offered again inside TLS: %q", again)
	}
	_, _ = c.Write([]byte("QUIT\r\n"))
	if q := readReply(); !strings.HasPrefix(q[0], "221") {
		t.Errorf("QUIT reply %q", q)
	}
	return ehlo, starttlsReply, &st
}

func hasSTARTTLS(ehlo []string) bool {
	for _, l := range ehlo {
		if len(l) > 4 && strings.EqualFold(l[4:], "STARTTLS") {
			return true
		}
	}
	return false
}

func TestSMTPServers(t *testing.T) {
	w := testworld.StartT(t, testworld.Options{})

	for _, tc := range []struct{ host string }{{"mx.ee-spki.test"}, {"mx.ta.test"}, {"mx.ta-intermediate.test"}, {"mx.ta-expired.test"}} {
		t.Run("chain "+tc.host, func(t *testing.T) {
			h, ok := w.Host(tc.host)
			if !ok {
				t.Fatalf("no host %s", tc.host)
			}
			ehlo, rep, st := smtpSession(t, h.Addrs[0].String(), tc.host, true)
			if !hasSTARTTLS(ehlo) {
				t.Fatalf("EHLO does not offer STARTTLS: %q", ehlo)
			}
			if st == nil {
				t.Fatalf("STARTTLS reply %q", rep)
			}
			if len(st.PeerCertificates) != len(h.Chain) {
				t.Fatalf("got %d certificates, want %d", len(st.PeerCertificates), len(h.Chain))
			}
			for i := range h.Chain {
				if !st.PeerCertificates[i].Equal(h.Chain[i]) {
					t.Errorf("certificate %d differs from the configured chain", i)
				}
			}
			if sni := w.SNISeen(tc.host); !slices.Contains(sni, tc.host) {
				t.Errorf("SNI seen %q, want %q", sni, tc.host)
			}
		})
	}

	t.Run("ipv6 host answers on ::1 too", func(t *testing.T) {
		h, _ := w.Host("mx.ipv6.test")
		if len(h.Addrs) != 2 || !h.Addrs[1].Addr().Is6() {
			t.Fatalf("addrs %v", h.Addrs)
		}
		for _, a := range h.Addrs {
			if _, _, st := smtpSession(t, a.String(), h.Name, true); st == nil || !st.PeerCertificates[0].Equal(h.Chain[0]) {
				t.Errorf("%s: wrong or no chain", a)
			}
		}
	})

	t.Run("nostarttls", func(t *testing.T) {
		h, _ := w.Host("mx.nostarttls.test")
		ehlo, rep, _ := smtpSession(t, h.Addrs[0].String(), h.Name, true)
		if hasSTARTTLS(ehlo) || !strings.HasPrefix(rep, "502") {
			t.Errorf("EHLO %q, STARTTLS reply %q", ehlo, rep)
		}
	})

	t.Run("starttls refused", func(t *testing.T) {
		h, _ := w.Host("mx.starttls-refused.test")
		ehlo, rep, _ := smtpSession(t, h.Addrs[0].String(), h.Name, true)
		if !hasSTARTTLS(ehlo) || !strings.HasPrefix(rep, "454") {
			t.Errorf("EHLO %q, STARTTLS reply %q", ehlo, rep)
		}
	})

	t.Run("refused", func(t *testing.T) {
		h, _ := w.Host("mx.refused.test")
		_, err := net.DialTimeout("tcp", h.Addrs[0].String(), 5*time.Second)
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial: %v, want connection refused", err)
		}
	})

	t.Run("scenario hosts are in the probe block", func(t *testing.T) {
		allow := w.ProbeAllow()
		for _, s := range w.Scenarios() {
			for _, h := range s.Hosts {
				for _, a := range h.Addrs {
					if a.Port() != uint16(w.SMTPPort()) || !slices.ContainsFunc(allow, func(p netip.Prefix) bool { return p.Contains(a.Addr()) }) {
						t.Errorf("%s: %s outside %v or wrong port", h.Name, a, allow)
					}
				}
			}
		}
	})
}
