package fleet_test

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daned/daned/internal/fakeclock"
	"github.com/daned/daned/internal/testca"
	"github.com/daned/daned/mtasts"
	"github.com/daned/daned/mtasts/fetch"
	"github.com/daned/daned/mtasts/manager"
	"github.com/daned/daned/probe"
	"github.com/daned/daned/shared/fleet"
	"github.com/daned/daned/state"
)

const (
	stsDomain = "example.test"
	enforce   = "version: STSv1\nmode: enforce\nmx: mx1.example.test\nmax_age: 86400\n"
)

// stsWorld is a real HTTPS policy host on loopback that counts its
// requests, a TXT record, a clock and a Redis the replicas share.
type stsWorld struct {
	clock    *fakeclock.Clock
	fetch    *fetch.Fetcher
	requests atomic.Int64
	redis    *redisServer
	id       atomic.Value // the TXT record's id
}

func newSTSWorld(t *testing.T) *stsWorld {
	t.Helper()
	now := time.Now()
	root := testca.New(t, "Test WebPKI Root", now)
	_, cert := root.Issue(t, testca.Leaf{DNSNames: []string{"mta-sts." + stsDomain}, NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(0, 3, 0)})
	w := &stsWorld{clock: fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)), redis: startRedis(t)}
	w.id.Store("one")
	mux := http.NewServeMux()
	mux.HandleFunc(fetch.Path, func(rw http.ResponseWriter, _ *http.Request) {
		w.requests.Add(1)
		rw.Header().Set("Content-Type", "text/plain")
		io.WriteString(rw, enforce)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = ln
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	w.fetch, err = fetch.New(fetch.Config{
		Lookup: fetch.LookupFunc(func(context.Context, string) ([]netip.Addr, error) {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}),
		Targets: probe.TargetPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		Roots:   root.Pool(),
		Port:    uint16(ln.Addr().(*net.TCPAddr).Port),
		Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *stsWorld) LookupTXT(context.Context, string) (manager.TXTAnswer, error) {
	return manager.TXTAnswer{Records: []string{"v=STSv1; id=" + w.id.Load().(string)}, Security: manager.Insecure}, nil
}

// shared returns the shared policies over w's Redis, sealed with secret.
func (w *stsWorld) shared(t *testing.T, secret string) *fleet.Policies {
	t.Helper()
	p, err := fleet.NewPolicies(fleet.Config{Store: w.redis.backend(t, secret, w.clock.Now), Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// replica is one daned's MTA-STS manager, with its own state store.
func (w *stsWorld) replica(t *testing.T, sh *fleet.Policies) *manager.Manager {
	t.Helper()
	st, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := manager.Config{TXT: w, Fetcher: w.fetch, Store: st, Clock: w.clock, RefreshInterval: -1}
	if sh != nil {
		cfg.Shared = sh
	}
	m, err := manager.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func policyOf(t *testing.T, m *manager.Manager) manager.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return m.Policy(ctx, stsDomain)
}

func (w *stsWorld) expect(t *testing.T, r manager.Result, id string, fetches int64) {
	t.Helper()
	if r.Policy.Mode != mtasts.ModeEnforce || r.RecordID != id || r.Failure != mtasts.ReasonNone {
		t.Fatalf("policy mode %v id %q failure %v (%s); want enforce %q", r.Policy.Mode, r.RecordID, r.Failure, r.Detail, id)
	}
	if n := w.requests.Load(); n != fetches {
		t.Fatalf("the policy host saw %d fetches, want %d", n, fetches)
	}
}

// TestPolicyFetchedOnce: a policy one replica fetched is the other's
// without a fetch; a new record id is fetched once for both; Invalidate
// removes the shared policy.
func TestPolicyFetchedOnce(t *testing.T) {
	w := newSTSWorld(t)
	a, b := w.replica(t, w.shared(t, "s3cret")), w.replica(t, w.shared(t, "s3cret"))
	w.expect(t, policyOf(t, a), "one", 1)
	w.expect(t, policyOf(t, b), "one", 1)
	if st := b.SharedStats(); st.Hits != 1 || st.Rejected != 0 {
		t.Fatalf("replica b: %+v", st)
	}
	w.id.Store("two")
	w.expect(t, policyOf(t, b), "two", 2)
	w.expect(t, policyOf(t, a), "two", 2) // a cached "one": the shared "two" is newer
	if _, err := a.Invalidate(stsDomain); err != nil {
		t.Fatal(err)
	}
	c := w.replica(t, w.shared(t, "s3cret"))
	w.expect(t, policyOf(t, c), "two", 3)
}

// TestRefreshShared: the first replica to renew a policy renews it for
// all: the other takes the renewed one without a fetch.
func TestRefreshShared(t *testing.T) {
	w := newSTSWorld(t)
	a, b := w.replica(t, w.shared(t, "s3cret")), w.replica(t, w.shared(t, "s3cret"))
	w.expect(t, policyOf(t, a), "one", 1)
	w.expect(t, policyOf(t, b), "one", 1)
	w.clock.Advance(20 * time.Hour) // the last quarter of max_age 86400
	ctx := context.Background()
	if n := a.RefreshDue(ctx); n != 1 || w.requests.Load() != 2 {
		t.Fatalf("a renewed %d policies with %d fetches in all", n, w.requests.Load())
	}
	if n := b.RefreshDue(ctx); n != 1 || w.requests.Load() != 2 {
		t.Fatalf("b renewed %d policies; the policy host saw %d fetches, want 2", n, w.requests.Load())
	}
	r := policyOf(t, b)
	if want := w.clock.Now().Add(24 * time.Hour); !r.Expires.Equal(want) {
		t.Fatalf("b's policy expires at %v, want %v (renewed)", r.Expires, want)
	}
}

// TestForgedPolicyRefused: a shared entry not sealed with the secret (a
// weaker policy written by whoever can write to Redis) is ignored,
// counted, and the policy fetched.
func TestForgedPolicyRefused(t *testing.T) {
	tests := []struct {
		name  string
		write func(t *testing.T, w *stsWorld)
	}{
		{"other secret", func(t *testing.T, w *stsWorld) {
			forger := w.shared(t, "guessed")
			now := w.clock.Now()
			err := forger.PutSharedPolicy(context.Background(), state.STSPolicy{Domain: stsDomain, ID: "one",
				Text: "version: STSv1\nmode: none\nmax_age: 86400\n", Mode: "none", MaxAge: 24 * time.Hour, FetchedAt: now, Expires: now.Add(24 * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
		}},
		{"garbage", func(t *testing.T, w *stsWorld) {
			if err := w.redis.client(t).Set(context.Background(), "daned:s:"+stsDomain, "{\"mode\":\"none\"}", time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newSTSWorld(t)
			tt.write(t, w)
			m := w.replica(t, w.shared(t, "s3cret"))
			w.expect(t, policyOf(t, m), "one", 1)
			if st := m.SharedStats(); st.Rejected != 1 || st.Hits != 0 || st.Writes != 1 {
				t.Fatalf("%+v: want the forged entry rejected, the fetched policy written", st)
			}
			// The fetched policy replaced the forgery.
			w.expect(t, policyOf(t, w.replica(t, w.shared(t, "s3cret"))), "one", 1)
		})
	}
}

// TestRedisDown: with Redis gone, replicas fetch and answer alone, and
// share again once it is back.
func TestRedisDown(t *testing.T) {
	w := newSTSWorld(t)
	w.redis.kill()
	a := w.replica(t, w.shared(t, "s3cret"))
	w.expect(t, policyOf(t, a), "one", 1)
	if st := a.SharedStats(); st.Errors == 0 {
		t.Fatalf("%+v: want the failures counted", st)
	}
	if _, err := a.Invalidate(stsDomain); err == nil {
		t.Error("Invalidate with Redis down: want the shared store's error reported")
	}
	w.redis.restart()
	w.expect(t, policyOf(t, a), "one", 2)
	w.expect(t, policyOf(t, w.replica(t, w.shared(t, "s3cret"))), "one", 2)
}
