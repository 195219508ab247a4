package manager_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daned/daned/internal/fakeclock"
	"github.com/daned/daned/internal/testca"
	"github.com/daned/daned/mtasts"
	"github.com/daned/daned/mtasts/fetch"
	"github.com/daned/daned/mtasts/manager"
	"github.com/daned/daned/probe"
	"github.com/daned/daned/state"
)

const (
	domain   = "example.test"
	enforce  = "version: STSv1\nmode: enforce\nmx: mx1.example.test\nmx: *.mx.example.test\nmax_age: 86400\n"
	testing_ = "version: STSv1\nmode: testing\nmx: mx1.example.test\nmax_age: 86400\n"
	none     = "version: STSv1\nmode: none\nmax_age: 86400\n"
)

// fakeTXT serves _mta-sts TXT records from a map.
type fakeTXT struct {
	mu      sync.Mutex
	answers map[string]manager.TXTAnswer
	errs    map[string]error
	calls   atomic.Int64
}

func (f *fakeTXT) LookupTXT(_ context.Context, name string) (manager.TXTAnswer, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.errs[name]; err != nil {
		return manager.TXTAnswer{}, err
	}
	return f.answers[name], nil
}

// set publishes records at _mta-sts.<domain> (none: NXDOMAIN).
func (f *fakeTXT) set(records ...string) {
	f.setAnswer(manager.TXTAnswer{Records: records, Security: manager.Insecure})
}

func (f *fakeTXT) setAnswer(a manager.TXTAnswer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers["_mta-sts."+domain] = a
	delete(f.errs, "_mta-sts."+domain)
}

func (f *fakeTXT) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs["_mta-sts."+domain] = err
}

// policyHost is a real HTTPS policy host on loopback.
type policyHost struct {
	srv      *httptest.Server
	port     uint16
	requests atomic.Int64
	hits     chan struct{} // one value per request, when the handler starts

	mu     sync.Mutex
	body   string
	status int
	hold   chan struct{} // when set, requests wait for it to close
}

func (h *policyHost) serve(status int, body string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.status, h.body = status, body
}

