package faultdns_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/daned/daned/internal/faultdns"
)

// upstream is a tiny authoritative server answering every A query with
// 192.0.2.1, on UDP and TCP.
func upstream(t *testing.T) string {
	t.Helper()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)})
		_ = w.WriteMsg(m)
	})
	// One port for UDP and TCP: another service may hold the TCP side of
	// the port the system picked for UDP, so try a few.
	var pc net.PacketConn
	var ln net.Listener
	for attempt := 0; ln == nil; attempt++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err != nil {
			_ = pc.Close()
			if attempt == 10 {
				t.Fatalf("no port free on both UDP and TCP: %v", err)
			}
		}
	}
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		go func() { _ = s.ActivateAndServe() }()
		t.Cleanup(func() { _ = s.Shutdown() })
	}
	return pc.LocalAddr().String()
}

func TestProxy(t *testing.T) {
	p, err := faultdns.Start(upstream(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	p.SetDelay(300 * time.Millisecond)
	q := new(dns.Msg)
	q.SetQuestion("a.example.", dns.TypeA)

	tests := []struct {
		fault faultdns.Fault
		check func(t *testing.T, r *dns.Msg, rtt time.Duration, err error)
	}{
		{faultdns.None, answered},
		{faultdns.Down, func(t *testing.T, r *dns.Msg, _ time.Duration, err error) {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Errorf("reply %v, err %v; want a timeout", r, err)
			}
		}},
		{faultdns.Slow, func(t *testing.T, r *dns.Msg, rtt time.Duration, err error) {
			answered(t, r, rtt, err)
			if rtt < 300*time.Millisecond {
				t.Errorf("answered after %v, want ≥ 300ms", rtt)
			}
		}},
		{faultdns.Garbage, func(t *testing.T, r *dns.Msg, _ time.Duration, err error) {
			if err == nil {
				t.Errorf("garbage parsed: %v", r)
			}
		}},
		{faultdns.ServFail, func(t *testing.T, r *dns.Msg, _ time.Duration, err error) {
			if err != nil || r.Rcode != dns.RcodeServerFailure {
				t.Errorf("reply %v, err %v; want SERVFAIL", r, err)
			}
		}},
	}
	for _, network := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: network, Timeout: time.Second}
		for _, tt := range tests {
			t.Run(network+"/"+tt.fault.String(), func(t *testing.T) {
				p.Set(tt.fault)
				defer p.Set(faultdns.None)
				r, rtt, err := c.Exchange(q, p.Addr())
				tt.check(t, r, rtt, err)
			})
		}
	}
	t.Run("truncate", func(t *testing.T) {
		p.Set(faultdns.Truncate)
		defer p.Set(faultdns.None)
		r, _, err := (&dns.Client{Net: "udp", Timeout: time.Second}).Exchange(q, p.Addr())
		if err != nil || !r.Truncated || len(r.Answer) != 0 {
			t.Errorf("UDP: reply %v, err %v; want TC and no records", r, err)
		}
		if r, _, err := (&dns.Client{Net: "tcp", Timeout: time.Second}).Exchange(q, p.Addr()); err == nil {
			t.Errorf("TCP: reply %v, want no answer", r)
		}
	})
	t.Run("only AAAA", func(t *testing.T) {
		p.Set(faultdns.ServFail)
		p.SetOnly(dns.TypeAAAA)
		defer func() { p.Set(faultdns.None); p.SetOnly() }()
		r, rtt, err := (&dns.Client{Net: "udp", Timeout: time.Second}).Exchange(q, p.Addr())
		answered(t, r, rtt, err)
		q6 := new(dns.Msg)
		q6.SetQuestion("a.example.", dns.TypeAAAA)
		if r, _, err := (&dns.Client{Net: "udp", Timeout: time.Second}).Exchange(q6, p.Addr()); err != nil || r.Rcode != dns.RcodeServerFailure {
			t.Errorf("AAAA: reply %v, err %v; want SERVFAIL", r, err)
		}
	})
	t.Run("recovers", func(t *testing.T) {
		p.Set(faultdns.None)
		r, rtt, err := (&dns.Client{Net: "udp", Timeout: time.Second}).Exchange(q, p.Addr())
		answered(t, r, rtt, err)
	})
	if n, f := p.Stats(); n < 12 || f < 10 {
		t.Errorf("stats: %d queries, %d faulted; want at least 12 and 10", n, f)
	}
	if got := faultdns.Fault(42).String(); got != "Fault(42)" {
		t.Errorf("String = %q", got)
	}
}

func answered(t *testing.T, r *dns.Msg, _ time.Duration, err error) {
	t.Helper()
	if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("reply %v, err %v; want one A record", r, err)
	}
}
