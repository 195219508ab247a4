package fleet

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/daned/daned/tlsrpt"
	"github.com/daned/daned/tlsrpt/reporter"
)

// Reports is the fleet's TLS-RPT store (reporter.Fleet). A period that
// starts at S has these keys, each expiring when the reporter says
// (the period's end plus a few days):
//
//	<prefix>r:S:replicas    hash replica → sealed digest of its final counts ("" while counting)
//	<prefix>r:S:policies    set of the period's policy keys
//	<prefix>r:S:p:<policy>  hash replica → sealed counts of that policy
//	<prefix>r:S:lease       the reporter's replica id, with a TTL
//	<prefix>r:S:done        sealed done marker
//
// A replica's counts are whole counts, written over the previous ones
// (HSET), so that writing them again changes nothing. Calls are split in
// chunks of a few hundred policies, each within the store's deadline.
type Reports struct{ *base }

var _ reporter.Fleet = (*Reports)(nil)

// NewReports returns the fleet's TLS-RPT store over cfg's.
func NewReports(cfg Config) (*Reports, error) {
	b, err := newBase(cfg)
	if err != nil {
		return nil, err
	}
	return &Reports{b}, nil
}

func (r *Reports) periodKey(start time.Time, what string) string {
	return r.key("r:" + start.UTC().Format("20060102T150405Z") + ":" + what)
}

// chunk bounds the commands of one call, so that each stays well within
// the store's per-call deadline however many policies a period has.
const chunk = 256

// Publish writes replica's shares, then its registration: a final
// registration is written only once every share is. The reporter checks
// the shares against the registration's digest, so a hand-in cut short
// is never taken for a whole one.
func (r *Reports) Publish(ctx context.Context, start time.Time, replica string, shares tlsrpt.Shares, final string, expires time.Time) error {
	life := ttl(expires, r.cfg.Now())
	regs, pols := r.periodKey(start, "replicas"), r.periodKey(start, "policies")
	pks := slices.Sorted(maps.Keys(shares))
	for len(pks) > 0 {
		n := min(len(pks), chunk)
		part := pks[:n]
		pks = pks[n:]
		members := make([]any, len(part))
		sealed := make([][]byte, len(part))
		for i, pk := range part {
			members[i] = pk
			sealed[i] = r.cfg.Store.Seal(fieldKey(r.periodKey(start, "p:"+pk), replica), shares[pk], expires)
		}
		err := r.run(ctx, "tlsrpt_publish", func(ctx context.Context, c redis.Cmdable) error {
			_, err := c.Pipelined(ctx, func(pl redis.Pipeliner) error {
				pl.SAdd(ctx, pols, members...)
				pl.PExpire(ctx, pols, life)
				for i, pk := range part {
					k := r.periodKey(start, "p:"+pk)
					pl.HSet(ctx, k, replica, sealed[i])
					pl.PExpire(ctx, k, life)
				}
				return nil
			})
			return err
		})
		if err != nil {
			return err
		}
	}
	reg := r.cfg.Store.Seal(fieldKey(regs, replica), []byte(final), expires)
	return r.run(ctx, "tlsrpt_publish", func(ctx context.Context, c redis.Cmdable) error {
		_, err := c.Pipelined(ctx, func(pl redis.Pipeliner) error {
			pl.HSet(ctx, regs, replica, reg)
			pl.PExpire(ctx, regs, life)
			return nil
		})
		return err
	})
}