func (h *policyHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.requests.Add(1)
	h.hits <- struct{}{}
	h.mu.Lock()
	status, body, hold := h.status, h.body, h.hold
	h.mu.Unlock()
	if hold != nil {
		<-hold
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

type world struct {
	clock *fakeclock.Clock
	txt   *fakeTXT
	host  *policyHost
	fetch *fetch.Fetcher
}

func newWorld(t *testing.T) *world {
	t.Helper()
	now := time.Now()
	root := testca.New(t, "Test WebPKI Root", now)
	_, cert := root.Issue(t, testca.Leaf{DNSNames: []string{"mta-sts." + domain, "mta-sts.other.test"}, NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(0, 3, 0)})
	h := &policyHost{hits: make(chan struct{}, 100), status: 200, body: enforce}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(fetch.Path, h)
	h.srv = httptest.NewUnstartedServer(mux)
	h.srv.Listener = ln
	h.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	h.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	h.srv.StartTLS()
	t.Cleanup(h.srv.Close)
	h.port = uint16(ln.Addr().(*net.TCPAddr).Port)

	f, err := fetch.New(fetch.Config{
		Lookup: fetch.LookupFunc(func(context.Context, string) ([]netip.Addr, error) {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}),
		Targets: probe.TargetPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		Roots:   root.Pool(),
		Port:    h.port,
		Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	txt := &fakeTXT{answers: map[string]manager.TXTAnswer{}, errs: map[string]error{}}
	txt.set("v=STSv1; id=one")
	return &world{
		clock: fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)),
		txt:   txt,
		host:  h,
		fetch: f,
	}
}

func (w *world) manager(t *testing.T, store *state.Store, tweak ...func(*manager.Config)) *manager.Manager {
	t.Helper()
	cfg := manager.Config{TXT: w.txt, Fetcher: w.fetch, Store: store, Clock: w.clock, RefreshInterval: -1}
	for _, f := range tweak {
		f(&cfg)
	}
	m, err := manager.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func openStore(t *testing.T, dir string) *state.Store {
	t.Helper()
	s, err := state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func policy(t *testing.T, m *manager.Manager) manager.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := m.Policy(ctx, domain)
	t.Logf("Policy: mode %q id %q from cache %v failure %v detail %q", r.Policy.Mode, r.RecordID, r.FromCache, r.Failure, r.Detail)
	return r
}

// expect checks the fields of a Result that matter in these tests, and
// how many HTTPS requests the policy host has seen in all.
func (w *world) expect(t *testing.T, r manager.Result, mode mtasts.Mode, id string, fromCache bool, failure mtasts.Reason, requests int64) {
	t.Helper()
	if r.Policy.Mode != mode || r.RecordID != id || r.FromCache != fromCache || r.Failure != failure {
		t.Fatalf("result mode %q id %q fromCache %v failure %v (%s); want %q %q %v %v",
			r.Policy.Mode, r.RecordID, r.FromCache, r.Failure, r.Detail, mode, id, fromCache, failure)
	}
	if n := w.host.requests.Load(); n != requests {
		t.Fatalf("the policy host saw %d requests, want %d", n, requests)
	}
}

func TestFirstFetch(t *testing.T) {
	w := newWorld(t)
	m := w.manager(t, nil)
	r := policy(t, m)
	w.expect(t, r, mtasts.ModeEnforce, "one", false, mtasts.ReasonNone, 1)
	if r.Text != enforce || r.Domain != domain || len(r.Policy.MX) != 2 || r.Policy.MaxAge != 86400*time.Second {
		t.Errorf("result %+v", r)
	}
	if !r.FetchedAt.Equal(w.clock.Now()) || !r.Expires.Equal(w.clock.Now().Add(86400*time.Second)) {
		t.Errorf("fetched %v, expires %v", r.FetchedAt, r.Expires)
	}
	if r.State() != mtasts.STSEnforce {
		t.Errorf("State %v", r.State())
	}
}

func TestIDUnchangedNoFetch(t *testing.T) {
	w := newWorld(t)
	m := w.manager(t, nil)
	w.expect(t, policy(t, m), mtasts.ModeEnforce, "one", false, mtasts.ReasonNone, 1)
	w.clock.Advance(12 * time.Hour)
	w.expect(t, policy(t, m), mtasts.ModeEnforce, "one", true, mtasts.ReasonNone, 1)
	w.expect(t, policy(t, m), mtasts.ModeEnforce, "one", true, mtasts.ReasonNone, 1)
	if n := w.txt.calls.Load(); n != 3 {
		t.Errorf("%d TXT lookups, want one per call", n)
	}
}

func TestIDChangedFetches(t *testing.T) {
	w := newWorld(t)
	m := w.manager(t, nil)
	w.expect(t, policy(t, m), mtasts.ModeEnforce, "one", false, mtasts.ReasonNone, 1)
	w.host.serve(200, testing_)
	w.txt.set("v=STSv1; id=two")
	w.expect(t, policy(t, m), mtasts.ModeTesting, "two", false, mtasts.ReasonNone, 2)
	w.expect(t, policy(t, m), mtasts.ModeTesting, "two", true, mtasts.ReasonNone, 2)
}

func TestExpiredPolicyIsFetchedAgain(t *testing.T) {
	w := newWorld(t)
	m := w.manager(t, nil)
	w.expect(t, policy(t, m), mtasts.ModeEnforce, "one", false, mtasts.ReasonNone, 1)
	w.clock.Advance(86400 * time.Second)
	w.expect(t, policy(t, m), mtasts.ModeEnforce, "one", false, mtasts.ReasonNone, 2)
}

func TestModeNoneReplacesAtOnce(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	store := openStore(t, dir)
	defer store.Close()
	m := w.manager(t, store)
	w.expect(t, policy(t, m), mtasts.ModeEnforce, "one", false, mtasts.ReasonNone, 1)
	w.host.serve(200, none)
	w.txt.set("v=STSv1; id=withdrawn")
	r := policy(t, m)
	w.expect(t, r, mtasts.ModeNone, "withdrawn", false, mtasts.ReasonNone, 2)
	if r.State() != mtasts.STSNone {
		t.Errorf("State %v", r.State())
	}
	if sp, ok, err := store.STSPolicy(domain); err != nil || !ok || sp.Mode != "none" || sp.ID != "withdrawn" {
		t.Fatalf("stored %+v, %v, %v; want the mode none policy", sp, ok, err)
	}
}

// TestRestartWhilePolicyHostDown is the downgrade defence (RFC 8461
// §5.1): a policy cached before a restart still applies after it, while
// the policy host is down and whatever an attacker does to the TXT record.
func TestRestartWhilePolicyHostDown(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	store := openStore(t, dir)
	m := w.manager(t, store)
	w.expect(t, policy(t, m), mtasts.ModeEnforce, "one", false, mtasts.ReasonNone, 1)
	m.Close()
	store.Close()

	// The restart: a new store handle and a new manager; the policy host
	// is gone and only answers 503 now.
	w.host.serve(503, "down for maintenance")
	w.clock.Advance(time.Hour)
	store = openStore(t, dir)
	defer store.Close()
	m = w.manager(t, store)

	t.Run("same id: no request at all", func(t *testing.T) {
		r := policy(t, m)
		w.expect(t, r, mtasts.ModeEnforce, "one", true, mtasts.ReasonNone, 1)
		if r.Text != enforce || len(r.Policy.MX) != 2 {
			t.Fatalf("reloaded policy %+v", r)
		}
	})
	t.Run("TXT record removed", func(t *testing.T) {
		w.txt.set()
		r := policy(t, m)
		w.expect(t, r, mtasts.ModeEnforce, "one", true, mtasts.ReasonNone, 1)
		if !strings.Contains(r.Detail, "no v=STSv1 TXT record") || !strings.Contains(r.Detail, "cached policy applies") {
			t.Errorf("detail %q", r.Detail)
		}
	})
	t.Run("TXT lookup fails", func(t *testing.T) {
		w.txt.fail(errors.New("SERVFAIL"))
		r := policy(t, m)
		w.expect(t, r, mtasts.ModeEnforce, "one", true, mtasts.ReasonPolicyFetchFailed, 1)
		if r.State() != mtasts.STSEnforce {
			t.Errorf("State %v: the cached policy must still be enforced", r.State())
		}
	})
	t.Run("TXT bogus", func(t *testing.T) {
		w.txt.setAnswer(manager.TXTAnswer{Records: []string{"v=STSv1; id=forged"}, Security: manager.Bogus})
		r := policy(t, m)
		w.expect(t, r, mtasts.ModeEnforce, "one", true, mtasts.ReasonPolicyFetchFailed, 1)
		if !strings.Contains(r.Detail, "DNSSEC validation failed (bogus)") {
			t.Errorf("detail %q", r.Detail)
		}
	})
	t.Run("new id, policy host down", func(t *testing.T) {
		w.txt.set("v=STSv1; id=two")
		r := policy(t, m)
		w.expect(t, r, mtasts.ModeEnforce, "one", true, mtasts.ReasonPolicyFetchFailed, 2)
		if !strings.Contains(r.Detail, "HTTP 503") || !strings.Contains(r.Detail, "using the cached policy") {
			t.Errorf("detail %q", r.Detail)
		}
	})
}

func TestFailureBackoff(t *testing.T) {
	w := newWorld(t)
	m := w.manager(t, nil)
	w.host.serve(500, "broken")
	r := policy(t, m)
	w.expect(t, r, mtasts.ModeUnspecified, "", false, mtasts.ReasonPolicyFetchFailed, 1)
	if r.State() != mtasts.STSFetchError {
		t.Errorf("State %v", r.State())
	}
	w.host.serve(200, enforce)
	w.expect(t, policy(t, m), mtasts.ModeUnspecified, "", false, mtasts.ReasonPolicyFetchFailed, 1)
	w.clock.Advance(5*time.Minute - time.Second)
	r = policy(t, m)
	w.expect(t, r, mtasts.ModeUnspecified, "", false, mtasts.ReasonPolicyFetchFailed, 1)
	if !strings.Contains(r.Detail, "not fetched again before 2026-03-01T12:05:00Z") {
		t.Errorf("detail %q", r.Detail)
	}
	w.clock.Advance(time.Second)
	w.expect(t, policy(t, m), mtasts.ModeEnforce, "one", false, mtasts.ReasonNone, 2)
}

func TestFetchFailureTypes(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status int
		body   string
		want   mtasts.Reason
		state  mtasts.STSState
	}{
		{"invalid policy", 200, "version: STSv1\nmode: enforce\nmax_age: 1\n", mtasts.ReasonPolicyInvalid, mtasts.STSInvalid},
		{"not found", 404, "", mtasts.ReasonPolicyFetchFailed, mtasts.STSFetchError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			m := w.manager(t, nil)
			w.host.serve(tt.status, tt.body)
			r := policy(t, m)
			w.expect(t, r, mtasts.ModeUnspecified, "", false, tt.want, 1)
			if r.State() != tt.state {
				t.Errorf("State %v, want %v", r.State(), tt.state)
			}
		})
	}
}

func TestDiscovery(t *testing.T) {
	for _, tt := range []struct {
		name    string
		answer  manager.TXTAnswer
		err     error
		failure mtasts.Reason
		detail  string
	}{
		{name: "no record", answer: manager.TXTAnswer{}, detail: "no v=STSv1 TXT record"},
		{name: "two records", answer: manager.TXTAnswer{Records: []string{"v=STSv1; id=a", "v=STSv1; id=b"}}, detail: "several v=STSv1 TXT records"},
		{name: "invalid record", answer: manager.TXTAnswer{Records: []string{"v=STSv1; id=not-valid"}}, detail: "invalid v=STSv1 TXT record"},
		{name: "lookup failure", err: errors.New("i/o timeout"), failure: mtasts.ReasonPolicyFetchFailed, detail: "TXT lookup of _mta-sts.example.test failed: i/o timeout"},
		{name: "indeterminate", answer: manager.TXTAnswer{Records: []string{"v=STSv1; id=a"}, Security: manager.Indeterminate}, failure: mtasts.ReasonPolicyFetchFailed, detail: "indeterminate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			m := w.manager(t, nil)
			if tt.err != nil {
				w.txt.fail(tt.err)
			} else {
				w.txt.setAnswer(tt.answer)
			}
			r := policy(t, m)
			w.expect(t, r, mtasts.ModeUnspecified, "", false, tt.failure, 0)
			if !strings.Contains(r.Detail, tt.detail) {
				t.Errorf("detail %q, want %q", r.Detail, tt.detail)
			}
		})
	}
	t.Run("secure record", func(t *testing.T) {
		w := newWorld(t)
		m := w.manager(t, nil)
		w.txt.setAnswer(manager.TXTAnswer{Records: []string{"v=spf1 -all", "v=STSv1; id=sec"}, Security: manager.Secure})
		w.expect(t, policy(t, m), mtasts.ModeEnforce, "sec", false, mtasts.ReasonNone, 1)
	})
}

