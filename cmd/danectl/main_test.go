package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/daned/daned/internal/danedtest"
	"github.com/daned/daned/internal/testworld"
	"github.com/daned/daned/server"
)

func runCheck(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "Usage: danectl check DOMAIN"},
		{"unknown command", []string{"frobnicate"}, "Usage: danectl check DOMAIN"},
		{"no domain", []string{"check"}, "exactly one DOMAIN"},
		{"two domains", []string{"check", "a.test", "b.test"}, "exactly one DOMAIN"},
		{"unknown flag", []string{"check", "--bogus", "a.test"}, "flag provided but not defined"},
		{"invalid domain", []string{"check", "--policy-only", "*.example.com"}, "invalid domain"},
		{"IP literal", []string{"check", "192.0.2.1"}, "IP address literal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCheck(t, tt.args...)
			if code != exitError || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 mentioning %q", code, stderr, tt.want)
			}
		})
	}
}

// worldFlags points the in-process engine at a running test world.
func worldFlags(w *testworld.World, u *testworld.Unbound) []string {
	allow := make([]string, 0, 2)
	for _, p := range w.ProbeAllow() {
		allow = append(allow, p.String())
	}
	return []string{"--resolver", u.Addr(), "--probe-port", strconv.Itoa(w.SMTPPort()), "--probe-allow", strings.Join(allow, ","),
		"--helo-name", "danectl.test", "--probe-step-timeout", "3s"}
}

func TestCheckAgainstTestWorld(t *testing.T) {
	w := testworld.StartT(t, testworld.Options{})
	u := testworld.StartUnboundT(t, w)
	flags := worldFlags(w, u)

	t.Run("report on a passing domain", func(t *testing.T) {
		code, out, stderr := runCheck(t, append([]string{"check", "ee-spki.test"}, flags...)...)
		if code != exitDeliver {
			t.Fatalf("exit %d, want 0\n%s%s", code, out, stderr)
		}
		for _, want := range []string{"ee-spki.test: DELIVER", "DANE_REQUIRED", "MX 10 mx.ee-spki.test  [ok]", "authenticated by TLSA", "matched TLSA record [0]"} {
			if !strings.Contains(out, want) {
				t.Errorf("report lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("report on a failing domain", func(t *testing.T) {
		code, out, _ := runCheck(t, append([]string{"check", "ta-expired.test"}, flags...)...)
		if code != exitBlocked {
			t.Fatalf("exit %d, want 1\n%s", code, out)
		}
		for _, want := range []string{"ta-expired.test: DEFER 4.7.322", "certificate-expired:", "CERT_EXPIRED", "has expired"} {
			if !strings.Contains(out, want) {
				t.Errorf("report lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("json with proto names and enum names", func(t *testing.T) {
		code, out, _ := runCheck(t, append([]string{"check", "--json", "mismatch.test"}, flags...)...)
		if code != exitBlocked {
			t.Fatalf("exit %d, want 1\n%s", code, out)
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		if doc["reason"] != "REASON_TLSA_NO_MATCH" || doc["status_code"] != "4.7.323" || doc["action"] != "ACTION_DEFER" {
			t.Errorf("JSON fields: reason %v status_code %v action %v", doc["reason"], doc["status_code"], doc["action"])
		}
		if _, ok := doc["mx_hosts"].([]any); !ok {
			t.Errorf("no mx_hosts list in %s", out)
		}
	})
	t.Run("null MX rejects", func(t *testing.T) {
		code, out, _ := runCheck(t, append([]string{"check", "nullmx.test"}, flags...)...)
		if code != exitBlocked || !strings.Contains(out, "REJECT 5.1.10") {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
	t.Run("through a server", func(t *testing.T) {
		ec := danedtest.EngineConfig(w, u.Addr())
		built, err := ec.Build()
		if err != nil {
			t.Fatal(err)
		}
		defer built.Close()
		srv, err := server.New(server.Config{Verdicts: danedtest.Verdicts(t, built.Engine, 0)})
		if err != nil {
			t.Fatal(err)
		}
		addr := danedtest.Serve(t, srv).Target()
		code, out, stderr := runCheck(t, "check", "two-mx.test", "--server", addr)
		if code != exitDeliver || !strings.Contains(out, "MX 20 mx2.two-mx.test  [ok]") || !strings.Contains(out, "MX 10 mx1.two-mx.test  [FAIL]") {
			t.Fatalf("exit %d\n%s%s", code, out, stderr)
		}
		code, _, stderr = runCheck(t, "check", "bad..test", "--server", addr)
		if code != exitError || !strings.Contains(stderr, "InvalidArgument") {
			t.Fatalf("bad domain through the server: exit %d, %s", code, stderr)
		}
	})
}

// TestCheckMTASTS: the report explains the MTA-STS part in words, for an
// enforced policy that passes, one whose host fails, and a policy that
// could not be had; --json gives the API's fields.
func TestCheckMTASTS(t *testing.T) {
	env := danedtest.StartSTS(t)
	for _, tt := range []struct {
		domain string
		code   int
		want   []string
	}{
		{"sts-enforce.test", exitDeliver, []string{"decided: by MTA-STS", "mta-sts: mode enforce, record id 1, fetched", "mx patterns: mx.sts-enforce.test",
			"only MX hosts matching a pattern", "MX 10 mx.sts-enforce.test  [ok] MTA_STS_REQUIRED", "valid under the WebPKI"}},
		{"sts-untrusted.test", exitBlocked, []string{"DEFER 4.7.5", "certificate-not-trusted", "MTA-STS:   the policy refuses this host: CERT_NOT_TRUSTED"}},
		{"sts-testing.test", exitDeliver, []string{"mode testing", "would refuse this host in mode enforce"}},
		{"sts-redirect.test", exitDeliver, []string{"decided: by neither DANE nor MTA-STS", "the policy could not be had (STS_POLICY_FETCH_FAILED", "not followed", "as if the domain had no policy"}},
		{"sts-dane-wins.test", exitDeliver, []string{"decided: by DANE: every MX host has a secure TLSA RRset"}},
	} {
		t.Run(tt.domain, func(t *testing.T) {
			code, out, stderr := runCheck(t, "check", "--server", env.Addr, tt.domain)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, out, stderr)
			}
			for _, want := range tt.want {
				if !strings.Contains(out, want) {
					t.Errorf("report lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(tt.domain, "dane-wins") && strings.Contains(out, "mta-sts:") {
				t.Errorf("MTA-STS reported for a DANE domain:\n%s", out)
			}
		})
	}
	code, out, _ := runCheck(t, "check", "--server", env.Addr, "--json", "sts-enforce.test")
	var resp map[string]any
	if err := json.Unmarshal([]byte(out), &resp); code != exitDeliver || err != nil {
		t.Fatalf("exit %d, %v:\n%s", code, err, out)
	}
	if resp["policy_source"] != "POLICY_SOURCE_MTA_STS" || resp["mta_sts"].(map[string]any)["mode"] != "MTA_STS_MODE_ENFORCE" {
		t.Errorf("JSON lacks the API's MTA-STS fields:\n%s", out)
	}
}
