package main

import (
	"context"
	"testing"
	"time"

	danev1 "github.com/daned/daned/proto/dane/v1"
)

// BenchmarkColdValidate: one replica answers Validate for a domain it
// has just invalidated (its verdict, DNS answers and probe results
// dropped, locally and in Redis), alone and with the shared store: what
// the second level adds to a miss at both levels (for the verdict, each
// DNS answer and the probe result: a lookup, a lease, a write with its
// notification). The DNSSEC chain stays in the embedded resolver's own
// cache, so most of the rest is the probe.
//
//	go test -run '^$' -bench ColdValidate -benchtime 200x ./cmd/daned/
func BenchmarkColdValidate(b *testing.B) {
	const domain = "ee-spki.test"
	for _, bc := range []struct {
		name   string
		shared bool
	}{{"alone", false}, {"redis", true}} {
		b.Run(bc.name, func(b *testing.B) {
			var r *replica
			if bc.shared {
				_, rs := startSharedFleet(b, 1, "--redis-timeout", "100ms")
				r = rs[0]
			} else {
				r = newFleet(b, startFleetWorld(b)).start("A")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			r.validate(b, domain) // the resolver's chain, the connections
			for b.Loop() {
				b.StopTimer()
				if _, err := r.api.Invalidate(ctx, &danev1.InvalidateRequest{Domain: domain}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if got := r.validate(b, domain); got.GetFromCache() || got.GetAction() != danev1.Action_ACTION_DELIVER {
					b.Fatalf("after Invalidate: %v", got)
				}
			}
		})
	}
}
