package config_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/daned/daned/internal/config"
	"github.com/daned/daned/internal/danedtest"
	"github.com/daned/daned/internal/redistest"
	"github.com/daned/daned/internal/testworld"
	"github.com/daned/daned/mtasts"
)

// TestSharedPoliciesOverTheWorld: two daned services with their own state
// stores, sharing one Redis, against the test world's policy hosts. A
// policy one replica fetched is the other's without an HTTPS request;
// Invalidate on one replica reaches the other, which drops its copy and
// fetches again; with Redis gone each fetches alone. TLS reporting built
// with --redis reports as one fleet.
func TestSharedPoliciesOverTheWorld(t *testing.T) {
	w := testworld.StartT(t, testworld.Options{Scenarios: testworld.STSScenarios()})
	u := testworld.StartUnboundT(t, w)
	srv := redistest.Start(t, redistest.Config{})
	secret := writeSecret(t, "0123456789abcdef0123456789abcdef")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	build := func(up bool) (*config.EngineFlags, *config.Built) {
		t.Helper()
		ec := danedtest.EngineConfig(w, u.Addr())
		ec.MTASTS, ec.MTASTSPort, ec.MTASTSFetchTimeout = true, w.HTTPSPort(), 10*time.Second
		ec.WebPKIRoots, ec.StateDir, ec.CacheSize, ec.Logger = w.WebPKIRoots(), t.TempDir(), 1000, quiet
		sf := config.SharedFlags{Redis: srv.URL(), SecretFile: secret, Timeout: 2 * time.Second}
		if _, err := sf.Open(&ec); err != nil {
			t.Fatal(err)
		}
		b, err := ec.BuildService()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		deadline := time.After(time.Minute)
		for up {
			ch := b.Shared.Changed()
			if b.Shared.Subscribed() {
				break
			}
			select {
			case <-ch:
			case <-deadline:
				t.Fatal("a replica did not subscribe")
			}
		}
		return &ec, b
	}
	const domain = "sts-enforce.test"
	policy := func(b *config.Built) mtasts.PolicyResult {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r := b.STS.Policy(ctx, domain)
		if r.Policy.Mode != mtasts.ModeEnforce {
			t.Fatalf("%s: mode %v (%s)", domain, r.Policy.Mode, r.Detail)
		}
		return r
	}
	expect := func(what string, fetches int64) {
		t.Helper()
		if n := w.STSRequests(domain); n != fetches {
			t.Fatalf("%s: the policy host saw %d fetches, want %d", what, n, fetches)
		}
	}
	ec1, one := build(true)
	_, two := build(true)
	policy(one)
	expect("first replica", 1)
	policy(two)
	expect("second replica", 1)
	if st := two.STS.SharedStats(); st.Hits != 1 {
		t.Fatalf("second replica: %+v", st)
	}

	one.Verdicts.Invalidate(domain)
	// The invalidation reaches the second replica over pub/sub; its
	// counter does not signal, so look every millisecond.
	deadline := time.Now().Add(time.Minute)
	for len(two.STS.CountByMode()) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the second replica kept its policy after Invalidate on the first")
		}
		time.Sleep(time.Millisecond)
	}
	policy(two)
	expect("after Invalidate", 2)

	// TLS reporting with --redis reports whole periods as one fleet.
	rf := config.TLSRPTFlags{Enabled: true, Org: "Example", Contact: "tlsrpt@example.test", Submitter: "example.test", Period: 24 * time.Hour}
	rpt, err := rf.BuildTLSRPT(ec1, one, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rpt.Close()
	if _, err := rpt.SendNow(context.Background(), true); err == nil || !strings.Contains(err.Error(), "fleet") {
		t.Fatalf("send --include-current with --redis: %v, want refused", err)
	}

	srv.Kill()
	_, three := build(false)
	policy(three)
	expect("Redis down", 3)
}