func TestRefreshAhead(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	store := openStore(t, dir)
	defer store.Close()
	m := w.manager(t, store)
	w.expect(t, policy(t, m), mtasts.ModeEnforce, "one", false, mtasts.ReasonNone, 1)
	ctx := context.Background()

	w.clock.Advance(18 * time.Hour) // 6 h of 24 left: not yet
	if n := m.RefreshDue(ctx); n != 0 || w.host.requests.Load() != 1 {
		t.Fatalf("refreshed %d with %d requests before a quarter of max_age was left", n, w.host.requests.Load())
	}
	w.clock.Advance(time.Second)
	w.host.serve(200, testing_)
	if n := m.RefreshDue(ctx); n != 1 || w.host.requests.Load() != 2 {
		t.Fatalf("refreshed %d with %d requests, want 1 and 2", n, w.host.requests.Load())
	}
	// The renewed policy is what Policy answers, with the same id, from
	// the cache; its lifetime starts at the refresh.
	r := policy(t, m)
	w.expect(t, r, mtasts.ModeTesting, "one", true, mtasts.ReasonNone, 2)
	if !r.FetchedAt.Equal(w.clock.Now()) {
		t.Errorf("fetched at %v, want the refresh time %v", r.FetchedAt, w.clock.Now())
	}
	if sp, _, _ := store.STSPolicy(domain); sp.Mode != "testing" || !sp.FetchedAt.Equal(w.clock.Now()) {
		t.Errorf("stored %+v", sp)
	}

	// A refresh that fails keeps the cached policy and backs off.
	w.clock.Advance(18*time.Hour + time.Second)
	w.host.serve(500, "")
	if n := m.RefreshDue(ctx); n != 1 || w.host.requests.Load() != 3 {
		t.Fatalf("refreshed %d with %d requests", n, w.host.requests.Load())
	}
	if n := m.RefreshDue(ctx); n != 0 || w.host.requests.Load() != 3 {
		t.Fatalf("refreshed again during the backoff: %d, %d requests", n, w.host.requests.Load())
	}
	w.expect(t, policy(t, m), mtasts.ModeTesting, "one", true, mtasts.ReasonNone, 3)
}

