// Package tlsconfig is the TLS of daned's listeners (gRPC, and the
// diagnostics page's HTTPS): a server certificate and, for mutual TLS, a
// client CA bundle, read from PEM files and reloadable while the server
// runs. A reload swaps the state
// that new handshakes read; established connections keep the state they
// were made with, and a reload that fails keeps the old state.
//
// It authenticates clients; it does not decide which ones may call
// (server.Limits does, by the identities of the verified certificate).
package tlsconfig

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// Files names the PEM files of the listener.
type Files struct {
	// Cert is the server certificate chain, leaf first. Required.
	Cert string
	// Key is the private key of the leaf. Required.
	Key string
	// ClientCA is a bundle of CA certificates; when set, every client
	// must present a certificate chaining to one of them (mutual TLS).
	// Empty means clients are not asked for a certificate.
	ClientCA string
}

// Server serves the TLS configuration of the current files.
type Server struct {
	files Files
	cur   atomic.Pointer[state]
}

// state is one generation of the files, read whole.
type state struct {
	cfg     *tls.Config // gRPC: h2 only
	http    *tls.Config // HTTPS: h2 or HTTP/1.1
	leaf    *x509.Certificate
	clients int // certificates in the client CA bundle
}

// New reads the files.
func New(f Files) (*Server, error) {
	if f.Cert == "" || f.Key == "" {
		return nil, errors.New("tlsconfig: a certificate and a key are both required")
	}
	s := &Server{files: f}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload reads the files again. On success, new handshakes use them; on
// error the previous state stays in use and the error says which file
// was wrong. Safe to call at any time, from any goroutine.
func (s *Server) Reload() error {
	st, err := load(s.files)
	if err != nil {
		return err
	}
	s.cur.Store(st)
	return nil
}

func load(f Files) (*state, error) {
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s, key %s: %w", f.Cert, f.Key, err)
	}
	cfg := &tls.Config{
		// TLS 1.2 at least; crypto/tls picks 1.3 whenever the client has
		// it, and its default TLS 1.2 cipher suites are all AEAD with
		// forward secrecy.
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		// gRPC runs over HTTP/2 and its clients require h2 by ALPN.
		NextProtos: []string{"h2"},
	}
	st := &state{cfg: cfg, leaf: cert.Leaf}
	if f.ClientCA != "" {
		bundle, err := os.ReadFile(f.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("client CA: %w", err)
		}
		pool := x509.NewCertPool()
		for rest := bundle; len(rest) > 0; {
			var c *x509.Certificate
			c, rest, err = nextCert(rest)
			if err != nil {
				return nil, fmt.Errorf("client CA %s: %w", f.ClientCA, err)
			}
			if c == nil {
				break
			}
			pool.AddCert(c)
			st.clients++
		}
		if st.clients == 0 {
			return nil, fmt.Errorf("client CA %s: no PEM certificate in it", f.ClientCA)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	// Tickets of each generation are sealed with keys of their own, so a
	// session resumed after a reload cannot skip a check against a
	// client CA that has since been replaced.
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, err
	}
	cfg.SetSessionTicketKeys([][32]byte{key})
	// The same certificate, client CA and ticket keys for HTTPS, where
	// browsers speak h2 and other clients (curl --http1.1, monitoring)
	// HTTP/1.1.
	st.http = cfg.Clone()
	st.http.NextProtos = []string{"h2", "http/1.1"}
	return st, nil
}

// Config returns the configuration to give the listener: every handshake
// reads the state current at that moment.
func (s *Server) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.cur.Load().cfg, nil
		},
	}
}

// HTTPConfig is Config for an HTTPS listener (net/http's ServeTLS):
// the same files and reloads, offering h2 and HTTP/1.1 by ALPN.
func (s *Server) HTTPConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.cur.Load().http, nil
		},
	}
}

// MutualTLS says whether clients must present a certificate.
func (s *Server) MutualTLS() bool { return s.files.ClientCA != "" }

// Summary describes the current state for a log line: the leaf's subject,
// its expiry and the number of client CA certificates.
func (s *Server) Summary() (subject string, notAfter time.Time, clientCAs int) {
	st := s.cur.Load()
	return st.leaf.Subject.String(), st.leaf.NotAfter, st.clients
}

// nextCert parses the next CERTIFICATE block of a PEM bundle, skipping
// other blocks; nil at the end.
func nextCert(rest []byte) (*x509.Certificate, []byte, error) {
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, nil, nil
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		return c, rest, err
	}
}
