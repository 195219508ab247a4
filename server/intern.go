package server

import (
	"crypto/sha256"
	"runtime"
	"sync"
	"weak"

	"google.golang.org/protobuf/proto"

	danev1 "github.com/daned/daned/proto/dane/v1"
)

// sharing makes cached verdicts share identical sub-messages. A fleet's
// destinations mostly sit at a few providers, so 100,000 cached domains
// name a few hundred MX hosts: each host's result (its addresses, TLSA
// records and certificate chains) is then held once, not once per domain
// (docs/BENCHMARKS.md, "Memory"). Content is unchanged: only messages
// whose deterministic encodings are equal are merged, and cached
// responses are never modified.
//
// Entries are weak: a shared message goes when the last verdict holding
// it is evicted.
type sharing struct {
	hosts pool[danev1.MxHost]
	addrs pool[danev1.AddressResult]
	certs pool[danev1.Certificate]
}

// share replaces the sub-messages of r by identical ones already held.
func (sh *sharing) share(r *danev1.ValidateResponse) {
	for i, h := range r.MxHosts {
		for j, a := range h.Addresses {
			for k, c := range a.Chain {
				a.Chain[k] = sh.certs.share(c)
			}
			h.Addresses[j] = sh.addrs.share(a)
		}
		r.MxHosts[i] = sh.hosts.share(h)
	}
}

// pool holds one message per distinct encoding, weakly.
type pool[T any] struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]weak.Pointer[T]
}

var deterministic = proto.MarshalOptions{Deterministic: true}

// share returns the held message encoded like m, or holds m and returns
// it.
func (p *pool[T]) share(m *T) *T {
	b, err := deterministic.Marshal(any(m).(proto.Message))
	if err != nil {
		return m
	}
	key := sha256.Sum256(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	if old := p.m[key].Value(); old != nil {
		return old
	}
	if p.m == nil {
		p.m = map[[sha256.Size]byte]weak.Pointer[T]{}
	}
	p.m[key] = weak.Make(m)
	runtime.AddCleanup(m, p.drop, key)
	return m
}

// drop forgets key once its message is gone (and not replaced since).
func (p *pool[T]) drop(key [sha256.Size]byte) {
	p.mu.Lock()
	if p.m[key].Value() == nil {
		delete(p.m, key)
	}
	p.mu.Unlock()
}
