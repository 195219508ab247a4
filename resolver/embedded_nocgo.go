//go:build !cgo

package resolver

import (
	"context"
	"fmt"

	"github.com/miekg/dns"
)

// Embedded is embedded mode; this build has no cgo, so it cannot be
// created: NewEmbedded returns ErrNoCgo.
type Embedded struct{}

// NewEmbedded returns ErrNoCgo: libunbound is reached through cgo.
func NewEmbedded(EmbeddedConfig) (*Embedded, error) { return nil, ErrNoCgo }

// Lookup fails with ErrNetwork wrapping ErrNoCgo.
func (*Embedded) Lookup(_ context.Context, name string, qtype uint16) (*Answer, error) {
	return nil, &QueryError{Name: dns.CanonicalName(name), Type: qtype, Kind: ErrNetwork, Rcode: -1, Err: fmt.Errorf("%w", ErrNoCgo)}
}

// Close does nothing.
func (*Embedded) Close() error { return nil }

// EmbeddedAvailable reports whether this build has embedded mode (cgo).
const EmbeddedAvailable = false
