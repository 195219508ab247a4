package daneclient_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	daneclient "github.com/daned/daned/clients/go"
	"github.com/daned/daned/dane"
	"github.com/daned/daned/internal/danedtest"
	danev1 "github.com/daned/daned/proto/dane/v1"
)

// TestClients runs every client against a real daned (in-process gRPC
// server on loopback) validating the real test world through a real
// Unbound: the Go client here, the Python and Node examples as
// subprocesses.
func TestClients(t *testing.T) {
	env := danedtest.Start(t)
	c, err := daneclient.Dial(env.Addr, daneclient.WithInsecure(), daneclient.WithTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	chainOf := func(host string) [][]byte {
		t.Helper()
		h, ok := env.World.Host(host)
		if !ok {
			t.Fatalf("no world host %s", host)
		}
		var der [][]byte
		for _, c := range h.Chain {
			der = append(der, c.Raw)
		}
		return der
	}

	t.Run("Validate", func(t *testing.T) {
		v, err := c.Validate(ctx, "ee-spki.test")
		if err != nil {
			t.Fatal(err)
		}
		if v.GetAction() != danev1.Action_ACTION_DELIVER || v.GetPolicy() != danev1.Policy_POLICY_DANE_REQUIRED {
			t.Fatalf("ee-spki.test: %s %s, want DELIVER DANE_REQUIRED (%s)", v.GetAction(), v.GetPolicy(), v.GetStatusText())
		}
		v, err = c.Validate(ctx, "mismatch.test")
		if err != nil {
			t.Fatal(err)
		}
		if v.GetAction() != danev1.Action_ACTION_DEFER || v.GetStatusCode() != "4.7.323" {
			t.Fatalf("mismatch.test: %s %s, want DEFER 4.7.323", v.GetAction(), v.GetStatusCode())
		}
		if _, err := c.Validate(ctx, "bad..name"); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("malformed domain: %v, want InvalidArgument", err)
		}
	})

	t.Run("ReferenceNames", func(t *testing.T) {
		for _, tc := range []struct {
			domain string
			want   []string
		}{
			{"ee-spki.test", []string{"mx.ee-spki.test", "ee-spki.test"}},
			{"ta.test", []string{"mx.ta.test", "ta.test"}},
			{"notlsa.test", nil},
		} {
			v, err := c.Policy(ctx, tc.domain)
			if err != nil {
				t.Fatal(err)
			}
			if got := v.GetMxHosts()[0].GetReferenceNames(); !slices.Equal(got, tc.want) {
				t.Errorf("%s: reference_names %q, want %q", tc.domain, got, tc.want)
			}
		}
	})

	t.Run("VerifyPeer", func(t *testing.T) {
		tests := []struct {
			name, domain, host string
			chain              [][]byte
			verified           bool
			reason             danev1.Reason
			policy             danev1.Policy
			code               string
		}{
			{"dane-ee match", "ee-spki.test", "mx.ee-spki.test", chainOf("mx.ee-spki.test"), true, danev1.Reason_REASON_OK, danev1.Policy_POLICY_DANE_REQUIRED, ""},
			{"dane-ta match with names", "ta.test", "MX.TA.TEST.", chainOf("mx.ta.test"), true, danev1.Reason_REASON_OK, danev1.Policy_POLICY_DANE_REQUIRED, ""},
			{"another host's chain", "ee-spki.test", "mx.ee-spki.test", chainOf("mx.ta.test"), false, danev1.Reason_REASON_TLSA_NO_MATCH, danev1.Policy_POLICY_DANE_REQUIRED, "4.7.323"},
			{"the mismatching server's own chain", "mismatch.test", "mx.mismatch.test", chainOf("mx.mismatch.test"), false, danev1.Reason_REASON_TLSA_NO_MATCH, danev1.Policy_POLICY_DANE_REQUIRED, "4.7.323"},
			{"expired DANE-TA chain", "ta-expired.test", "mx.ta-expired.test", chainOf("mx.ta-expired.test"), false, danev1.Reason_REASON_CERT_EXPIRED, danev1.Policy_POLICY_DANE_REQUIRED, "4.7.322"},
			{"TLS required, nothing to verify", "pkix-only.test", "mx.pkix-only.test", chainOf("mx.pkix-only.test"), false, danev1.Reason_REASON_OK, danev1.Policy_POLICY_TLS_REQUIRED, ""},
			{"opportunistic, nothing to verify", "notlsa.test", "mx.notlsa.test", chainOf("mx.notlsa.test"), false, danev1.Reason_REASON_OK, danev1.Policy_POLICY_OPPORTUNISTIC, ""},
			{"not an MX host of the domain", "ee-spki.test", "mx.ta.test", chainOf("mx.ta.test"), false, danev1.Reason_REASON_NOT_CONSIDERED, danev1.Policy_POLICY_UNSPECIFIED, ""},
			{"TLSA lookup failed", "tlsa-servfail.test", "mx.tlsa-servfail.test", chainOf("mx.ee-spki.test"), false, danev1.Reason_REASON_TLSA_LOOKUP_FAILED, danev1.Policy_POLICY_UNSPECIFIED, "4.7.324"},
			{"null MX", "nullmx.test", "nullmx.test", chainOf("mx.ee-spki.test"), false, danev1.Reason_REASON_NULL_MX, danev1.Policy_POLICY_UNSPECIFIED, "5.1.10"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r, err := c.VerifyPeer(ctx, tc.domain, tc.host, tc.chain)
				if err != nil {
					t.Fatal(err)
				}
				if r.GetVerified() != tc.verified || r.GetReason() != tc.reason || r.GetHostPolicy() != tc.policy || r.GetStatusCode() != tc.code {
					t.Fatalf("verified=%v reason=%s policy=%s code=%q, want %v %s %s %q (%s)",
						r.GetVerified(), r.GetReason(), r.GetHostPolicy(), r.GetStatusCode(), tc.verified, tc.reason, tc.policy, tc.code, r.GetDetail())
				}
				if tc.verified != (r.MatchedTlsaIndex != nil) || tc.verified != (r.GetMatchedRecord() != nil) {
					t.Errorf("matched_tlsa_index %v, matched_record %v with verified=%v", r.MatchedTlsaIndex, r.GetMatchedRecord(), tc.verified)
				}
				if r.GetDetail() == "" {
					t.Error("no detail")
				}
			})
		}
	})

	t.Run("VerifyPeer bad input", func(t *testing.T) {
		good := chainOf("mx.ee-spki.test")
		tests := []struct {
			name, domain, host string
			chain              [][]byte
		}{
			{"empty chain", "ee-spki.test", "mx.ee-spki.test", nil},
			{"too many certificates", "ee-spki.test", "mx.ee-spki.test", slices.Repeat(good, 17)},
			{"too many bytes", "ee-spki.test", "mx.ee-spki.test", [][]byte{bytes.Repeat([]byte{0x30}, 65<<10)}},
			{"not DER", "ee-spki.test", "mx.ee-spki.test", [][]byte{[]byte("-----BEGIN CERTIFICATE-----")}},
			{"invalid domain", "ee-spki..test", "mx.ee-spki.test", good},
			{"invalid mx host", "ee-spki.test", "", good},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := c.VerifyPeer(ctx, tc.domain, tc.host, tc.chain)
				if status.Code(err) != codes.InvalidArgument {
					t.Fatalf("err = %v, want InvalidArgument", err)
				}
			})
		}
	})

	t.Run("TLSConfig", func(t *testing.T) {
		tests := []struct {
			domain, host string
			wantErr      dane.Reason // ReasonOK: the handshake succeeds
		}{
			{"ee-spki.test", "mx.ee-spki.test", dane.ReasonOK},
			{"ta.test", "mx.ta.test", dane.ReasonOK},
			{"pkix-only.test", "mx.pkix-only.test", dane.ReasonOK},
			{"mismatch.test", "mx.mismatch.test", dane.ReasonTLSANoMatch},
			{"ta-expired.test", "mx.ta-expired.test", dane.ReasonCertExpired},
		}
		for _, tc := range tests {
			t.Run(tc.domain, func(t *testing.T) {
				cfg, err := c.TLSConfig(ctx, tc.domain, tc.host)
				if err != nil {
					t.Fatal(err)
				}
				if cfg.ServerName != tc.host {
					t.Errorf("ServerName %q, want the TLSA base domain %q", cfg.ServerName, tc.host)
				}
				h, _ := env.World.Host(tc.host)
				err = starttls(h.Addrs[0].String(), cfg)
				var ve *daneclient.VerifyError
				switch {
				case tc.wantErr == dane.ReasonOK && err != nil:
					t.Fatalf("STARTTLS: %v", err)
				case tc.wantErr != dane.ReasonOK && !errors.As(err, &ve):
					t.Fatalf("STARTTLS: %v, want a *daneclient.VerifyError", err)
				case ve != nil && ve.Reason != tc.wantErr:
					t.Fatalf("VerifyError reason %s, want %s", ve.Reason, tc.wantErr)
				}
			})
		}
		var he *daneclient.HostError
		if _, err := c.TLSConfig(ctx, "tlsa-servfail.test", "mx.tlsa-servfail.test"); !errors.As(err, &he) || he.Code != "4.7.324" {
			t.Errorf("TLSConfig for a host whose TLSA lookup fails: %v, want a HostError with 4.7.324", err)
		}
		if _, err := c.TLSConfig(ctx, "ee-spki.test", "mx.ta.test"); !errors.As(err, &he) {
			t.Errorf("TLSConfig for a host that is not an MX host: %v, want a HostError", err)
		}
	})

	t.Run("Python example", func(t *testing.T) {
		py := "/usr/bin/python3"
		if out, err := exec.Command(py, "-c", "import grpc, google.protobuf").CombinedOutput(); err != nil {
			t.Fatalf("%s cannot import grpc and google.protobuf (%v: %s): install python3-grpcio and python3-protobuf (make debian-tools)", py, err, out)
		}
		runExample(t, []string{py, "../python/example.py"}, env.Addr)
	})

	t.Run("Node example", func(t *testing.T) {
		node, err := exec.LookPath("node")
		if err != nil {
			t.Fatalf("node is not installed: %v", err)
		}
		if _, err := os.Stat("../typescript/node_modules/@connectrpc/connect-node"); err != nil {
			t.Fatalf("clients/typescript/node_modules is missing (%v): run `npm ci` in clients/typescript (make node-modules)", err)
		}
		runExample(t, []string{node, "../typescript/example.mjs"}, env.Addr)
	})
}

