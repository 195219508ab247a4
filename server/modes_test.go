//go:build cgo

package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/daned/daned/internal/config"
	"github.com/daned/daned/internal/danedtest"
	"github.com/daned/daned/internal/testworld"
	danev1 "github.com/daned/daned/proto/dane/v1"
	"github.com/daned/daned/resolver"
	"github.com/daned/daned/server"
)

// The same world validated by daned in both resolver modes: upstream (a
// real Unbound, whose AD bit and EDEs daned reads) and embedded
// (libunbound in-process). Both must reach the same verdict for every
// scenario, and name the same DNSSEC failure.

// modes are the two ways daned resolves, each started against one world.
var modes = []struct {
	name  string
	start func(t testing.TB, w *testworld.World) danev1.DaneServiceClient
}{
	{"upstream", func(t testing.TB, w *testworld.World) danev1.DaneServiceClient {
		u := testworld.StartUnboundT(t, w)
		ec := modeEngineConfig(w)
		ec.Resolver = u.Addr()
		return serveEngine(t, ec, config.ResolverFlags{})
	}},
	{"embedded", func(t testing.TB, w *testworld.World) danev1.DaneServiceClient {
		ec := modeEngineConfig(w)
		ec.Resolver = config.EmbeddedResolver
		return serveEngine(t, ec, embeddedFlags(t, w))
	}},
}

func modeEngineConfig(w *testworld.World) config.EngineFlags { return danedtest.EngineConfig(w, "") }

