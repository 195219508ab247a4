// Package cache is daned's decision layer, the floor between the front
// doors and the engine: every door (gRPC, and the others as they come)
// asks its Validator for a verdict, so that they share one verdict cache,
// one coalescing of identical requests, one refresh-ahead and one
// Invalidate. Below it, the Resolver and Prober decorators keep the DNS
// answers and probe results the verdicts rest on, so that a fleet asking
// about the same destinations costs each destination one set of DNS
// queries and one probe per address. Underneath all three: a TTL-aware
// LRU (golang-lru/v2, with an expiry per entry), and flight.Group, the one
// coalescing primitive.
//
// It caches typed engine results, never API messages, holds no DANE
// logic, and never extends a TTL it was given, except by the operator's
// explicit clamps.
package cache

import (
	"errors"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Stats are the counters of one cache.
type Stats struct {
	Hits      uint64 // lookups answered from the cache
	Misses    uint64 // lookups not answered (absent or expired)
	Evictions uint64 // live entries dropped to make room
	Size      int    // entries held now (expired ones included until touched)
}

// LRU is a size-bounded cache whose entries each expire at their own time.
// It is safe for concurrent use.
type LRU[K comparable, V any] struct {
	lru       *lru.Cache[K, entry[V]]
	now       func() time.Time
	hits      atomic.Uint64
	misses    atomic.Uint64
	evictions atomic.Uint64
}

type entry[V any] struct {
	val     V
	added   time.Time
	expires time.Time
}

// Item is a cached value with its age.
type Item[V any] struct {
	Value     V
	TTL       time.Duration // the lifetime it was stored with
	Remaining time.Duration // what is left of it
}

// NewLRU returns a cache holding at most size entries; now is its clock
// (nil means time.Now).
func NewLRU[K comparable, V any](size int, now func() time.Time) (*LRU[K, V], error) {
	if size < 1 {
		return nil, errors.New("cache: size must be at least 1")
	}
	if now == nil {
		now = time.Now
	}
	l, err := lru.New[K, entry[V]](size)
	if err != nil {
		return nil, err
	}
	return &LRU[K, V]{lru: l, now: now}, nil
}

// Get returns the live entry for k. An expired entry is dropped and
// reported as a miss.
func (c *LRU[K, V]) Get(k K) (Item[V], bool) {
	e, ok := c.lru.Get(k)
	if ok {
		now := c.now()
		if now.Before(e.expires) {
			c.hits.Add(1)
			return Item[V]{Value: e.val, TTL: e.expires.Sub(e.added), Remaining: e.expires.Sub(now)}, true
		}
		c.lru.Remove(k)
	}
	c.misses.Add(1)
	return Item[V]{}, false
}

// Live is Get without counting a hit or a miss and without refreshing
// recency: for a second look at an entry whose lookup was already
// counted (a cache re-checked under a lock or a request flight).
func (c *LRU[K, V]) Live(k K) (Item[V], bool) {
	e, ok := c.lru.Peek(k)
	if !ok {
		return Item[V]{}, false
	}
	now := c.now()
	if !now.Before(e.expires) {
		return Item[V]{}, false
	}
	return Item[V]{Value: e.val, TTL: e.expires.Sub(e.added), Remaining: e.expires.Sub(now)}, true
}

// Add stores v for ttl; a ttl of zero or less stores nothing.
func (c *LRU[K, V]) Add(k K, v V, ttl time.Duration) {
	if ttl <= 0 {
		c.lru.Remove(k)
		return
	}
	now := c.now()
	if c.lru.Add(k, entry[V]{val: v, added: now, expires: now.Add(ttl)}) {
		c.evictions.Add(1)
	}
}

// AddUntil stores v until expires, as an entry of lifetime ttl made
// ttl before expires: an entry from the shared store keeps the lifetime
// and the absolute expiry it was made with, whatever replica made it. An
// expiry already past stores nothing; one further than ttl from now (the
// clock of the replica that made it is ahead) is brought back to now+ttl.
func (c *LRU[K, V]) AddUntil(k K, v V, ttl time.Duration, expires time.Time) {
	now := c.now()
	if !now.Before(expires) {
		c.lru.Remove(k)
		return
	}
	if ttl > 0 && expires.Sub(now) > ttl {
		expires = now.Add(ttl)
	}
	if c.lru.Add(k, entry[V]{val: v, added: expires.Add(-ttl), expires: expires}) {
		c.evictions.Add(1)
	}
}

// Purge drops every entry.
func (c *LRU[K, V]) Purge() { c.lru.Purge() }

// Remove drops k and reports whether it was present.
func (c *LRU[K, V]) Remove(k K) bool { return c.lru.Remove(k) }

// Peek returns the value for k, live or expired, without counting a
// lookup or refreshing its recency.
func (c *LRU[K, V]) Peek(k K) (V, bool) {
	e, ok := c.lru.Peek(k)
	return e.val, ok
}

// Stats returns the counters.
func (c *LRU[K, V]) Stats() Stats {
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Evictions: c.evictions.Load(), Size: c.lru.Len()}
}

// Keys returns the keys held, oldest first.
func (c *LRU[K, V]) Keys() []K { return c.lru.Keys() }