func TestBackgroundRefresh(t *testing.T) {
	w := newWorld(t)
	m := w.manager(t, nil, func(c *manager.Config) { c.RefreshInterval = 5 * time.Millisecond })
	w.expect(t, policy(t, m), mtasts.ModeEnforce, "one", false, mtasts.ReasonNone, 1)
	<-w.host.hits
	w.clock.Advance(23 * time.Hour)
	select {
	case <-w.host.hits:
	case <-time.After(20 * time.Second):
		t.Fatal("the background refresher did not fetch a policy due for refresh")
	}
	m.Close() // waits for the refresher
}

func TestCoalescing(t *testing.T) {
	w := newWorld(t)
	m := w.manager(t, nil)
	hold := make(chan struct{})
	w.host.mu.Lock()
	w.host.hold = hold
	w.host.mu.Unlock()

	const callers = 10
	waiting := make(chan string, callers)
	manager.SetWaitingHook(m, func(d string) { waiting <- d })
	results := make(chan manager.Result, callers)
	for i := 0; i < callers; i++ {
		go func() { results <- m.Policy(context.Background(), domain) }()
	}
	<-w.host.hits // the one fetch has reached the policy host
	for i := 0; i < callers; i++ {
		<-waiting // every caller waits for it
	}
	close(hold)
	for i := 0; i < callers; i++ {
		r := <-results
		if r.Policy.Mode != mtasts.ModeEnforce || r.Failure != mtasts.ReasonNone {
			t.Fatalf("caller %d: %+v", i, r)
		}
	}
	if n := w.host.requests.Load(); n != 1 {
		t.Fatalf("%d HTTPS requests for %d concurrent callers, want 1", n, callers)
	}
	if n := w.txt.calls.Load(); n != 1 {
		t.Fatalf("%d TXT lookups for %d concurrent callers, want 1", n, callers)
	}
}