// embeddedFlags points embedded mode at the world: its root DS as the
// trust anchor, and an unbound.conf with its stub zones (they carry
// ports, which root hints cannot), `local-zone: "test." nodefault` and
// `do-not-query-localhost: no`, as the world's Unbound has.
func embeddedFlags(t testing.TB, w *testworld.World) config.ResolverFlags {
	t.Helper()
	dir := t.TempDir()
	rf := config.ResolverFlags{TrustAnchor: filepath.Join(dir, "root.ds"), ResolverConfig: filepath.Join(dir, "unbound.conf")}
	// aggressive-nsec: no, as the world's Unbound has: otherwise an NSEC
	// validated for another answer proves a denial that the tlsa-nodenial
	// scenario serves stripped (RFC 8198), and the modes would not see the
	// same answers.
	conf := "server:\n\tdo-not-query-localhost: no\n\tlocal-zone: \"test.\" nodefault\n\trrset-roundrobin: no\n\taggressive-nsec: no\n\n" + w.StubZones()
	if err := os.WriteFile(rf.TrustAnchor, []byte(w.TrustAnchor()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rf.ResolverConfig, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return rf
}

// serveEngine serves a daned whose engine ec builds (with the resolver
// mode ec and rf select) and returns a client of it.
func serveEngine(t testing.TB, ec config.EngineFlags, rf config.ResolverFlags) danev1.DaneServiceClient {
	t.Helper()
	ec.ResolverFlags = rf
	built, err := ec.Build()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = built.Close() })
	srv, err := server.New(server.Config{Verdicts: danedtest.Verdicts(t, built.Engine, 0), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return danev1.NewDaneServiceClient(danedtest.Serve(t, srv))
}

func validateWith(t testing.TB, c danev1.DaneServiceClient, domain string) *danev1.ValidateResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := c.Validate(ctx, &danev1.ValidateRequest{Domain: domain})
	if err != nil {
		t.Fatalf("Validate(%q): %v", domain, err)
	}
	return r
}

// verdictSummary is what must agree between the modes: the verdict and,
// per MX host, its policy, reason and DNS states (not the free-text
// details, which carry the validator's own words and the addresses).
func verdictSummary(r *danev1.ValidateResponse) string {
	var b strings.Builder
	fmt.Fprintf(&b, "action=%v policy=%v reason=%v code=%q tlsrpt=%q mx=%v\n", r.GetAction(), r.GetPolicy(), r.GetReason(),
		r.GetStatusCode(), r.GetTlsrptResultType(), r.GetMxSecurity())
	for _, h := range r.GetMxHosts() {
		fmt.Fprintf(&b, "  host %s policy=%v reason=%v usable=%v addr=%v tlsa=%v base=%q chain=%v records=%d\n", h.GetName(), h.GetHostPolicy(),
			h.GetReason(), h.GetUsableForDelivery(), h.GetAddressSecurity(), h.GetTlsaSecurity(), h.GetTlsaBaseDomain(), h.GetCnameChain(), len(h.GetTlsa()))
		for _, a := range h.GetAddresses() {
			fmt.Fprintf(&b, "    %s reason=%v authenticated=%v\n", a.GetIp(), a.GetReason(), a.GetAuthenticated())
		}
	}
	return b.String()
}

// TestModesAgree validates every scenario of the world in both modes and
// compares the verdicts. What each verdict must be is TestEndToEnd's
// business; here the two validators must merely agree.
func TestModesAgree(t *testing.T) {
	w := testworld.StartT(t, testworld.Options{})
	clients := make([]danev1.DaneServiceClient, len(modes))
	for i, m := range modes {
		clients[i] = m.start(t, w)
	}
	scenarios := w.Scenarios()
	if len(scenarios) == 0 {
		t.Fatal("the world has no scenarios")
	}
	for _, sc := range scenarios {
		t.Run(sc.Domain, func(t *testing.T) {
			t.Parallel()
			var got []*danev1.ValidateResponse
			for i := range modes {
				got = append(got, validateWith(t, clients[i], sc.Domain))
			}
			want := verdictSummary(got[0])
			for i := 1; i < len(modes); i++ {
				if s := verdictSummary(got[i]); s != want {
					t.Errorf("%s and %s disagree on %s (%s):\n%s: %s\n%s\n%s: %s\n%s", modes[0].name, modes[i].name, sc.Domain, sc.Description,
						modes[0].name, got[0].GetStatusText(), want, modes[i].name, got[i].GetStatusText(), s)
				}
			}
		})
	}
}

// TestModesDNSSECReasons: each broken-DNSSEC scenario names its precise
// cause in the verdict's status text, in both modes (upstream from
// Unbound's EDE and its EXTRA-TEXT, embedded from libunbound's why_bogus).
func TestModesDNSSECReasons(t *testing.T) {
	w := testworld.StartT(t, testworld.Options{})
	cases := []struct{ domain, phrase string }{
		{"expired-rrsig.test", resolver.ReasonSigExpired},
		{"future-rrsig.test", resolver.ReasonSigNotYetValid},
		{"ds-mismatch.test", resolver.ReasonDSMismatch},
		{"no-dnskey.test", resolver.ReasonDNSKEYMissing},
		{"tlsa-nosig.test", resolver.ReasonRRSIGMissing},
		{"tlsa-nodenial.test", resolver.ReasonDenialMissing},
		{"tlsa-nodenial-nsec3.test", resolver.ReasonDenialMissing},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c := m.start(t, w)
			for _, tc := range cases {
				t.Run(tc.domain, func(t *testing.T) {
					r := validateWith(t, c, tc.domain)
					if r.GetReason() != danev1.Reason_REASON_DNSSEC_BOGUS || r.GetStatusCode() != "4.7.324" {
						t.Errorf("verdict %v %q, want DNSSEC bogus 4.7.324: %s", r.GetReason(), r.GetStatusCode(), r.GetStatusText())
					}
					if !strings.Contains(r.GetStatusText(), "DNSSEC validation failed: "+tc.phrase) {
						t.Errorf("status text %q does not name the cause %q", r.GetStatusText(), tc.phrase)
					}
				})
			}
		})
	}
}

// BenchmarkModesValidate is one whole validation of ee-spki.test over
// gRPC (MX, A, AAAA, TLSA, one STARTTLS probe with DANE-EE matching),
// with the validator's cache warm, in each mode. The cold DNS part is
// resolver.BenchmarkLookup.
func BenchmarkModesValidate(b *testing.B) {
	w := testworld.StartT(b, testworld.Options{})
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			c := m.start(b, w)
			validateWith(b, c, "ee-spki.test")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if r := validateWith(b, c, "ee-spki.test"); r.GetAction() != danev1.Action_ACTION_DELIVER {
					b.Fatalf("verdict %v: %s", r.GetAction(), r.GetStatusText())
				}
			}
		})
	}
}
