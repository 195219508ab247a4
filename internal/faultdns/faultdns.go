// Package faultdns is a fault-injecting DNS proxy for tests: it listens on
// UDP and TCP on one loopback port, forwards queries to an upstream
// resolver (the test world's Unbound), and can be switched at any time to
// drop queries, answer late, answer garbage, truncate, or SERVFAIL.
//
// It is for tests only: it trusts its upstream, caches nothing and makes
// no attempt at being a correct resolver of its own.
package faultdns

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Fault is what the proxy does to the queries it receives.
type Fault int

const (
	// None forwards every query and returns the upstream's reply (the
	// zero value).
	None Fault = iota
	// Down drops every query without an answer, like a dead or
	// unreachable resolver: the client can only time out.
	Down
	// Slow forwards every query but holds the reply for the proxy's
	// delay (SetDelay) first.
	Slow
	// Garbage answers with the query's ID followed by random bytes that
	// do not parse as a DNS message.
	Garbage
	// Truncate answers over UDP with TC set and no records, and closes
	// a TCP connection without answering: the client can get no usable
	// answer at all.
	Truncate
	// ServFail answers every query with SERVFAIL.
	ServFail
)

var faultNames = [...]string{None: "none", Down: "down", Slow: "slow", Garbage: "garbage", Truncate: "truncate", ServFail: "servfail"}

// String returns the fault's name, such as "down".
func (f Fault) String() string {
	if f >= 0 && int(f) < len(faultNames) {
		return faultNames[f]
	}
	return fmt.Sprintf("Fault(%d)", int(f))
}

// Faults lists every fault but None.
func Faults() []Fault { return []Fault{Down, Slow, Garbage, Truncate, ServFail} }

// Proxy is a running fault-injecting DNS proxy. Its methods are safe for
// concurrent use.
type Proxy struct {
	upstream string
	addr     string
	udp, tcp *dns.Server

	fault   atomic.Int64
	only    atomic.Pointer[[]uint16] // nil: every query type
	delay   atomic.Int64             // time.Duration for Slow
	queries atomic.Int64
	faulted atomic.Int64

	closeOnce sync.Once
	done      chan struct{}
}

// DefaultDelay is how long Slow holds a reply unless SetDelay says
// otherwise.
const DefaultDelay = 5 * time.Second

// Start listens on 127.0.0.1:0 (UDP and TCP on the same port) and
// forwards to upstream ("host:port"). It returns once both listeners
// are ready.
func Start(upstream string) (*Proxy, error) {
	p := &Proxy{upstream: upstream, done: make(chan struct{})}
	p.delay.Store(int64(DefaultDelay))
	var pc net.PacketConn
	var ln net.Listener
	var err error
	// The same port on both transports: try a few UDP ports until TCP
	// can have the same one.
	for range 20 {
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("faultdns: no port free on both UDP and TCP: %w", err)
	}
	p.addr = pc.LocalAddr().String()
	udpUp, tcpUp := make(chan struct{}), make(chan struct{})
	p.udp = &dns.Server{PacketConn: pc, Handler: p.handler("udp"), NotifyStartedFunc: func() { close(udpUp) }}
	p.tcp = &dns.Server{Listener: ln, Handler: p.handler("tcp"), NotifyStartedFunc: func() { close(tcpUp) }}
	errc := make(chan error, 2)
	go func() { errc <- p.udp.ActivateAndServe() }()
	go func() { errc <- p.tcp.ActivateAndServe() }()
	for _, up := range []chan struct{}{udpUp, tcpUp} {
		select {
		case <-up:
		case err := <-errc:
			p.Close()
			return nil, fmt.Errorf("faultdns: serving: %w", err)
		case <-time.After(5 * time.Second):
			p.Close()
			return nil, errors.New("faultdns: listeners did not start within 5s")
		}
	}
	return p, nil
}

// Addr is the proxy's "127.0.0.1:port", the same on UDP and TCP.
func (p *Proxy) Addr() string { return p.addr }

// Set switches the fault applied to queries from now on.
func (p *Proxy) Set(f Fault) { p.fault.Store(int64(f)) }

// SetOnly limits the fault to queries of these types (such as
// dns.TypeTLSA); with none, every query meets it.
func (p *Proxy) SetOnly(qtypes ...uint16) {
	if len(qtypes) == 0 {
		p.only.Store(nil)
		return
	}
	q := append([]uint16(nil), qtypes...)
	p.only.Store(&q)
}

// Fault returns the fault in force.
func (p *Proxy) Fault() Fault { return Fault(p.fault.Load()) }

// SetDelay sets how long Slow holds each reply.
func (p *Proxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

// Stats returns how many queries arrived and how many of them met a fault.
func (p *Proxy) Stats() (queries, faulted int64) { return p.queries.Load(), p.faulted.Load() }

// Close stops both listeners. Queries held by Down or Slow are released.
func (p *Proxy) Close() error {
	var err error
	p.closeOnce.Do(func() {
		close(p.done)
		err = errors.Join(p.udp.Shutdown(), p.tcp.Shutdown())
	})
	return err
}

func (p *Proxy) handler(network string) dns.Handler {
	client := &dns.Client{Net: network, Timeout: 10 * time.Second}
	return dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		p.queries.Add(1)
		f := p.Fault()
		if only := p.only.Load(); only != nil && f != None && (len(q.Question) != 1 || !slices.Contains(*only, q.Question[0].Qtype)) {
			f = None
		}
		if f != None {
			p.faulted.Add(1)
		}
		switch f {
		case Down:
			if network == "tcp" {
				// Hold the connection open, as a resolver that accepted
				// and hung would.
				<-p.done
			}
			return
		case Garbage:
			b := make([]byte, 12+rand.IntN(200))
			for i := range b {
				b[i] = byte(rand.UintN(256))
			}
			b[0], b[1] = byte(q.Id>>8), byte(q.Id)
			b[2] |= 0x80 // QR: it claims to be a reply
			// Claim more records than the bytes can hold, so it never
			// unpacks.
			b[6], b[7] = 0xff, 0xff
			_, _ = w.Write(b)
			return
		case Truncate:
			if network == "tcp" {
				_ = w.Close()
				return
			}
			m := new(dns.Msg)
			m.SetReply(q)
			m.Truncated = true
			_ = w.WriteMsg(m)
			return
		case ServFail:
			m := new(dns.Msg)
			m.SetRcode(q, dns.RcodeServerFailure)
			_ = w.WriteMsg(m)
			return
		case Slow:
			select {
			case <-time.After(time.Duration(p.delay.Load())):
			case <-p.done:
				return
			}
		}
		r, _, err := client.Exchange(q, p.upstream)
		if err != nil {
			m := new(dns.Msg)
			m.SetRcode(q, dns.RcodeServerFailure)
			_ = w.WriteMsg(m)
			return
		}
		_ = w.WriteMsg(r)
	})
}
