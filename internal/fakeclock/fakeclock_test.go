package fakeclock_test

import (
	"sync"
	"testing"
	"time"

	"github.com/daned/daned/internal/fakeclock"
)

func TestClock(t *testing.T) {
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	c := fakeclock.New(start)
	steps := []struct {
		name string
		move func()
		want time.Time
	}{
		{name: "stands still", move: func() {}, want: start},
		{name: "advance", move: func() { c.Advance(90 * time.Second) }, want: start.Add(90 * time.Second)},
		{name: "back", move: func() { c.Advance(-30 * time.Second) }, want: start.Add(time.Minute)},
		{name: "set", move: func() { c.Set(start.Add(time.Hour)) }, want: start.Add(time.Hour)},
	}
	for _, st := range steps {
		st.move()
		if got := c.Now(); !got.Equal(st.want) {
			t.Errorf("%s: Now() = %v, want %v", st.name, got, st.want)
		}
	}
	var zero fakeclock.Clock
	if !zero.Now().IsZero() {
		t.Errorf("zero Clock reads %v", zero.Now())
	}
}

// TestConcurrentUse is for the race detector: a component reads the clock
// while the test moves it.
func TestConcurrentUse(t *testing.T) {
	c := fakeclock.New(time.Time{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				c.Advance(time.Second)
				_ = c.Now()
			}
		})
	}
	wg.Wait()
	if got := c.Now().Sub(time.Time{}); got != 400*time.Second {
		t.Errorf("after 400 advances of 1s the clock moved %v", got)
	}
}
