package testworld

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SMTPMode selects how a test SMTP server behaves.
type SMTPMode int

const (
	// STARTTLS: EHLO offers STARTTLS and the server completes the TLS
	// handshake with its chain (the zero value).
	STARTTLS SMTPMode = iota
	// NoSTARTTLS: EHLO does not offer STARTTLS; STARTTLS gets 502.
	NoSTARTTLS
	// RefuseSTARTTLS: EHLO offers STARTTLS but the command gets 454.
	RefuseSTARTTLS
	// NoListener: the address is allocated but nothing listens, so a
	// connection is refused.
	NoListener
	// Tarpit: connections are accepted and never written to.
	Tarpit
	// SlowDrip: the banner is an endless multi-line 220 reply written
	// one byte every DripInterval, so no single read ever times out.
	SlowDrip
	// EndlessReply: the banner is an endless multi-line 220 reply
	// written as fast as the client reads it.
	EndlessReply
	// StallHandshake: EHLO offers STARTTLS and the command gets 220, then
	// the server reads the ClientHello and never answers it.
	StallHandshake
	// GarbageAfterSTARTTLS: EHLO offers STARTTLS and the command gets
	// 220, then the server writes bytes that are not TLS.
	GarbageAfterSTARTTLS
)

// DripInterval is the pause between two bytes of a SlowDrip banner.
const DripInterval = 100 * time.Millisecond

func (m SMTPMode) String() string {
	switch m {
	case STARTTLS:
		return "starttls"
	case NoSTARTTLS:
		return "no-starttls"
	case RefuseSTARTTLS:
		return "starttls-refused"
	case NoListener:
		return "no-listener"
	case Tarpit:
		return "tarpit"
	case SlowDrip:
		return "slow-drip"
	case EndlessReply:
		return "endless-reply"
	case StallHandshake:
		return "stall-handshake"
	case GarbageAfterSTARTTLS:
		return "garbage-after-starttls"
	}
	return fmt.Sprintf("SMTPMode(%d)", int(m))
}

// smtpIdle bounds how long a test SMTP session may sit idle.
const smtpIdle = 2 * time.Minute

// smtpServer is a tiny ESMTP server: banner, EHLO, STARTTLS, QUIT, and
// MAIL/RCPT/DATA keeping what it accepted (World.Received).
type smtpServer struct {
	hostname string
	mode     SMTPMode
	delay    time.Duration
	tlsConf  *tls.Config
	ln       net.Listener

	// accepted counts the connections taken, whatever became of them.
	accepted atomic.Int64
	// gate, while set (World.Hold), holds each new session before its
	// banner until the channel is closed.
	gate atomic.Pointer[chan struct{}]

	mu     sync.Mutex
	conns  map[net.Conn]bool
	snis   []string
	mail   []Message // accepted with DATA
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup
}

func newSMTPServer(hostname string, mode SMTPMode, delay time.Duration, chain []*x509.Certificate, key any) *smtpServer {
	s := &smtpServer{hostname: hostname, mode: mode, delay: delay, conns: map[net.Conn]bool{}, done: make(chan struct{})}
	if len(chain) > 0 {
		c := tls.Certificate{PrivateKey: key, Leaf: chain[0]}
		for _, x := range chain {
			c.Certificate = append(c.Certificate, x.Raw)
		}
		s.tlsConf = &tls.Config{
			Certificates: []tls.Certificate{c},
			MinVersion:   tls.VersionTLS12,
			GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
				s.mu.Lock()
				s.snis = append(s.snis, hello.ServerName)
				s.mu.Unlock()
				return nil, nil
			},
		}
	}
	return s
}

func (s *smtpServer) serve(ln net.Listener) {
	s.ln = ln
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				c.Close()
				return
			}
			s.conns[c] = true
			s.wg.Add(1)
			s.mu.Unlock()
			go func() {
				defer s.wg.Done()
				s.handle(c)
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
		}
	}()
}

func (s *smtpServer) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.done)
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	if s.ln != nil {
		s.ln.Close()
	}
	s.wg.Wait()
}

// sniSeen returns the SNI names the server received, in order.
func (s *smtpServer) sniSeen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.snis...)
}

