package testworld

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"sync"
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
)

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
	}
	return fmt.Sprintf("SMTPMode(%d)", int(m))
}

// smtpIdle bounds how long a test SMTP session may sit idle.
const smtpIdle = 2 * time.Minute

// smtpServer is a tiny ESMTP server: banner, EHLO, STARTTLS, QUIT.
type smtpServer struct {
	hostname string
	mode     SMTPMode
	delay    time.Duration
	tlsConf  *tls.Config
	ln       net.Listener

	mu     sync.Mutex
	conns  map[net.Conn]bool
	snis   []string
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
	if s.mode == Tarpit {
		<-s.done
		return
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
			if !inTLS && (s.mode == STARTTLS || s.mode == RefuseSTARTTLS) {
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
		case "NOOP", "RSET", "MAIL", "RCPT":
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
