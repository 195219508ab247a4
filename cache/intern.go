package cache

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"sync"
	"unique"
	"unsafe"
	"weak"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/engine"
)

// sharing makes cached verdicts share identical host parts. A fleet's
// destinations mostly sit at a few providers, so 100,000 cached domains
// name a few hundred MX hosts: each host's addresses (with their
// certificate chains and details) and TLSA records are then held once,
// not once per domain (docs/BENCHMARKS.md, "Memory"). Content is
// unchanged: only parts with equal content are merged, before the verdict
// is published, and cached results are never modified afterwards.
//
// Entries are weak: a shared part goes when the last verdict holding it
// is evicted.
type sharing struct {
	addrs Pool[engine.Address]
	tlsa  Pool[dane.AssessedRecord]
	names Pool[string]
}

// share replaces the parts of r's hosts by identical ones already held.
func (sh *sharing) share(r *engine.Result) {
	h := sha256.New()
	for i := range r.Hosts {
		host := &r.Hosts[i]
		host.Name = intern(host.Name)
		host.TLSABase = intern(host.TLSABase)
		host.Detail = intern(host.Detail)
		host.CNAMEChain = sh.names.Share(sum(h, host.CNAMEChain, hashNames), host.CNAMEChain)
		host.ReferenceNames = sh.names.Share(sum(h, host.ReferenceNames, hashNames), host.ReferenceNames)
		host.TLSA = sh.tlsa.Share(sum(h, host.TLSA, hashTLSA), host.TLSA)
		host.Addresses = sh.addrs.Share(sum(h, host.Addresses, hashAddrs), host.Addresses)
	}
}

func intern(s string) string {
	if s == "" {
		return s
	}
	return unique.Make(s).Value()
}

// sum hashes s with fn.
func sum[T any](h hash.Hash, s []T, fn func(hash.Hash, []T)) [sha256.Size]byte {
	var key [sha256.Size]byte
	if len(s) == 0 {
		return key
	}
	h.Reset()
	fn(h, s)
	h.Sum(key[:0])
	return key
}

// Pool holds one slice per distinct content, weakly: an entry lives as
// long as the array it shares, so that a pool needs no eviction of its
// own. The caller keys each slice by a hash of its content (such as
// SHA-256 over an encoding of it); slices with equal keys are taken to be
// equal. The zero value is ready to use; it is safe for concurrent use.
type Pool[T any] struct {
	mu   sync.Mutex
	m    map[[sha256.Size]byte]weakSlice[T]
	adds int
}

type weakSlice[T any] struct {
	first weak.Pointer[T] // the array, through its first element
	n     int
}

// Share returns the held slice with key (or holds s and returns it). s
// must not be modified afterwards.
func (p *Pool[T]) Share(key [sha256.Size]byte, s []T) []T {
	if len(s) == 0 {
		return s
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if w, ok := p.m[key]; ok && w.n == len(s) {
		if first := w.first.Value(); first != nil {
			return unsafe.Slice(first, w.n)
		}
	}
	if p.m == nil {
		p.m = make(map[[sha256.Size]byte]weakSlice[T])
	}
	p.m[key] = weakSlice[T]{first: weak.Make(&s[0]), n: len(s)}
	if p.adds++; p.adds%4096 == 0 {
		// Forget the arrays no verdict holds any more.
		for k, w := range p.m {
			if w.first.Value() == nil {
				delete(p.m, k)
			}
		}
	}
	return s
}

// Len returns how many slices are held (dead ones included until swept).
func (p *Pool[T]) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}

// The hashes below cover every exported field, each framed by its length
// so that no two different contents hash alike. A field added to
// engine.Address, engine.Host or dane.AssessedRecord must be added here:
// TestSharingCoversEveryField fails until it is.

func putString(h hash.Hash, s string) {
	putInt(h, uint64(len(s)))
	h.Write([]byte(s))
}

func putBytes(h hash.Hash, b []byte) {
	putInt(h, uint64(len(b)))
	h.Write(b)
}

func putInt(h hash.Hash, n uint64) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	h.Write(b[:])
}

func putBool(h hash.Hash, b bool) {
	if b {
		putInt(h, 1)
	} else {
		putInt(h, 0)
	}
}

func hashNames(h hash.Hash, names []string) {
	putInt(h, uint64(len(names)))
	for _, n := range names {
		putString(h, n)
	}
}

func hashTLSA(h hash.Hash, rrs []dane.AssessedRecord) {
	putInt(h, uint64(len(rrs)))
	for _, r := range rrs {
		putInt(h, uint64(r.Usage)<<16|uint64(r.Selector)<<8|uint64(r.MatchingType))
		putBytes(h, r.Data)
		putBool(h, r.Usable)
		putString(h, r.Why)
	}
}

func hashAddrs(h hash.Hash, addrs []engine.Address) {
	putInt(h, uint64(len(addrs)))
	for _, a := range addrs {
		b, _ := a.IP.MarshalBinary()
		putBytes(h, b)
		putInt(h, uint64(a.Reason))
		putBool(h, a.STARTTLSOffered)
		putInt(h, uint64(a.TLSVersion)<<16|uint64(a.CipherSuite))
		putInt(h, uint64(len(a.Chain)))
		for _, c := range a.Chain {
			putBytes(h, c.Raw)
		}
		putInt(h, uint64(int64(a.Matched)))
		putBool(h, a.Authenticated)
		putInt(h, uint64(a.Elapsed))
		putString(h, a.Detail)
	}
}