func (s *smtpServer) handle(c net.Conn) {
	switch s.mode {
	case Tarpit:
		<-s.done
		return
	case SlowDrip, EndlessReply:
		s.endlessBanner(c)
		return
	}
	if g := s.gate.Load(); g != nil {
		select {
		case <-*g:
		case <-s.done:
			return
		}
	}
	if s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-s.done:
			return
		}
	}
	var conn net.Conn = c
	r := bufio.NewReader(conn)
	write := func(lines ...string) error {
		_ = conn.SetWriteDeadline(time.Now().Add(smtpIdle))
		_, err := conn.Write([]byte(strings.Join(lines, "\r\n") + "\r\n"))
		return err
	}
	if write("220 "+s.hostname+" ESMTP daned testworld") != nil {
		return
	}
	inTLS := false
	var from string
	var rcpts []string
	for {
		_ = conn.SetReadDeadline(time.Now().Add(smtpIdle))
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		verb, _, _ := strings.Cut(cmd, " ")
		switch verb {
		case "EHLO":
			lines := []string{"250-" + s.hostname + " greets you", "250-PIPELINING", "250-SIZE 10240000"}
			if !inTLS && s.mode != NoSTARTTLS {
				lines = append(lines, "250-STARTTLS")
			}
			lines = append(lines, "250-ENHANCEDSTATUSCODES", "250 8BITMIME")
			err = write(lines...)
		case "HELO":
			err = write("250 " + s.hostname)
		case "STARTTLS":
			switch {
			case inTLS:
				err = write("503 5.5.1 TLS already active")
			case s.mode == RefuseSTARTTLS:
				err = write("454 4.7.0 TLS not available due to temporary reason")
			case s.mode == StallHandshake:
				if write("220 2.0.0 Ready to start TLS") == nil {
					// Take the ClientHello, then say nothing.
					_, _ = r.Read(make([]byte, 4096))
					<-s.done
				}
				return
			case s.mode == GarbageAfterSTARTTLS:
				if write("220 2.0.0 Ready to start TLS") == nil {
					_ = write("HTTP/1.1 400 Bad Request", "this is not TLS \x00\xff")
					_, _ = r.Read(make([]byte, 4096))
				}
				return
			case s.mode != STARTTLS || s.tlsConf == nil:
				err = write("502 5.5.1 STARTTLS not supported")
			default:
				if err = write("220 2.0.0 Ready to start TLS"); err != nil {
					return
				}
				tc := tls.Server(c, s.tlsConf)
				_ = tc.SetDeadline(time.Now().Add(smtpIdle))
				if err = tc.Handshake(); err != nil {
					return
				}
				_ = tc.SetDeadline(time.Time{})
				conn, r, inTLS = tc, bufio.NewReader(tc), true
			}
		case "DATA":
			if from == "" || len(rcpts) == 0 {
				err = write("503 5.5.1 MAIL and RCPT first")
				break
			}
			if err = write("354 End data with <CR><LF>.<CR><LF>"); err != nil {
				return
			}
			m, ok := readData(r)
			if !ok {
				return
			}
			s.mu.Lock()
			s.mail = append(s.mail, Message{Host: s.hostname, From: from, To: rcpts, Data: m, TLS: inTLS})
			s.mu.Unlock()
			from, rcpts = "", nil
			err = write("250 2.0.0 OK queued")
		case "NOOP", "RSET", "MAIL", "RCPT":
			arg := strings.TrimSpace(line[len(verb):])
			switch verb {
			case "MAIL":
				from, rcpts = arg, nil
			case "RCPT":
				rcpts = append(rcpts, arg)
			case "RSET":
				from, rcpts = "", nil
			}
			err = write("250 2.0.0 OK")
		case "QUIT":
			_ = write("221 2.0.0 Bye")
			if tc, ok := conn.(*tls.Conn); ok {
				_ = tc.CloseWrite()
			}
			return
		default:
			err = write("502 5.5.2 Command not recognized")
		}
		if err != nil {
			return
		}
	}
}

// endlessBanner writes "220-" lines until the client goes away or the
// server closes: one byte every DripInterval for SlowDrip, as fast as
// the client reads for EndlessReply.
func (s *smtpServer) endlessBanner(c net.Conn) {
	line := []byte("220-" + s.hostname + " still greeting you\r\n")
	for {
		var err error
		if s.mode == EndlessReply {
			_ = c.SetWriteDeadline(time.Now().Add(smtpIdle))
			_, err = c.Write(line)
		} else {
			for i := 0; i < len(line) && err == nil; i++ {
				select {
				case <-time.After(DripInterval):
				case <-s.done:
					return
				}
				_ = c.SetWriteDeadline(time.Now().Add(smtpIdle))
				_, err = c.Write(line[i : i+1])
			}
		}
		if err != nil {
			return
		}
		select {
		case <-s.done:
			return
		default:
		}
	}
}

// Message is one message a test SMTP server accepted with DATA.
type Message struct {
	Host string   // the server's host name
	From string   // the MAIL argument, e.g. "FROM:<a@b.test>"
	To   []string // the RCPT arguments, e.g. "TO:<c@d.test>"
	Data []byte   // the message, dot-unstuffed, CRLF line ends, without the final "."
	TLS  bool     // whether it came over STARTTLS
}

// readData reads a DATA body up to the line holding a single ".".
func readData(r *bufio.Reader) ([]byte, bool) {
	var b []byte
	for len(b) < 10<<20 {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, false
		}
		if line == ".\r\n" || line == ".\n" {
			return b, true
		}
		line = strings.TrimPrefix(line, ".")
		b = append(b, line...)
	}
	return nil, false
}

// received returns the messages the server accepted, in order.
func (s *smtpServer) received() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.mail...)
}

// Received returns the messages the servers of a host ("mx.ee-spki.test")
// accepted, in order per server.
func (w *World) Received(host string) []Message {
	var out []Message
	for _, s := range w.servers[strings.TrimSuffix(strings.ToLower(host), ".")] {
		out = append(out, s.received()...)
	}
	return out
}
