package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/daned/daned/mtasts/manager"
	"github.com/daned/daned/state"
)

// Policies is the shared second level of MTA-STS policies
// (manager.Shared): one sealed value per domain, <prefix>s:<domain>,
// expiring with the policy (at most PolicyTTL ahead).
type Policies struct{ *base }

var _ manager.Shared = (*Policies)(nil)

// NewPolicies returns the shared MTA-STS policies of cfg's store.
func NewPolicies(cfg Config) (*Policies, error) {
	b, err := newBase(cfg)
	if err != nil {
		return nil, err
	}
	return &Policies{b}, nil
}

func (p *Policies) policyKey(domain string) string { return p.key("s:" + domain) }

// SharedPolicy returns domain's shared policy. A value that does not open
// or decode is an error wrapping manager.ErrSharedRejected.
func (p *Policies) SharedPolicy(ctx context.Context, domain string) (state.STSPolicy, bool, error) {
	k := p.policyKey(domain)
	var blob []byte
	err := p.run(ctx, "sts_get", func(ctx context.Context, c redis.Cmdable) error {
		var err error
		blob, err = c.Get(ctx, k).Bytes()
		return err
	})
	if errors.Is(err, redis.Nil) {
		return state.STSPolicy{}, false, nil
	}
	if err != nil {
		return state.STSPolicy{}, false, err
	}
	v, err := p.open(k, blob)
	if err != nil {
		return state.STSPolicy{}, false, fmt.Errorf("%w: %v", manager.ErrSharedRejected, err)
	}
	var sp state.STSPolicy
	if err := json.Unmarshal(v, &sp); err != nil {
		p.rejected.Add(1)
		return state.STSPolicy{}, false, fmt.Errorf("%w: %v", manager.ErrSharedRejected, err)
	}
	return sp, true, nil
}

// PutSharedPolicy writes sp under its domain until it expires, or
// PolicyTTL from now if that is sooner.
func (p *Policies) PutSharedPolicy(ctx context.Context, sp state.STSPolicy) error {
	now := p.cfg.Now()
	exp := sp.Expires
	if lim := now.Add(p.cfg.PolicyTTL); exp.After(lim) {
		exp = lim
	}
	if !exp.After(now) {
		return p.DeleteSharedPolicy(ctx, sp.Domain)
	}
	v, err := json.Marshal(sp)
	if err != nil {
		return err
	}
	k := p.policyKey(sp.Domain)
	blob := p.cfg.Store.Seal(k, v, exp)
	// The expiry is a duration of this replica's clock, as the seal's is
	// a time of it.
	return p.run(ctx, "sts_put", func(ctx context.Context, c redis.Cmdable) error {
		return c.Set(ctx, k, blob, ttl(exp, now)).Err()
	})
}

// DeleteSharedPolicy removes domain's shared policy.
func (p *Policies) DeleteSharedPolicy(ctx context.Context, domain string) error {
	k := p.policyKey(domain)
	return p.run(ctx, "sts_delete", func(ctx context.Context, c redis.Cmdable) error { return c.Del(ctx, k).Err() })
}
