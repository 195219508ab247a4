package shared

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// What the store lends package shared/fleet, which keeps MTA-STS
// policies and TLS-RPT counts in the same Redis under the same secret:
// its calls (deadline, back-off, failure counts), its seal, and its
// prefix. The fleet's values are entries as this package's own.

// Run calls f with the store's client, bounded by the per-call deadline;
// op names the call in the failure counts. While the store is backing off
// after a failure it returns an error without calling f.
func (s *Store) Run(ctx context.Context, op string, f func(ctx context.Context, c redis.Cmdable) error) error {
	return s.call(ctx, op, func(ctx context.Context) error { return f(ctx, s.rdb) })
}

// Seal returns the entry for value at key (the whole Redis key, prefix
// included; for a hash field, the key and the field), valid until
// expires.
func (s *Store) Seal(key string, value []byte, expires time.Time) []byte {
	return seal(s.cfg.Secret, key, value, expires)
}

// Open returns the value of an entry read at key when it was sealed for
// key with the secret and has not expired; a refusal is counted as Get
// counts one.
func (s *Store) Open(key string, entry []byte) ([]byte, error) {
	v, _, err := open(s.cfg.Secret, key, entry, s.cfg.Now())
	if err != nil {
		s.st.reject(err)
	}
	return v, err
}

// Prefix is what every key of the store begins with.
func (s *Store) Prefix() string { return s.cfg.Prefix }
