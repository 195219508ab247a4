//go:build soak

// The soak runs for minutes, so it is built only with the soak tag:
// `make soak` (go test -tags soak), never as part of `make test`.

package soak_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/daned/daned/internal/faultdns"
	"github.com/daned/daned/internal/soak"
	"github.com/daned/daned/internal/testworld"
	danev1 "github.com/daned/daned/proto/dane/v1"
)

// expect is the verdict a soak domain must get when no fault is in force.
type expect struct {
	action danev1.Action
	reason danev1.Reason
}

// badInputs are domains daned must refuse with InvalidArgument.
var badInputs = []string{
	"", ".", "..", "a..b.test", "-lead.test", "trail-.test", "exa mple.test", "a\x00b.test", "a\r\nb.test",
	strings.Repeat("a", 64) + ".test", strings.Repeat("abcdefghi.", 26) + "test", "*.test", "a_b@c.test",
	"xn--.test", "xn--zz-invalid--.test",
	"[127.0.0.1]", "127.0.0.1", "::1", "http://ee-spki.test/", "a/b.test", "ee-spki.test:25",
}

// TestSoak is the bounded soak behind `make soak` (figures in
// docs/RELIABILITY.md). It runs for DANED_SOAK_DURATION (default 3m) at
// DANED_SOAK_RATE requests per second (default 200).
func TestSoak(t *testing.T) {
	duration := envDuration(t, "DANED_SOAK_DURATION", 3*time.Minute)
	rate := envInt(t, "DANED_SOAK_RATE", 200)
	const failureTTL = 2 * time.Second

	cat := map[string]testworld.ScenarioSpec{}
	for _, s := range testworld.Catalogue() {
		cat[s.Name] = s
	}
	hostile := testworld.HostileScenarios()
	specs := []testworld.ScenarioSpec{cat["expired-rrsig"], cat["ds-mismatch"], cat["unsigned"]}
	want := map[string]expect{
		"expired-rrsig.test":            {danev1.Action_ACTION_DEFER, danev1.Reason_REASON_DNSSEC_BOGUS},
		"ds-mismatch.test":              {danev1.Action_ACTION_DEFER, danev1.Reason_REASON_DNSSEC_BOGUS},
		"unsigned.test":                 {danev1.Action_ACTION_DELIVER, danev1.Reason_REASON_OK},
		"hostile-tarpit.test":           {danev1.Action_ACTION_DEFER, danev1.Reason_REASON_TIMEOUT},
		"hostile-drip.test":             {danev1.Action_ACTION_DEFER, danev1.Reason_REASON_TIMEOUT},
		"hostile-endless.test":          {danev1.Action_ACTION_DEFER, danev1.Reason_REASON_SMTP_ERROR},
		"hostile-stall.test":            {danev1.Action_ACTION_DEFER, danev1.Reason_REASON_TIMEOUT},
		"hostile-garbage.test":          {danev1.Action_ACTION_DEFER, danev1.Reason_REASON_TLS_HANDSHAKE_FAILED},
		"hostile-garbage-unsigned.test": {danev1.Action_ACTION_DELIVER, danev1.Reason_REASON_OK},
	}
	var good []string
	for i := range 8 {
		s := soak.DANEDomain("good" + strconv.Itoa(i))
		specs = append(specs, s)
		good = append(good, s.Name+".test")
		want[s.Name+".test"] = expect{danev1.Action_ACTION_DELIVER, danev1.Reason_REASON_OK}
	}
	var bad []string
	for _, s := range append(specs[:2:2], hostile...) {
		bad = append(bad, s.Name+".test")
	}
	e := soak.Start(t, soak.Options{Scenarios: specs, Extra: hostile, FailureTTL: failureTTL, ResolverTimeout: 300 * time.Millisecond})
	e.Proxy.SetDelay(2 * time.Second)

	// Warm every domain once, checking the verdicts with no fault.
	for d, w := range want {
		r, _, err := e.Validate(d, false, 20*time.Second)
		if err != nil || r.GetAction() != w.action || r.GetReason() != w.reason {
			t.Fatalf("warm-up %s: %v %v (%s) %v, want %v %v", d, r.GetAction(), r.GetReason(), r.GetStatusText(), err, w.action, w.reason)
		}
	}
	runtime.GC()
	rssStart, gorStart := rss(t), runtime.NumGoroutine()

	// Faults: a window every 30s, rotating through the kinds; the proxy
	// is faulty from windowStart for 5s. A DEFER of a deliverable domain
	// is an expected error from a window's start to failureTTL + 2s after
	// its end (a lookup that began during the window, then its cached
	// failure); anything else is a wrong verdict.
	type window struct {
		fault      faultdns.Fault
		start, end time.Time
	}
	var (
		winMu   sync.Mutex
		windows []window
	)
	inFault := func(at, done time.Time) bool {
		winMu.Lock()
		defer winMu.Unlock()
		for _, w := range windows {
			end := w.end
			if end.IsZero() {
				end = time.Now()
			}
			if done.After(w.start) && at.Before(end.Add(failureTTL+2*time.Second)) {
				return true
			}
		}
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var faultsDone sync.WaitGroup
	faultsDone.Go(func() {
		kinds := []faultdns.Fault{faultdns.Down, faultdns.ServFail, faultdns.Garbage, faultdns.Truncate, faultdns.Slow}
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-time.After(25 * time.Second):
			}
			k := kinds[i%len(kinds)]
			winMu.Lock()
			windows = append(windows, window{fault: k, start: time.Now()})
			winMu.Unlock()
			e.Proxy.Set(k)
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
			}
			e.Proxy.Set(faultdns.None)
			winMu.Lock()
			windows[len(windows)-1].end = time.Now()
			winMu.Unlock()
		}
	})

	type sample struct {
		kind   string // cached, cold, bad-input
		took   time.Duration
		faulty bool
	}
	var (
		mu          sync.Mutex
		samples     []sample
		wrong       []string
		faultErrs   = map[string]int{}
		badRefused  int
		sent, inFly atomic.Int64
		dropped     atomic.Int64
	)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	var wg sync.WaitGroup
	rng := rand.New(rand.NewPCG(1, 2))
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
		}
		if inFly.Load() >= 500 {
			dropped.Add(1) // bounded: never more than 500 in flight
			continue
		}
		p := rng.IntN(100)
		var domain, kind string
		switch {
		case p < 70:
			domain, kind = good[rng.IntN(len(good))], "cached"
		case p < 80:
			domain, kind = good[rng.IntN(len(good))], "cold"
		case p < 88:
			domain, kind = bad[rng.IntN(len(bad))], "hostile-or-bogus"
		case p < 96:
			domain, kind = "unsigned.test", "cached"
		default:
			domain, kind = badInputs[rng.IntN(len(badInputs))], "bad-input"
		}
		sent.Add(1)
		inFly.Add(1)
		wg.Go(func() {
			defer inFly.Add(-1)
			if kind == "cold" {
				ictx, icancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := e.Client.Invalidate(ictx, &danev1.InvalidateRequest{Domain: domain})
				icancel()
				if err != nil {
					mu.Lock()
					wrong = append(wrong, fmt.Sprintf("Invalidate(%s): %v", domain, err))
					mu.Unlock()
					return
				}
			}
			at := time.Now()
			r, took, err := e.Validate(domain, false, 20*time.Second)
			done := time.Now()
			mu.Lock()
			defer mu.Unlock()
			if kind == "bad-input" {
				if status.Code(err) == codes.InvalidArgument {
					badRefused++
				} else {
					wrong = append(wrong, fmt.Sprintf("bad input %q: %v %v", domain, r.GetAction(), err))
				}
				return
			}
			w := want[domain]
			switch {
			case err != nil:
				wrong = append(wrong, fmt.Sprintf("%s: call error %v", domain, err))
			case r.GetAction() == w.action && r.GetReason() == w.reason:
			case w.action == danev1.Action_ACTION_DELIVER && r.GetAction() == danev1.Action_ACTION_DEFER && inFault(at, done):
				faultErrs[r.GetReason().String()]++
			case w.action == danev1.Action_ACTION_DEFER && r.GetAction() == danev1.Action_ACTION_DEFER && inFault(at, done):
				faultErrs[r.GetReason().String()]++ // another failure reason while DNS was broken
			default:
				wrong = append(wrong, fmt.Sprintf("%s at %s: %v %v (%s), want %v %v", domain, at.Format("15:04:05.000"), r.GetAction(), r.GetReason(), r.GetStatusText(), w.action, w.reason))
			}
			samples = append(samples, sample{kind: kind, took: took, faulty: inFault(at, done)})
			if r.GetFromCache() && kind == "cached" {
				samples[len(samples)-1].kind = "cache-hit"
			}
		})
	}
	wg.Wait()
	cancel()
	faultsDone.Wait()
	runtime.GC()
	rssEnd, gorEnd := rss(t), runtime.NumGoroutine()

	// Figures.
	byKind := map[string][]time.Duration{}
	for _, s := range samples {
		if !s.faulty {
			byKind[s.kind] = append(byKind[s.kind], s.took)
		}
	}
	t.Logf("duration %v, target rate %d/s, sent %d (%.0f/s), skipped at the in-flight bound %d", duration, rate, sent.Load(), float64(sent.Load())/duration.Seconds(), dropped.Load())
	for _, k := range []string{"cache-hit", "cached", "cold", "hostile-or-bogus"} {
		d := byKind[k]
		if len(d) == 0 {
			continue
		}
		slices.Sort(d)
		t.Logf("%-17s n=%6d  p50 %8v  p99 %8v  max %8v (outside fault windows)", k, len(d), pct(d, 50), pct(d, 99), d[len(d)-1])
	}
	winMu.Lock()
	for _, w := range windows {
		t.Logf("fault window: %-9v %s for %v", w.fault, w.start.Format("15:04:05"), w.end.Sub(w.start).Round(time.Millisecond))
	}
	winMu.Unlock()
	q, f := e.Proxy.Stats()
	t.Logf("DNS queries through the proxy %d, of which met a fault %d", q, f)
	t.Logf("expected DEFERs during fault windows: %v", faultErrs)
	t.Logf("bad inputs refused with InvalidArgument: %d", badRefused)
	t.Logf("RSS start %.1f MiB, end %.1f MiB; goroutines start %d, end %d", float64(rssStart)/(1<<20), float64(rssEnd)/(1<<20), gorStart, gorEnd)
	t.Logf("wrong verdicts: %d", len(wrong))
	for i, w := range wrong {
		if i == 20 {
			t.Errorf("… and %d more", len(wrong)-20)
			break
		}
		t.Errorf("wrong: %s", w)
	}
	if d := byKind["cache-hit"]; len(d) > 0 && pct(d, 99) > 250*time.Millisecond {
		t.Errorf("p99 of cached requests %v, want under 250ms", pct(d, 99))
	}
	if rssEnd > 2*rssStart+64<<20 {
		t.Errorf("RSS grew from %d to %d bytes", rssStart, rssEnd)
	}
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[min(max(i-1, 0), len(sorted)-1)].Round(10 * time.Microsecond)
}

// rss reads this process's resident set size from /proc (daned runs
// in-process here, with the world, Unbound excluded).
func rss(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 || d > 30*time.Minute {
		t.Fatalf("%s=%q: want a duration up to 30m", name, v)
	}
	return d
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 2000 {
		t.Fatalf("%s=%q: want 1 to 2000", name, v)
	}
	return n
}
