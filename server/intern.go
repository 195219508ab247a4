package server

import (
	"crypto/sha256"
	"runtime"
	"sync"
	"weak"

	"google.golang.org/protobuf/encoding/protowire"
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
	hosts pool[danev1.MxHost] // framed: keeps each host's mx_hosts field
	addrs pool[danev1.AddressResult]
	certs pool[danev1.Certificate]
}

func newSharing() *sharing {
	return &sharing{hosts: pool[danev1.MxHost]{frame: mxHostsField}}
}

// share replaces the sub-messages of r by identical ones already held,
// and returns the wire encoding of each MX host as a mx_hosts field
// (tag, length, message), shared like the hosts themselves, so that a
// cache hit can send them without encoding them again.
func (sh *sharing) share(r *danev1.ValidateResponse) [][]byte {
	fields := make([][]byte, len(r.MxHosts))
	for i, h := range r.MxHosts {
		for j, a := range h.Addresses {
			for k, c := range a.Chain {
				a.Chain[k], _ = sh.certs.share(c)
			}
			h.Addresses[j], _ = sh.addrs.share(a)
		}
		r.MxHosts[i], fields[i] = sh.hosts.share(h)
	}
	return fields
}

// mxHostsField is the field number of ValidateResponse.mx_hosts.
var mxHostsField = (&danev1.ValidateResponse{}).ProtoReflect().Descriptor().Fields().ByName("mx_hosts").Number()

// pool holds one message per distinct encoding, weakly; when frame is
// set, also that encoding framed as field number frame.
type pool[T any] struct {
	frame protowire.Number
	mu    sync.Mutex
	m     map[[sha256.Size]byte]held[T]
}

type held[T any] struct {
	msg   weak.Pointer[T]
	field []byte // the framed encoding; lives as long as the entry
}

var deterministic = proto.MarshalOptions{Deterministic: true}

// share returns the held message encoded like m (or holds m and returns
// it) and, for a framing pool, its framed encoding (nil if m cannot be
// encoded).
func (p *pool[T]) share(m *T) (*T, []byte) {
	b, err := deterministic.Marshal(any(m).(proto.Message))
	if err != nil {
		return m, nil
	}
	key := sha256.Sum256(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	if old := p.m[key]; old.msg.Value() != nil {
		return old.msg.Value(), old.field
	}
	if p.m == nil {
		p.m = map[[sha256.Size]byte]held[T]{}
	}
	var field []byte
	if p.frame != 0 {
		field = protowire.AppendTag(make([]byte, 0, len(b)+8), p.frame, protowire.BytesType)
		field = protowire.AppendBytes(field, b)
	}
	p.m[key] = held[T]{msg: weak.Make(m), field: field}
	runtime.AddCleanup(m, p.drop, key)
	return m, field
}

// drop forgets key once its message is gone (and not replaced since).
func (p *pool[T]) drop(key [sha256.Size]byte) {
	p.mu.Lock()
	if p.m[key].msg.Value() == nil {
		delete(p.m, key)
	}
	p.mu.Unlock()
}
