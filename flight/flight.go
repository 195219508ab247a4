// Package flight makes concurrent callers for the same key share one piece
// of work: the one coalescing primitive of daned, used by the DNS, probe
// and verdict caches (package cache) and the MTA-STS policy manager. It
// knows nothing of what the work is.
package flight

import (
	"context"
	"fmt"
	"sync"
)

// Source says where a caller's answer came from.
type Source int

const (
	// Fresh: the caller led the work that produced the answer.
	Fresh Source = iota
	// Joined: the caller joined a concurrent caller's work for the same
	// key (coalesced).
	Joined
	// Cached: the answer was already held.
	Cached
)

var sourceNames = [...]string{"fresh", "joined", "cached"}

// String returns the source in words.
func (s Source) String() string {
	if s >= 0 && int(s) < len(sourceNames) {
		return sourceNames[s]
	}
	return "unknown"
}

// Group makes concurrent callers for the same key share one piece of
// work. The zero value is ready to use.
//
// The rule for a caller that gives up: the shared work is detached from
// every caller. It runs in a goroutine of its own under
// context.WithoutCancel of the leader's context (its values, such as the
// trace span, are kept; its cancellation and deadline are not), so the
// work must bound itself, as every fn given to Do here does. A caller
// whose context ends returns at once with its context's error; the work
// goes on for the callers still waiting and fills the cache for the
// next. No caller can take the answer away from another.
type Group[K comparable, V any] struct {
	// OnWait, when set, is called as each caller starts waiting for the
	// work of its key (its own flight or a joined one): a test's way to
	// know that every caller shares one flight. It must not block.
	OnWait func(K)

	mu      sync.Mutex
	flights map[K]*flight[V]
}

type flight[V any] struct {
	done   chan struct{}
	val    V
	err    error
	cached bool
}

// Do returns fn's answer for key, shared with every concurrent caller of
// the same key. fn reports whether it answered from a cache (a second
// look, made inside the flight, finds what a flight that just ended
// stored): its callers are then told Cached. A panic in fn becomes an
// error for every caller instead of ending the process.
func (g *Group[K, V]) Do(ctx context.Context, key K, fn func(context.Context) (V, bool, error)) (V, Source, error) {
	g.mu.Lock()
	if f, ok := g.flights[key]; ok {
		g.mu.Unlock()
		g.waiting(key)
		return wait(ctx, f, Joined)
	}
	if g.flights == nil {
		g.flights = make(map[K]*flight[V])
	}
	f := &flight[V]{done: make(chan struct{})}
	g.flights[key] = f
	g.mu.Unlock()
	go g.run(context.WithoutCancel(ctx), key, f, fn)
	g.waiting(key)
	return wait(ctx, f, Fresh)
}

func (g *Group[K, V]) waiting(key K) {
	if g.OnWait != nil {
		g.OnWait(key)
	}
}

func (g *Group[K, V]) run(ctx context.Context, key K, f *flight[V], fn func(context.Context) (V, bool, error)) {
	defer func() {
		if r := recover(); r != nil {
			f.err = fmt.Errorf("flight: shared work panicked: %v", r)
		}
		g.mu.Lock()
		delete(g.flights, key)
		g.mu.Unlock()
		close(f.done)
	}()
	f.val, f.cached, f.err = fn(ctx)
}

func wait[V any](ctx context.Context, f *flight[V], src Source) (V, Source, error) {
	select {
	case <-f.done:
		if f.cached {
			src = Cached
		}
		return f.val, src, f.err
	case <-ctx.Done():
		var zero V
		return zero, src, ctx.Err()
	}
}

// InFlight returns how many keys have work under way.
func (g *Group[K, V]) InFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.flights)
}
