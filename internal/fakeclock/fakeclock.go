// Package fakeclock is a manual clock for tests: time stands still until
// the test moves it, so TTLs, token buckets and validity checks are
// tested without sleeping. Pass Clock.Now wherever a component takes a
// clock (a Config's Now func() time.Time).
//
// It has no timers or tickers: code that waits on time is tested through
// its own events, not through this clock. It is test support: no
// production package imports it (internal/deptest checks that).
package fakeclock

import (
	"sync"
	"time"
)

// Clock is a manual clock, safe for concurrent use. The zero Clock reads
// the zero time.Time until moved.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a clock that reads t.
func New(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock d forward (backward when d is negative) and
// returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}
