// Package limit is the per-caller rate limit every front door shares: a
// token bucket per caller, the least recently seen forgotten first when
// too many are held, and one way of naming a caller by its address, so
// that a client reaching daned through gRPC and through the socketmap
// draws on one allowance.
//
// It knows no transport: each door decides who its caller is (a verified
// client certificate, else Key of its address) and what a refusal looks
// like on its wire.
package limit

import (
	"container/list"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Config configures the buckets. Zero values are the documented
// defaults.
type Config struct {
	// Rate is the sustained requests per second allowed to each caller;
	// 0 means no limit (Allow always admits).
	Rate float64
	// Burst is the size of each caller's bucket; 0 means the rate
	// rounded up (at least 1).
	Burst int
	// MaxCallers bounds the callers whose buckets are kept; the least
	// recently seen is forgotten first (it then starts again with a full
	// bucket). 0 means 16384.
	MaxCallers int
	// Now is the clock of the buckets; nil means time.Now.
	Now func() time.Time
}

// Buckets holds a token bucket per caller. It is safe for concurrent use.
type Buckets struct {
	rate       rate.Limit
	burst      int
	maxCallers int
	now        func() time.Time

	mu      sync.Mutex
	buckets map[string]*list.Element // of *bucket
	lru     list.List                // front: most recently seen

	limited atomic.Uint64
}

type bucket struct {
	caller string
	lim    *rate.Limiter
}

// New returns the buckets of cfg.
func New(cfg Config) (*Buckets, error) {
	if cfg.Rate < 0 || cfg.Burst < 0 || cfg.MaxCallers < 0 {
		return nil, errors.New("limit: rate, burst and max callers must not be negative")
	}
	b := &Buckets{rate: rate.Limit(cfg.Rate), burst: cfg.Burst, maxCallers: cfg.MaxCallers, now: cfg.Now, buckets: map[string]*list.Element{}}
	if b.burst == 0 {
		b.burst = max(1, int(cfg.Rate+0.999999))
	}
	if b.maxCallers == 0 {
		b.maxCallers = 16384
	}
	if b.now == nil {
		b.now = time.Now
	}
	return b, nil
}

// Enabled reports whether a rate is set.
func (b *Buckets) Enabled() bool { return b != nil && b.rate > 0 }

// Allow spends one token of caller's bucket and reports whether there
// was one. Without a rate it always admits.
func (b *Buckets) Allow(caller string) bool {
	if !b.Enabled() {
		return true
	}
	now := b.now()
	b.mu.Lock()
	var bk *bucket
	if e, ok := b.buckets[caller]; ok {
		b.lru.MoveToFront(e)
		bk = e.Value.(*bucket)
	} else {
		if len(b.buckets) >= b.maxCallers {
			old := b.lru.Back()
			b.lru.Remove(old)
			delete(b.buckets, old.Value.(*bucket).caller)
		}
		bk = &bucket{caller: caller, lim: rate.NewLimiter(b.rate, b.burst)}
		b.buckets[caller] = b.lru.PushFront(bk)
	}
	ok := bk.lim.AllowN(now, 1)
	b.mu.Unlock()
	if !ok {
		b.limited.Add(1)
	}
	return ok
}

// Limited returns how many requests Allow refused.
func (b *Buckets) Limited() uint64 { return b.limited.Load() }

// Callers returns how many buckets are held now.
func (b *Buckets) Callers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.buckets)
}

// Describe says what a refused caller is allowed, for error messages.
func (b *Buckets) Describe() string {
	return fmt.Sprintf("%g requests/s (bursts of %d)", float64(b.rate), b.burst)
}

// String describes the limit for the start-up log.
func (b *Buckets) String() string {
	if !b.Enabled() {
		return "off"
	}
	return fmt.Sprintf("%g/s burst %d per caller", float64(b.rate), b.burst)
}

// Key names a caller by its address: its IP address, an IPv6 address by
// its /64 (the usual assignment to one host or site, so that one host
// cannot mint a bucket per address); every Unix-socket client is one
// caller, "unix".
func Key(addr net.Addr) string {
	switch a := addr.(type) {
	case nil:
		return "unknown"
	case *net.TCPAddr:
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			return AddrKey(ip)
		}
	case *net.UnixAddr:
		return "unix"
	default:
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			return AddrKey(ap.Addr())
		}
	}
	return "addr:" + addr.String()
}

// AddrKey is Key for an IP address.
func AddrKey(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return "ip:" + p.String()
	}
	return "ip:" + ip.String()
}
