package config_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/internal/config"
	"github.com/daned/daned/internal/danedtest"
	"github.com/daned/daned/internal/redistest"
	"github.com/daned/daned/internal/testworld"
	"github.com/daned/daned/shared"
)

func writeSecret(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSharedFlagsRefuse(t *testing.T) {
	good := writeSecret(t, "0123456789abcdef0123456789abcdef\n")
	short := writeSecret(t, "  0123456789abcdef0123456789abcde \n") // 31 bytes once trimmed
	tests := []struct {
		name string
		sf   config.SharedFlags
		want string
	}{
		{name: "no secret", sf: config.SharedFlags{Redis: "redis://127.0.0.1:6379"}, want: "--redis needs --shared-secret"},
		{name: "short secret", sf: config.SharedFlags{Redis: "redis://127.0.0.1:6379", SecretFile: short}, want: "31 bytes, want at least 32"},
		{name: "missing secret file", sf: config.SharedFlags{Redis: "redis://127.0.0.1:6379", SecretFile: "/nonexistent/secret"}, want: "--shared-secret"},
		{name: "secret without Redis", sf: config.SharedFlags{SecretFile: good}, want: "--shared-secret needs --redis"},
		{name: "not a Redis URL", sf: config.SharedFlags{Redis: "http://user:hunter2hunter2@127.0.0.1:6379", SecretFile: good}, want: "redis:// or rediss://"},
		{name: "a bad URL's password is not quoted", sf: config.SharedFlags{Redis: "redis://user:hunter2hunter2@127.0.0.1:x/0", SecretFile: good}, want: "--redis"},
		{name: "missing CA file", sf: config.SharedFlags{Redis: "rediss://127.0.0.1:6379", SecretFile: good, CAFile: "/nonexistent/ca.pem"}, want: "--redis-ca"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ec config.EngineFlags
			s, err := tt.sf.Open(&ec)
			if err == nil {
				s.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q: want it to mention %q, and never the password", err, tt.want)
			}
		})
	}
	var ec config.EngineFlags
	if s, err := (&config.SharedFlags{}).Open(&ec); s != nil || err != nil || ec.Shared != nil {
		t.Errorf("without --redis: %v, %v; want no store", s, err)
	}
}

// TestSharedReplicasOverTheWorld: three daned services built as in
// production, sharing one Redis, against the test world. 300 concurrent
// cold requests spread over them cost the world's DNS and SMTP servers
// what one replica alone costs: one query per (name, type), one probe per
// address.
func TestSharedReplicasOverTheWorld(t *testing.T) {
	w := testworld.StartT(t, testworld.Options{})
	u := testworld.StartUnboundT(t, w)
	srv := redistest.Start(t, redistest.Config{})
	secret := writeSecret(t, "0123456789abcdef0123456789abcdef")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	build := func(shared bool) *config.Built {
		t.Helper()
		ec := danedtest.EngineConfig(w, u.Addr())
		ec.CacheSize, ec.MTASTS, ec.Logger = 1000, false, quiet
		ec.ResolverTimeout, ec.ValidateTimeout = 10*time.Second, 2*time.Minute
		if shared {
			sf := config.SharedFlags{Redis: srv.URL(), SecretFile: secret, Timeout: 2 * time.Second}
			if _, err := sf.Open(&ec); err != nil {
				t.Fatal(err)
			}
		}
		b, err := ec.BuildService()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	reqs := []struct {
		domain string
		opts   engine.Options
	}{
		{"ee-spki.test", engine.Options{}}, {"ee-spki.test", engine.Options{PolicyOnly: true}}, {"insecure-mx.test", engine.Options{}},
	}
	ctx := context.Background()
	// What one replica alone costs the world.
	solo := build(false)
	for _, r := range reqs {
		if _, err := solo.Verdicts.Decide(ctx, r.domain, r.opts); err != nil {
			t.Fatal(err)
		}
	}
	wantQueries, wantProbes := solo.DNS.Queries(), solo.Probes.Probes()
	if wantQueries == 0 || wantProbes == 0 {
		t.Fatalf("solo: %d queries, %d probes", wantQueries, wantProbes)
	}

	replicas := []*config.Built{build(true), build(true), build(true)}
	for _, b := range replicas {
		deadline := time.After(time.Minute)
		for {
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
	}
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Go(func() {
			r := reqs[i%len(reqs)]
			d, err := replicas[i%3].Verdicts.Decide(ctx, r.domain, r.opts)
			if err != nil {
				t.Errorf("%s: %v", r.domain, err)
				return
			}
			if d.Result.Verdict.Action != dane.ActionDeliver {
				t.Errorf("%s: %v", r.domain, d.Result.Verdict)
			}
		})
	}
	wg.Wait()
	var queries, probes uint64
	var validations uint64
	for _, b := range replicas {
		queries += b.DNS.Queries()
		probes += b.Probes.Probes()
		validations += b.Verdicts.Stats().Validations
	}
	t.Logf("one replica: %d queries, %d probes; three sharing: %d queries, %d probes, %d validations", wantQueries, wantProbes, queries, probes, validations)
	if queries != wantQueries || probes != wantProbes {
		t.Errorf("three replicas cost %d queries and %d probes, want what one costs: %d and %d", queries, probes, wantQueries, wantProbes)
	}
	if validations != uint64(len(reqs)) {
		t.Errorf("%d validations over the fleet, want one per verdict (%d)", validations, len(reqs))
	}
	// A forged verdict in Redis is refused and re-validated.
	if _, err := srv.Do(ctx, "SET", "daned:v:0:notlsa.test", "\x01\x19\x00\x00\x00\x00\x00\x00\x00{}0123456789abcdef0123456789abcdef", "PX", "60000"); err != nil {
		t.Fatal(err)
	}
	d, err := replicas[0].Verdicts.Decide(ctx, "notlsa.test", engine.Options{})
	if err != nil || d.Result.Domain != "notlsa.test" || replicas[0].Shared.Stats().Rejected["forged"] == 0 {
		t.Fatalf("forged verdict: %v %+v, rejected %v", err, d.Result, replicas[0].Shared.Stats().Rejected)
	}
}

// TestSharedTLS: rediss:// with --redis-ca verifies the server; without
// the CA the server's certificate is refused and the replica runs alone.
func TestSharedTLS(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{TLS: true, User: "daned", Password: "a-long-password", ACL: shared.ACL("daned:")})
	secret := writeSecret(t, "0123456789abcdef0123456789abcdef")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if !strings.HasPrefix(srv.URL(), "rediss://daned:") {
		t.Fatalf("URL %s", srv.URL())
	}
	tests := []struct {
		name   string
		caFile string
		up     bool
	}{
		{name: "verified with --redis-ca", caFile: srv.CAFile(), up: true},
		{name: "refused without it", up: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ec := config.EngineFlags{Logger: quiet}
			s, err := (&config.SharedFlags{Redis: srv.URL(), SecretFile: secret, CAFile: tt.caFile, Timeout: 5 * time.Second}).Open(&ec)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			s.Put(ctx, "k", []byte("over TLS"), time.Now().Add(time.Minute))
			p, _, ok := s.Get(ctx, "k")
			if ok != tt.up || s.Up() != tt.up {
				t.Fatalf("Get = %q, %v, store up %v; want up %v (%+v)", p, ok, s.Up(), tt.up, s.Stats())
			}
			if tt.up && string(p) != "over TLS" {
				t.Errorf("Get = %q", p)
			}
		})
	}
}
