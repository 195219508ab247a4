package socketmap_test

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/daned/daned/engine"
	"github.com/daned/daned/internal/danedtest"
	"github.com/daned/daned/internal/testworld"
	"github.com/daned/daned/mtasts"
	"github.com/daned/daned/socketmap"
)

// TestSTSReplies: the socketmap answers MTA-STS domains of the test world
// from the engine's own MTA-STS result, through the same decision layer
// as the gRPC door (daned built as in production, policy-only): an
// enforced policy is "OK secure match=… servername=hostname" (Postfix's
// ".suffix" for a "*.suffix" pattern), testing, none and unobtainable
// policies are NOTFOUND, and a domain whose MX hosts the policy excludes
// defers.
func TestSTSReplies(t *testing.T) {
	w := testworld.StartT(t, testworld.Options{Scenarios: testworld.STSScenarios()})
	u := testworld.StartUnboundT(t, w)
	ec := danedtest.EngineConfig(w, u.Addr())
	ec.MTASTS, ec.MTASTSPort, ec.MTASTSFetchTimeout = true, w.HTTPSPort(), 10*time.Second
	ec.WebPKIRoots, ec.StateDir, ec.CacheSize = w.WebPKIRoots(), t.TempDir(), 1000
	ec.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	built, err := ec.BuildService()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = built.Close() })
	_, addr := serve(t, socketmap.Config{Validator: built.Verdicts})
	tests := []struct {
		name, req, want string
	}{
		{"enforce, unsigned domain", "QUERY sts-enforce.test", "OK secure match=mx.sts-enforce.test servername=hostname"},
		{"enforce, DNSSEC-proven absence of DANE", "QUERY sts-signed.test", "OK secure match=mx.sts-signed.test servername=hostname"},
		{"a wildcard pattern in Postfix's form", "QUERY sts-wildcard.test", "OK secure match=.sts-wildcard.test servername=hostname"},
		{"the certificate is Postfix's to check", "QUERY sts-untrusted.test", "OK secure match=mx.sts-untrusted.test servername=hostname"},
		{"testing", "QUERY sts-testing.test", "NOTFOUND "},
		{"none", "QUERY sts-none.test", "NOTFOUND "},
		{"a redirect is not followed: no policy", "QUERY sts-redirect.test", "NOTFOUND "},
		{"two TXT records: no policy", "QUERY sts-two-records.test", "NOTFOUND "},
		{"TLSRPT attributes only with QUERYwithTLSRPT", "QUERYwithTLSRPT sts-enforce.test",
			"OK secure match=mx.sts-enforce.test servername=hostname policy_type=sts policy_domain=sts-enforce.test mx_host_pattern=mx.sts-enforce.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := queryOnce(addr, tt.req)
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("%s = %q, want %q…", tt.req, got, tt.want)
			}
			// Asked again, the verdict is cached: the reply kept with it
			// is the same.
			if again := queryOnce(addr, tt.req); again != got {
				t.Errorf("%s from the cache = %q, first %q", tt.req, again, got)
			}
		})
	}
	if got := queryOnce(addr, "QUERY sts-not-in-policy.test"); !strings.HasPrefix(got, "TEMP 4.") {
		t.Errorf("a domain whose only MX host the policy excludes: %q, want TEMP", got)
	}
}

func TestSTSOf(t *testing.T) {
	pol := mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"mx.example.com", "*.example.net"}, MaxAge: 86400 * time.Second}
	res := &engine.Result{Domain: "example.com", MTASTS: &mtasts.PolicyResult{Domain: "example.com", Policy: pol}}
	got := socketmap.STSOf(res)
	if got == nil || got.Mode != socketmap.STSEnforce || got.Domain != "example.com" || len(got.Patterns) != 2 ||
		strings.Join(got.Policy, "|") != "version: STSv1|mode: enforce|mx: mx.example.com|mx: *.example.net|max_age: 86400" {
		t.Fatalf("STSOf = %+v", got)
	}
	if socketmap.STSOf(&engine.Result{}) != nil {
		t.Error("a result without MTA-STS has a policy")
	}
	if socketmap.STSOf(&engine.Result{MTASTS: &mtasts.PolicyResult{Failure: mtasts.ReasonPolicyFetchFailed}}) != nil {
		t.Error("a policy that could not be had is a policy")
	}
}
