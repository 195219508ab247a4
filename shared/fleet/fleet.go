package fleet

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Backend is the shared store's connection as this package uses it
// (*shared.Store): its client under its per-call deadline and its
// back-off after failures, its seal, and its key prefix.
type Backend interface {
	// Run calls f with the client, bounded by the store's deadline; op
	// names the call in the store's failure counts. A store backing off
	// after a failure returns an error without calling f.
	Run(ctx context.Context, op string, f func(ctx context.Context, c redis.Cmdable) error) error
	// Seal binds value to key (a whole Redis key, prefix included) and
	// to an absolute expiry, under the shared secret.
	Seal(key string, value []byte, expires time.Time) []byte
	// Open returns the value of blob read at key if it was sealed for
	// key with the shared secret and has not expired; a refusal is
	// counted by the store.
	Open(key string, blob []byte) ([]byte, error)
	// Prefix begins every key ("daned:").
	Prefix() string
}

// DefaultPolicyTTL bounds how long a shared MTA-STS policy is kept when
// Config.PolicyTTL is zero: a week, then the next replica that lacks it
// fetches it again.
const DefaultPolicyTTL = 7 * 24 * time.Hour

// Config configures Policies and Reports.
type Config struct {
	// Store is the shared store. Required.
	Store Backend
	// PolicyTTL bounds a shared policy's life in the store, below its
	// own expiry; zero means DefaultPolicyTTL.
	PolicyTTL time.Duration
	// Now is the clock of expiries (the store's); nil means time.Now.
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
	if cfg.Store == nil {
		return nil, errors.New("fleet: a shared store is required")
	}
	if cfg.PolicyTTL <= 0 {
		cfg.PolicyTTL = DefaultPolicyTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &base{cfg: cfg}, nil
}

// run makes one call to the store, counting a failure.
func (b *base) run(ctx context.Context, op string, f func(ctx context.Context, c redis.Cmdable) error) error {
	err := b.cfg.Store.Run(ctx, op, f)
	if err != nil && !errors.Is(err, redis.Nil) {
		b.errors.Add(1)
	}
	return err
}

// open opens a value, counting a refusal.
func (b *base) open(key string, blob []byte) ([]byte, error) {
	v, err := b.cfg.Store.Open(key, blob)
	if err != nil {
		b.rejected.Add(1)
	}
	return v, err
}

func (b *base) key(k string) string { return b.cfg.Store.Prefix() + k }

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
