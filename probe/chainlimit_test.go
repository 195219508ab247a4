package probe_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/daned/daned/internal/testcert"
	"github.com/daned/daned/probe"
)

// bigCert returns the DER of a self-signed certificate of about size
// bytes, padded with subjectAltNames.
func bigCert(t *testing.T, size int) []byte {
	t.Helper()
	var sans []string
	for n := 0; n < size; n += 64 {
		sans = append(sans, fmt.Sprintf("%s.%d.example.net", strings.Repeat("a", 40), len(sans)))
	}
	return testcert.New(t, testcert.Spec{CommonName: "padding", DNSNames: sans,
		NotBefore: fixedNow.Add(-time.Hour), NotAfter: fixedNow.Add(time.Hour)}).Cert.Raw
}

// TestProbeChainLimits: a server presenting a chain with too many
// certificates or too many bytes fails the handshake with ErrHandshake
// wrapping ErrChainLimit; a chain at the limits passes.
func TestProbeChainLimits(t *testing.T) {
	pk := mustPKI(t)
	leafDER, caDER := pk.cert.Certificate[0], pk.cert.Certificate[1]
	pad := bigCert(t, 8<<10)
	chain := func(extra ...[]byte) [][]byte { return append([][]byte{leafDER}, extra...) }
	repeat := func(der []byte, n int) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			out[i] = der
		}
		return out
	}
	tests := []struct {
		name    string
		cfg     probe.Config
		chain   [][]byte
		wantErr string // "" = success
	}{
		{name: "16 certificates (the default limit)", chain: chain(repeat(caDER, 15)...)},
		{name: "17 certificates", chain: chain(repeat(caDER, 16)...), wantErr: "17 certificates, the limit is 16"},
		{name: "600 certificates", chain: chain(repeat(caDER, 599)...), wantErr: "600 certificates, the limit is 16"},
		// crypto/tls refuses a Certificate message over 256 KiB itself,
		// before daned's check runs: still ErrHandshake.
		{name: "1000 certificates (over crypto/tls's own 256 KiB)", chain: chain(repeat(caDER, 999)...), wantErr: "exceeds maximum"},
		{name: "about 40 KiB in 6 certificates", chain: chain(repeat(pad, 5)...)},
		{name: "about 72 KiB in 10 certificates", chain: chain(repeat(pad, 9)...), wantErr: "bytes of DER in 10 certificates, the limit is 65536"},
		{name: "configured: 2 certificates", cfg: probe.Config{MaxChainCerts: 2}, chain: chain(caDER, caDER), wantErr: "3 certificates, the limit is 2"},
		{name: "configured: 1 KiB", cfg: probe.Config{MaxChainBytes: 1024}, chain: chain(pad), wantErr: "the limit is 1024"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf := &tls.Config{Certificates: []tls.Certificate{{Certificate: tt.chain, PrivateKey: pk.cert.PrivateKey}}}
			srv := startServer(t, "127.0.0.1:0", script{tls: conf}.handle)
			cfg := tt.cfg
			cfg.Port = int(srv.addr.Port())
			cfg.StepTimeout = 5 * time.Second
			res := newProber(t, cfg).Probe(context.Background(), srv.addr.Addr(), "mx.example.net")
			if tt.wantErr == "" {
				if res.Err != nil || len(res.Chain) != len(tt.chain) {
					t.Fatalf("Err = %v, chain of %d; want success with %d certificates", res.Err, len(res.Chain), len(tt.chain))
				}
				return
			}
			checkErr(t, res.Err, probe.ErrHandshake)
			limit := !strings.Contains(tt.wantErr, "exceeds maximum")
			if errors.Is(res.Err, probe.ErrChainLimit) != limit || !strings.Contains(res.Err.Error(), tt.wantErr) {
				t.Errorf("Err = %v, want ErrChainLimit %v and %q", res.Err, limit, tt.wantErr)
			}
			if res.Reached != probe.StageHandshake || res.Chain != nil || res.TLS {
				t.Errorf("Reached = %v, TLS = %v, %d certificates kept; want a failed handshake keeping nothing", res.Reached, res.TLS, len(res.Chain))
			}
		})
	}
}

func TestNewChainLimits(t *testing.T) {
	for _, cfg := range []probe.Config{
		{MaxChainCerts: -1}, {MaxChainCerts: 1001}, {MaxChainBytes: 1023}, {MaxChainBytes: 1<<20 + 1}, {MaxChainBytes: -5},
	} {
		if _, err := probe.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted out-of-range chain limits", cfg)
		}
	}
	for _, cfg := range []probe.Config{{MaxChainCerts: 1, MaxChainBytes: 1024}, {MaxChainCerts: 1000, MaxChainBytes: 1 << 20}} {
		if _, err := probe.New(cfg); err != nil {
			t.Errorf("New(%+v): %v", cfg, err)
		}
	}
}