func TestCallerGivesUp(t *testing.T) {
	w := newWorld(t)
	m := w.manager(t, nil)
	hold := make(chan struct{})
	w.host.mu.Lock()
	w.host.hold = hold
	w.host.mu.Unlock()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan manager.Result)
	go func() { done <- m.Policy(ctx, domain) }()
	<-w.host.hits
	cancel()
	r := <-done
	w.expect(t, r, mtasts.ModeUnspecified, "", false, mtasts.ReasonPolicyFetchFailed, 1)
	if !strings.Contains(r.Detail, "gave up waiting") {
		t.Errorf("detail %q", r.Detail)
	}
	// The fetch goes on without the caller: the next caller joins it or
	// finds its policy cached, and no second request is made.
	close(hold)
	if r := policy(t, m); r.Policy.Mode != mtasts.ModeEnforce || r.Failure != mtasts.ReasonNone {
		t.Fatalf("after the held fetch: %+v", r)
	}
	w.expect(t, policy(t, m), mtasts.ModeEnforce, "one", true, mtasts.ReasonNone, 1)
}

func TestCloseCancelsFetches(t *testing.T) {
	w := newWorld(t)
	m := w.manager(t, nil)
	hold := make(chan struct{})
	defer close(hold)
	w.host.mu.Lock()
	w.host.hold = hold
	w.host.mu.Unlock()
	done := make(chan manager.Result)
	go func() { done <- m.Policy(context.Background(), domain) }()
	<-w.host.hits
	m.Close() // must not wait for the held request
	r := <-done
	w.expect(t, r, mtasts.ModeUnspecified, "", false, mtasts.ReasonPolicyFetchFailed, 1)
}

