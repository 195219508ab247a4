package reporter_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/daned/daned/internal/fakeclock"
	"github.com/daned/daned/internal/tlsrpttest"
	"github.com/daned/daned/state"
	"github.com/daned/daned/tlsrpt"
	"github.com/daned/daned/tlsrpt/reporter"
)

var day = time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)

// sender records deliveries; fail, when set, decides each one's error.
type sender struct {
	mu   sync.Mutex
	sent []delivery
	fail func(rua string, attempt int) error
}

type delivery struct {
	rua string
	rep state.TLSRPTReport
	err error
}

var errPermanent = errors.New("550 no such user")

func (s *sender) Send(_ context.Context, rua string, r state.TLSRPTReport) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if s.fail != nil {
		n := 0
		for _, d := range s.sent {
			if d.rua == rua {
				n++
			}
		}
		err = s.fail(rua, n+1)
	}
	s.sent = append(s.sent, delivery{rua, r, err})
	return err
}

func (s *sender) Permanent(err error) bool { return errors.Is(err, errPermanent) }

func (s *sender) ok() []delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []delivery
	for _, d := range s.sent {
		if d.err == nil {
			out = append(out, d)
		}
	}
	return out
}

func (s *sender) attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sent)
}

// txt is a DNS of TLSRPT records.
type txt map[string][]string

func (t txt) LookupTXT(_ context.Context, name string) ([]string, error) {
	if r, ok := t[name]; ok && r == nil {
		return nil, errors.New("SERVFAIL")
	}
	return t[name], nil
}

type world struct {
	clk   *fakeclock.Clock
	dir   string
	store *state.Store
	agg   *tlsrpt.Aggregator
	rep   *reporter.Reporter
	snd   *sender
	dns   txt
}