// Replicas returns the period's registered replicas whose registration
// opens.
func (r *Reports) Replicas(ctx context.Context, start time.Time) (map[string]string, error) {
	k := r.periodKey(start, "replicas")
	var all map[string]string
	err := r.run(ctx, "tlsrpt_replicas", func(ctx context.Context, c redis.Cmdable) error {
		var err error
		all, err = c.HGetAll(ctx, k).Result()
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(all))
	for id, blob := range all {
		if v, err := r.open(fieldKey(k, id), []byte(blob)); err == nil {
			out[id] = string(v)
		}
	}
	return out, nil
}

// Shares reads every policy's counts of the period, by replica.
func (r *Reports) Shares(ctx context.Context, start time.Time) (map[string]tlsrpt.Shares, map[string]int, error) {
	var pks []string
	err := r.run(ctx, "tlsrpt_shares", func(ctx context.Context, c redis.Cmdable) error {
		var err error
		pks, err = c.SMembers(ctx, r.periodKey(start, "policies")).Result()
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	out := map[string]tlsrpt.Shares{}
	rejected := map[string]int{}
	for len(pks) > 0 {
		n := min(len(pks), chunk)
		part := pks[:n]
		pks = pks[n:]
		cmds := make([]*redis.MapStringStringCmd, len(part))
		err := r.run(ctx, "tlsrpt_shares", func(ctx context.Context, c redis.Cmdable) error {
			_, err := c.Pipelined(ctx, func(pl redis.Pipeliner) error {
				for i, pk := range part {
					cmds[i] = pl.HGetAll(ctx, r.periodKey(start, "p:"+pk))
				}
				return nil
			})
			return err
		})
		if err != nil {
			return nil, nil, err
		}
		for i, pk := range part {
			k := r.periodKey(start, "p:"+pk)
			for id, blob := range cmds[i].Val() {
				v, err := r.open(fieldKey(k, id), []byte(blob))
				if err != nil {
					rejected[id]++
					continue
				}
				if out[id] == nil {
					out[id] = tlsrpt.Shares{}
				}
				out[id][pk] = v
			}
		}
	}
	return out, rejected, nil
}

// leaseScript takes the lease when it is free, renews it when replica
// holds it. The scripts are sent with EVAL, never EVALSHA, which daned's
// ACL does not allow (docs/SHARED.md).
const leaseScript = `
local v = redis.call("GET", KEYS[1])
if v == false then
	redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
	return 1
end
if v == ARGV[1] then
	redis.call("PEXPIRE", KEYS[1], ARGV[2])
	return 1
end
return 0`

// releaseScript deletes the lease only when replica holds it.
const releaseScript = `
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`

// Lease takes or renews the period's reporter lease.
func (r *Reports) Lease(ctx context.Context, start time.Time, replica string, d time.Duration) (bool, error) {
	var n int
	err := r.run(ctx, "tlsrpt_lease", func(ctx context.Context, c redis.Cmdable) error {
		var err error
		n, err = c.Eval(ctx, leaseScript, []string{r.periodKey(start, "lease")}, replica, max(d.Milliseconds(), 1)).Int()
		return err
	})
	return n == 1, err
}

// Release ends replica's lease.
func (r *Reports) Release(ctx context.Context, start time.Time, replica string) error {
	return r.run(ctx, "tlsrpt_release", func(ctx context.Context, c redis.Cmdable) error {
		return c.Eval(ctx, releaseScript, []string{r.periodKey(start, "lease")}, replica).Err()
	})
}

// Done returns the period's done marker. One that does not open is
// counted and treated as none: the reporter would then report again, or
// the replicas alone, rather than drop their counts on a forged word.
func (r *Reports) Done(ctx context.Context, start time.Time) ([]byte, error) {
	k := r.periodKey(start, "done")
	var blob []byte
	err := r.run(ctx, "tlsrpt_done", func(ctx context.Context, c redis.Cmdable) error {
		var err error
		blob, err = c.Get(ctx, k).Bytes()
		return err
	})
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v, err := r.open(k, blob)
	if err != nil {
		return nil, nil
	}
	return v, nil
}

// SetDone writes the period's done marker.
func (r *Reports) SetDone(ctx context.Context, start time.Time, marker []byte, expires time.Time) error {
	k := r.periodKey(start, "done")
	s := r.cfg.Store.Seal(k, marker, expires)
	life := ttl(expires, r.cfg.Now())
	return r.run(ctx, "tlsrpt_set_done", func(ctx context.Context, c redis.Cmdable) error { return c.Set(ctx, k, s, life).Err() })
}
