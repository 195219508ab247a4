package soak_test

import (
	"sync"
	"testing"
	"time"

	"github.com/daned/daned/internal/soak"
	"github.com/daned/daned/internal/testworld"
	danev1 "github.com/daned/daned/proto/dane/v1"
)

// TestHostileDestinations asks daned, over real gRPC, about destinations
// whose servers attack the prober (tarpit, slow-drip banner, endless
// reply, stalled handshake, garbage after STARTTLS). Each verdict arrives
// before the caller's deadline with the right reason, DEFER for the DANE
// hosts; meanwhile validations of good destinations, cached and cold, go
// on succeeding. How long they took is logged, not asserted: on a loaded
// machine a wall-clock bound fails at random (docs/BENCHMARKS.md has the
// figures).
func TestHostileDestinations(t *testing.T) {
	const step = 2 * time.Second
	e := soak.Start(t, soak.Options{
		Scenarios:        []testworld.ScenarioSpec{soak.DANEDomain("good"), soak.DANEDomain("cold")},
		Extra:            testworld.HostileScenarios(),
		ProbeStepTimeout: step,
		ProbeTimeout:     3 * step,
		// The attacks are on the prober; DNS must not time out because
		// the machine is busy.
		ResolverTimeout: 5 * time.Second,
	})
	// Warm the good domain's caches: the concurrent requests below
	// include cached ones.
	if r, _, err := e.Validate("good.test", false, 10*time.Second); err != nil || r.GetAction() != danev1.Action_ACTION_DELIVER {
		t.Fatalf("good.test: %v %v", r, err)
	}

	const (
		deferA  = danev1.Action_ACTION_DEFER
		deliver = danev1.Action_ACTION_DELIVER
	)
	tests := []struct {
		domain string
		action danev1.Action
		reason danev1.Reason
	}{
		{"hostile-tarpit.test", deferA, danev1.Reason_REASON_TIMEOUT},
		{"hostile-drip.test", deferA, danev1.Reason_REASON_TIMEOUT},
		{"hostile-endless.test", deferA, danev1.Reason_REASON_SMTP_ERROR},
		{"hostile-stall.test", deferA, danev1.Reason_REASON_TIMEOUT},
		{"hostile-garbage.test", deferA, danev1.Reason_REASON_TLS_HANDSHAKE_FAILED},
		{"hostile-garbage-unsigned.test", deliver, danev1.Reason_REASON_OK},
	}

	// Good traffic runs for as long as the hostile requests do.
	stop := make(chan struct{})
	var good sync.WaitGroup
	var mu sync.Mutex
	var worst time.Duration
	var goodN int
	for i := range 4 {
		good.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				domain, policyOnly := "good.test", i%2 == 1
				r, took, err := e.Validate(domain, policyOnly, 10*time.Second)
				if err != nil || r.GetAction() != deliver {
					t.Errorf("%s (policy-only %v) during the attacks: %v %v", domain, policyOnly, r.GetStatusText(), err)
					return
				}
				mu.Lock()
				worst, goodN = max(worst, took), goodN+1
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	// A cold validation of another good destination during the attacks.
	coldDone := make(chan time.Duration, 1)

	var wg sync.WaitGroup
	for _, tt := range tests {
		// Several callers per hostile domain, as a fleet would send.
		for range 3 {
			wg.Go(func() {
				r, took, err := e.Validate(tt.domain, false, 4*step)
				t.Logf("%s: verdict after %v", tt.domain, took)
				if err != nil {
					t.Errorf("%s: %v", tt.domain, err)
					return
				}
				if r.GetAction() != tt.action || r.GetReason() != tt.reason {
					t.Errorf("%s: %v %v (%s), want %v %v", tt.domain, r.GetAction(), r.GetReason(), r.GetStatusText(), tt.action, tt.reason)
				}
			})
		}
	}
	wg.Go(func() {
		time.Sleep(200 * time.Millisecond) // the hostile probes are running
		r, took, err := e.Validate("cold.test", false, 10*time.Second)
		if err != nil || r.GetAction() != deliver || r.GetFromCache() {
			t.Errorf("cold.test: %v %v", r, err)
		}
		coldDone <- took
	})
	wg.Wait()
	close(stop)
	good.Wait()
	t.Logf("%d good validations during the attacks, slowest %v; a cold one took %v", goodN, worst, <-coldDone)
	if goodN == 0 {
		t.Error("no good validation completed during the attacks")
	}
}