func newWorld(t *testing.T, dir string, snd *sender, dns txt, clk *fakeclock.Clock, mod func(*reporter.Config)) *world {
	t.Helper()
	st, err := state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	agg, err := tlsrpt.NewAggregator(tlsrpt.AggregatorConfig{Store: st, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	cfg := reporter.Config{Aggregator: agg, Store: st, Sender: snd, TXT: dns, Organization: "Example Sender", Contact: "tlsrpt@sender.example",
		Submitter: "sender.example", Now: clk.Now, Jitter: func(n time.Duration) time.Duration { return n / 2 }}
	if mod != nil {
		mod(&cfg)
	}
	rep, err := reporter.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{clk: clk, dir: dir, store: st, agg: agg, rep: rep, snd: snd, dns: dns}
	t.Cleanup(w.stop)
	return w
}

func (w *world) stop() {
	if w.store != nil {
		_ = w.agg.Close()
		_ = w.store.Close()
		w.store = nil
	}
}

func report(t *testing.T, d delivery) tlsrpt.Report {
	t.Helper()
	js, err := tlsrpttest.Gunzip(d.rep.Gzip)
	if err != nil {
		t.Fatal(err)
	}
	if err := tlsrpttest.Check(js); err != nil {
		t.Fatalf("the report breaks RFC 8460 §4.4: %v\n%s", err, js)
	}
	var r tlsrpt.Report
	if err := json.Unmarshal(js, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestPeriodReported: a day's counts are reported after the day and its
// delay, one report per policy domain and rua, with exact counts, and
// never again.
func TestPeriodReported(t *testing.T) {
	clk := fakeclock.New(day.Add(12 * time.Hour))
	dns := txt{
		"_smtp._tls.mx.a.example.": {"v=TLSRPTv1; rua=mailto:tlsrpt@a.example,https://r.a.example/v1"},
		"_smtp._tls.mx.b.example.": {"v=TLSRPTv1; rua=mailto:tlsrpt@b.example"},
		"_smtp._tls.mx.c.example.": {"v=TLSRPTv1; rua=mailto:x@c.example", "v=TLSRPTv1; rua=mailto:y@c.example"}, // two: none
	}
	w := newWorld(t, t.TempDir(), &sender{}, dns, clk, nil)
	w.agg.Add(tlsrpttest.Sessions(day, "mx.a.example", 5, 2)...)
	w.agg.Add(tlsrpttest.Sessions(day, "mx.b.example", 3, 0)...)
	w.agg.Add(tlsrpttest.Sessions(day, "mx.c.example", 1, 1)...)
	w.agg.Add(tlsrpttest.Sessions(day, "mx.d.example", 1, 0)...) // no record at all
	ctx := context.Background()
	next := w.rep.Tick(ctx)
	// Grace min(2m, 2.4h) + jitter 30m (half of MaxDelay 1h).
	if want := day.Add(24*time.Hour + 32*time.Minute); !next.Equal(want) || w.snd.attempts() != 0 {
		t.Fatalf("next %v (want %v), %d sent before the day ended", next, want, w.snd.attempts())
	}
	clk.Set(day.Add(24*time.Hour + 10*time.Minute))
	if w.rep.Tick(ctx); w.snd.attempts() != 0 {
		t.Fatal("sent before the delay")
	}
	clk.Set(next)
	w.rep.Tick(ctx)
	got := w.snd.ok()
	var ruas []string
	for _, d := range got {
		ruas = append(ruas, d.rua)
	}
	slices.Sort(ruas)
	if !slices.Equal(ruas, []string{"https://r.a.example/v1", "mailto:tlsrpt@a.example", "mailto:tlsrpt@b.example"}) {
		t.Fatalf("sent to %q", ruas)
	}
	for _, d := range got {
		r := report(t, d)
		if !r.DateRange.Start.Equal(day) || !r.DateRange.End.Equal(day.Add(24*time.Hour-time.Second)) || r.OrganizationName != "Example Sender" ||
			r.ContactInfo != "tlsrpt@sender.example" || r.ReportID != d.rep.ReportID || len(r.Policies) != 1 {
			t.Fatalf("report %+v", r)
		}
		want := tlsrpt.Summary{Successful: 5, Failed: 2}
		if d.rep.PolicyDomain == "mx.b.example" {
			want = tlsrpt.Summary{Successful: 3}
		}
		if r.Policies[0].Summary != want || r.Policies[0].Policy.Domain != d.rep.PolicyDomain {
			t.Errorf("%s: %+v, want %+v", d.rua, r.Policies[0], want)
		}
	}
	if got[0].rep.ReportID == "" || (got[0].rep.PolicyDomain == got[1].rep.PolicyDomain) != (got[0].rep.ReportID == got[1].rep.ReportID) {
		t.Error("a report's addresses must share its report-id, and reports must not")
	}
	// Nothing more, ever, for that day.
	clk.Set(day.Add(47 * time.Hour))
	w.rep.Tick(ctx)
	if n := w.snd.attempts(); n != 3 {
		t.Fatalf("%d deliveries, want 3", n)
	}
}

// TestOutageRetried: a receiver that fails is retried with backoff, the
// same report-id each time, across a restart, and the report is
// delivered once.
func TestOutageRetried(t *testing.T) {
	clk := fakeclock.New(day.Add(12 * time.Hour))
	dir := t.TempDir()
	dns := txt{"_smtp._tls.mx.a.example.": {"v=TLSRPTv1; rua=https://r.a.example/v1"}}
	down := true
	snd := &sender{fail: func(string, int) error {
		if down {
			return errors.New("connection refused")
		}
		return nil
	}}
	w := newWorld(t, dir, snd, dns, clk, nil)
	w.agg.Add(tlsrpttest.Sessions(day, "mx.a.example", 2, 1)...)
	clk.Set(day.Add(25 * time.Hour))
	ctx := context.Background()
	next := w.rep.Tick(ctx)
	if snd.attempts() != 1 || !next.Equal(clk.Now().Add(time.Minute)) {
		t.Fatalf("%d attempts, next %v", snd.attempts(), next)
	}
	clk.Set(next)
	next = w.rep.Tick(ctx)
	if snd.attempts() != 2 || !next.Equal(clk.Now().Add(2*time.Minute)) {
		t.Fatalf("%d attempts, next %v: want backoff doubling", snd.attempts(), next)
	}
	w.stop() // daned restarts
	w = newWorld(t, dir, snd, dns, clk, nil)
	down = false
	clk.Set(next)
	w.rep.Tick(ctx)
	clk.Advance(time.Hour)
	w.rep.Tick(ctx)
	all := snd.sent
	if len(all) != 3 || len(snd.ok()) != 1 || all[0].rep.ReportID != all[2].rep.ReportID || string(all[0].rep.Gzip) != string(all[2].rep.Gzip) {
		t.Fatalf("%d attempts (%d delivered); the retry must send the same report", len(all), len(snd.ok()))
	}
}

// TestGivesUp: a permanent refusal ends the report at once; a receiver
// down for a day ends it after RetryFor.
func TestGivesUp(t *testing.T) {
	clk := fakeclock.New(day.Add(12 * time.Hour))
	dns := txt{"_smtp._tls.mx.a.example.": {"v=TLSRPTv1; rua=mailto:gone@a.example,https://down.a.example/"}}
	snd := &sender{fail: func(rua string, _ int) error {
		if rua == "mailto:gone@a.example" {
			return errPermanent
		}
		return errors.New("503 unavailable")
	}}
	w := newWorld(t, t.TempDir(), snd, dns, clk, nil)
	w.agg.Add(tlsrpttest.Sessions(day, "mx.a.example", 1, 0)...)
	clk.Set(day.Add(25 * time.Hour))
	ctx := context.Background()
	for range 100 {
		next := w.rep.Tick(ctx)
		if next.Sub(clk.Now()) > 2*time.Hour {
			break
		}
		clk.Set(next)
	}
	perm, temp := 0, 0
	for _, d := range snd.sent {
		if d.rua == "mailto:gone@a.example" {
			perm++
		} else {
			temp++
		}
	}
	if perm != 1 || temp < 20 || temp > 40 || clk.Now().Before(day.Add(48*time.Hour)) {
		t.Fatalf("permanent: %d attempts (want 1); temporary: %d attempts until %v (want retries for a day)", perm, temp, clk.Now())
	}
	reps, _ := w.store.TLSRPTReports()
	for _, r := range reps {
		if !r.Done || r.LastError == "" {
			t.Errorf("%s: done %v, last error %q", r.Key, r.Done, r.LastError)
		}
	}
}

// TestDiscoveryFailureRetried: a TLSRPT lookup that fails is retried;
// the report is kept meanwhile.
func TestDiscoveryFailureRetried(t *testing.T) {
	clk := fakeclock.New(day.Add(12 * time.Hour))
	dns := txt{"_smtp._tls.mx.a.example.": nil} // SERVFAIL
	w := newWorld(t, t.TempDir(), &sender{}, dns, clk, nil)
	w.agg.Add(tlsrpttest.Sessions(day, "mx.a.example", 1, 0)...)
	clk.Set(day.Add(25 * time.Hour))
	ctx := context.Background()
	next := w.rep.Tick(ctx)
	if w.snd.attempts() != 0 || !next.Equal(clk.Now().Add(time.Minute)) {
		t.Fatalf("next %v", next)
	}
	dns["_smtp._tls.mx.a.example."] = []string{"v=TLSRPTv1;rua=mailto:r@a.example"}
	clk.Set(next)
	w.rep.Tick(ctx)
	if len(w.snd.ok()) != 1 {
		t.Fatalf("%d delivered after the lookup recovered", len(w.snd.ok()))
	}
}

// TestFailuresOnlyAndSendNow: with FailuresOnly a clean domain gets no
// report; SendNow with the current period reports up to now.
func TestFailuresOnlyAndSendNow(t *testing.T) {
	clk := fakeclock.New(day.Add(12 * time.Hour))
	dns := txt{"_smtp._tls.mx.a.example.": {"v=TLSRPTv1;rua=mailto:r@a.example"}, "_smtp._tls.mx.b.example.": {"v=TLSRPTv1;rua=mailto:r@b.example"}}
	w := newWorld(t, t.TempDir(), &sender{}, dns, clk, func(c *reporter.Config) { c.FailuresOnly = true })
	w.agg.Add(tlsrpttest.Sessions(day, "mx.a.example", 3, 0)...)
	w.agg.Add(tlsrpttest.Sessions(day, "mx.b.example", 3, 1)...)
	ctx := context.Background()
	sent, err := w.rep.SendNow(ctx, false)
	if err != nil || len(sent) != 0 {
		t.Fatalf("without the current period: %v %+v", err, sent)
	}
	sent, err = w.rep.SendNow(ctx, true)
	if err != nil || len(sent) != 1 || sent[0].PolicyDomain != "mx.b.example" || !sent[0].OK || sent[0].ReportID == "" {
		t.Fatalf("with the current period: %v %+v", err, sent)
	}
	r := report(t, w.snd.ok()[0])
	if !r.DateRange.End.Equal(day.Add(12*time.Hour-time.Second)) || r.Policies[0].Summary.Failed != 1 {
		t.Fatalf("report %+v", r)
	}
	if sent, _ = w.rep.SendNow(ctx, true); len(sent) != 0 {
		t.Fatalf("sent again: %+v", sent)
	}
}
