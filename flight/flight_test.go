package flight_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/daned/daned/flight"
)

// TestGroup: a second look's hit is Cached, a panic is every caller's
// error, and the shared work is detached from its caller's cancellation
// but keeps its values. Coalescing itself is tested where it is used:
// cache's TestValidatorCoalescesAndSurvivesCancellation, TestResolverCoalesces
// and TestProberCoalescesAndForgets.
func TestGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g flight.Group[string, int]
		v, src, err := g.Do(context.Background(), "k", func(context.Context) (int, bool, error) { return 7, false, nil })
		if v != 7 || src != flight.Fresh || err != nil {
			t.Fatalf("Do = %d %v %v", v, src, err)
		}
		v, src, _ = g.Do(context.Background(), "k", func(context.Context) (int, bool, error) { return 8, true, nil })
		if v != 8 || src != flight.Cached {
			t.Fatalf("a second look's hit: %d %v, want 8 cached", v, src)
		}
		_, _, err = g.Do(context.Background(), "k", func(context.Context) (int, bool, error) { panic("boom") })
		if err == nil || !strings.Contains(err.Error(), "boom") {
			t.Fatalf("a panic in shared work: %v, want an error naming it", err)
		}
		// The shared work is detached from its caller's cancellation but
		// keeps its values.
		type key struct{}
		ctx, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "span"))
		cancel()
		saw := make(chan any, 1)
		_, _, err = g.Do(ctx, "k", func(wctx context.Context) (int, bool, error) {
			saw <- []any{wctx.Err(), wctx.Value(key{})}
			return 0, false, nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("a cancelled caller: %v", err)
		}
		if got := (<-saw).([]any); got[0] != nil || got[1] != "span" {
			t.Fatalf("the work saw err %v value %v; want no cancellation and the caller's values", got[0], got[1])
		}
		synctest.Wait() // the detached work ends on its own
		if g.InFlight() != 0 {
			t.Fatal("a flight outlived its work")
		}
		if (flight.Source(9)).String() != "unknown" || flight.Joined.String() != "joined" {
			t.Fatal("Source names")
		}
	})
}