// runExample runs an example program for a passing and a failing domain
// and checks its exit status and output.
func runExample(t *testing.T, argv []string, addr string) {
	t.Helper()
	for _, tc := range []struct {
		domain string
		exit   int
		want   []string
	}{
		{"ee-spki.test", 0, []string{"ee-spki.test: DELIVER", "policy: DANE_REQUIRED", "MX 10 mx.ee-spki.test: DANE_REQUIRED OK"}},
		{"mismatch.test", 1, []string{"mismatch.test: DEFER 4.7.323", "reason: TLSA_NO_MATCH"}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], tc.domain, "--server", addr)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		cancel()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s: %v", filepath.Base(argv[1]), err)
		}
		if code != tc.exit {
			t.Errorf("%s %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", filepath.Base(argv[1]), tc.domain, code, tc.exit, out, stderr.String())
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s %s: output lacks %q:\n%s", filepath.Base(argv[1]), tc.domain, w, out)
			}
		}
	}
}

// starttls opens an SMTP session to addr and upgrades it with cfg, as an
// MTA would.
func starttls(addr string, cfg *tls.Config) error {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	host, _, _ := net.SplitHostPort(addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		return err
	}
	if err := c.StartTLS(cfg); err != nil {
		return err
	}
	return c.Quit()
}
