package engine

import (
	"context"
	"net/netip"
	"sync"
)

// addrLimiter bounds the probes running at once to each destination
// address. A semaphore exists only while someone holds or waits for it,
// so the map stays as small as the set of addresses being probed.
type addrLimiter struct {
	n     int
	mu    sync.Mutex
	slots map[netip.Addr]*addrSlots
}

type addrSlots struct {
	ch    chan struct{}
	users int // holders and waiters; guarded by addrLimiter.mu
}

func newAddrLimiter(n int) *addrLimiter {
	return &addrLimiter{n: n, slots: map[netip.Addr]*addrSlots{}}
}

// acquire waits for a slot of ip. It returns false when ctx ends first;
// otherwise the caller must call release once.
func (l *addrLimiter) acquire(ctx context.Context, ip netip.Addr) (release func(), ok bool) {
	ip = ip.Unmap()
	l.mu.Lock()
	s := l.slots[ip]
	if s == nil {
		s = &addrSlots{ch: make(chan struct{}, l.n)}
		l.slots[ip] = s
	}
	s.users++
	l.mu.Unlock()
	select {
	case s.ch <- struct{}{}:
		return func() { <-s.ch; l.leave(ip, s) }, true
	case <-ctx.Done():
		l.leave(ip, s)
		return nil, false
	}
}

func (l *addrLimiter) leave(ip netip.Addr, s *addrSlots) {
	l.mu.Lock()
	s.users--
	if s.users == 0 {
		delete(l.slots, ip)
	}
	l.mu.Unlock()
}

// inUse returns how many addresses have a holder or waiter (for tests).
func (l *addrLimiter) inUse() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.slots)
}
