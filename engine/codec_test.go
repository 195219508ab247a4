package engine_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/daned/daned/engine"
	"github.com/daned/daned/internal/danedtest"
	"github.com/daned/daned/internal/testworld"
)

// TestResultCodecWorld validates every scenario of the test world (the
// catalogue, the MTA-STS scenarios and the hostile servers) with a real
// Unbound and real probes, with and without probes, and checks that each result survives
// MarshalResult and UnmarshalResult unchanged: what one replica stores is
// what another reads.
func TestResultCodecWorld(t *testing.T) {
	specs := append(append(testworld.Catalogue(), testworld.STSScenarios()...), testworld.HostileScenarios()...)
	w := testworld.StartT(t, testworld.Options{Scenarios: specs})
	u := testworld.StartUnboundT(t, w)
	ec := danedtest.EngineConfig(w, u.Addr())
	ec.MTASTS, ec.MTASTSPort, ec.MTASTSFetchTimeout = true, w.HTTPSPort(), 10*time.Second
	ec.WebPKIRoots, ec.StateDir = w.WebPKIRoots(), t.TempDir()
	ec.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	built, err := ec.BuildService()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = built.Close() })

	scenarios := w.Scenarios()
	if len(scenarios) < 50 {
		t.Fatalf("the world has %d scenarios; the catalogue has more", len(scenarios))
	}
	type outcome struct {
		domain string
		opts   engine.Options
		r      *engine.Result
		err    error
	}
	var (
		mu       sync.Mutex
		outcomes []outcome
		wg       sync.WaitGroup
		slots    = make(chan struct{}, 8)
	)
	for _, sc := range scenarios {
		for _, opts := range []engine.Options{{}, {PolicyOnly: true}} {
			wg.Go(func() {
				slots <- struct{}{}
				defer func() { <-slots }()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				r, err := built.Engine.Validate(ctx, sc.Domain, opts)
				mu.Lock()
				outcomes = append(outcomes, outcome{sc.Domain, opts, r, err})
				mu.Unlock()
			})
		}
	}
	wg.Wait()

	var certs, hosts, sts int
	for _, o := range outcomes {
		t.Run(o.domain+map[bool]string{false: "", true: "/policy-only"}[o.opts.PolicyOnly], func(t *testing.T) {
			if o.err != nil {
				t.Fatalf("Validate: %v", o.err)
			}
			b, err := engine.MarshalResult(o.r)
			if err != nil {
				t.Fatalf("MarshalResult: %v", err)
			}
			got, err := engine.UnmarshalResult(b)
			if err != nil {
				t.Fatalf("UnmarshalResult: %v", err)
			}
			if d := engine.CodecDiff(o.r, got); d != "" {
				t.Fatalf("the round trip changed the result: %s", d)
			}
		})
		if o.r == nil {
			continue
		}
		hosts += len(o.r.Hosts)
		for _, h := range o.r.Hosts {
			for _, a := range h.Addresses {
				certs += len(a.Chain)
			}
		}
		if o.r.MTASTS != nil {
			sts++
		}
	}
	// The world must have exercised what the codec carries.
	if certs == 0 || hosts == 0 || sts == 0 {
		t.Fatalf("the results held %d hosts, %d certificates and %d MTA-STS results; want some of each", hosts, certs, sts)
	}
	t.Logf("%d results round-tripped: %d hosts, %d certificates, %d MTA-STS results", len(outcomes), hosts, certs, sts)
}
