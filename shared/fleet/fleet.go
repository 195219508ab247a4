package fleet

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Sealer authenticates the values of the shared store: Seal binds value
// to key and to an absolute expiry; Open returns the value only when blob
// was sealed for key with the shared secret and has not expired.
type Sealer interface {
	Seal(key string, value []byte, expires time.Time) ([]byte, error)
	Open(key string, blob []byte, now time.Time) ([]byte, error)
}

// DefaultTimeout bounds one call when Config.Timeout is zero.
const DefaultTimeout = 500 * time.Millisecond

// DefaultPolicyTTL bounds how long a shared MTA-STS policy is kept when
// Config.PolicyTTL is zero: a week, then the next replica that lacks it
// fetches it again.
const DefaultPolicyTTL = 7 * 24 * time.Hour

// Config configures Policies and Reports.
type Config struct {
	// Client is the shared store's connection. Required.
	Client redis.UniversalClient
	// Sealer seals and opens every value. Required.
	Sealer Sealer
	// Prefix begins every key ("daned:"); empty: none.
	Prefix string
	// Timeout bounds one call (all its round trips); zero means
	// DefaultTimeout.
	Timeout time.Duration
	// PolicyTTL bounds a shared policy's life in the store, below its
	// own expiry; zero means DefaultPolicyTTL.
	PolicyTTL time.Duration
	// Now is the clock that checks the seals' expiry; nil means
	// time.Now.
	Now func() time.Time
}

// Stats counts what the store handed back.
type Stats struct {
	// Rejected counts values that did not open (forged, corrupt,
	// expired).
	Rejected uint64
	// Errors counts calls that failed.
	Errors uint64
}

type base struct {
	cfg      Config
	rejected atomic.Uint64
	errors   atomic.Uint64
}

func newBase(cfg Config) (*base, error) {
	if cfg.Client == nil || cfg.Sealer == nil {
		return nil, errors.New("fleet: a client and a sealer are required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.PolicyTTL <= 0 {
		cfg.PolicyTTL = DefaultPolicyTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &base{cfg: cfg}, nil
}

// call bounds ctx by the timeout.
func (b *base) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, b.cfg.Timeout)
}

// failed counts err, when it is one, and returns it.
func (b *base) failed(err error) error {
	if err != nil {
		b.errors.Add(1)
	}
	return err
}

// Stats returns the counts.
func (b *base) Stats() Stats {
	return Stats{Rejected: b.rejected.Load(), Errors: b.errors.Load()}
}

// fieldKey is what a hash field's value is sealed for: the hash's key
// and the field, so that a value cannot be moved to another field.
func fieldKey(key, field string) string { return key + "\x00" + field }

// ttl is how long a key expiring at exp has from now: at least a
// millisecond, the store's resolution.
func ttl(exp, now time.Time) time.Duration { return max(exp.Sub(now), time.Millisecond) }