func TestInvalidate(t *testing.T) {
	w := newWorld(t)
	store := openStore(t, t.TempDir())
	defer store.Close()
	m := w.manager(t, store)
	w.expect(t, policy(t, m), mtasts.ModeEnforce, "one", false, mtasts.ReasonNone, 1)
	if got := m.CountByMode(); got[mtasts.ModeEnforce] != 1 || len(got) != 1 {
		t.Fatalf("CountByMode = %v, want one enforced policy", got)
	}
	if had, err := m.Invalidate("EXAMPLE.test."); err != nil || !had {
		t.Fatalf("Invalidate = %v, %v; want true, nil", had, err)
	}
	if had, err := m.Invalidate("example.test"); err != nil || had {
		t.Fatalf("Invalidate again = %v, %v; want false, nil", had, err)
	}
	if _, ok, _ := store.STSPolicy(domain); ok {
		t.Fatal("the store still holds the policy")
	}
	w.expect(t, policy(t, m), mtasts.ModeEnforce, "one", false, mtasts.ReasonNone, 2)
}

func TestMaxEntries(t *testing.T) {
	w := newWorld(t)
	m := w.manager(t, nil, func(c *manager.Config) { c.MaxEntries = 1 })
	w.expect(t, policy(t, m), mtasts.ModeEnforce, "one", false, mtasts.ReasonNone, 1)
	// A second domain served by the same host and record evicts the first.
	w.txt.mu.Lock()
	w.txt.answers["_mta-sts.other.test"] = manager.TXTAnswer{Records: []string{"v=STSv1; id=one"}}
	w.txt.mu.Unlock()
	if r := m.Policy(context.Background(), "other.test"); r.Policy.Mode != mtasts.ModeEnforce || r.FromCache {
		t.Fatalf("other.test: %+v", r)
	}
	w.expect(t, policy(t, m), mtasts.ModeEnforce, "one", false, mtasts.ReasonNone, 3)
}

func TestNewConfig(t *testing.T) {
	if _, err := manager.New(manager.Config{}); err == nil {
		t.Error("New without TXT and Fetcher succeeded")
	}
	w := newWorld(t)
	if _, err := manager.New(manager.Config{TXT: w.txt, Fetcher: w.fetch, RetryAfter: -1}); err == nil {
		t.Error("New with a negative RetryAfter succeeded")
	}
	m := w.manager(t, nil)
	if r := m.Policy(context.Background(), "not a domain"); r.Failure != mtasts.ReasonPolicyFetchFailed || r.HasPolicy() {
		t.Errorf("invalid domain: %+v", r)
	}
}
