package fleet

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/daned/daned/tlsrpt"
	"github.com/daned/daned/tlsrpt/reporter"
)

// Reports is the fleet's TLS-RPT store (reporter.Fleet). A period that
// starts at S has these keys, each expiring when the reporter says
// (the period's end plus a few days):
//
//	<prefix>tlsrpt:S:replicas    hash replica → sealed digest of its final counts ("" while counting)
//	<prefix>tlsrpt:S:policies    set of the period's policy keys
//	<prefix>tlsrpt:S:p:<policy>  hash replica → sealed counts of that policy
//	<prefix>tlsrpt:S:lease       the reporter's replica id, with a TTL
//	<prefix>tlsrpt:S:done        sealed done marker
//
// A replica's counts are whole counts, written over the previous ones
// (HSET), so that writing them again changes nothing.
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
	return r.key("tlsrpt:" + start.UTC().Format("20060102T150405Z") + ":" + what)
}

// Publish writes replica's shares and registration, in one transaction.
func (r *Reports) Publish(ctx context.Context, start time.Time, replica string, shares tlsrpt.Shares, final string, expires time.Time) error {
	life := ttl(expires, r.cfg.Now())
	regs, pols := r.periodKey(start, "replicas"), r.periodKey(start, "policies")
	sealed := make(map[string][]byte, len(shares))
	members := make([]any, 0, len(shares))
	for pk, b := range shares {
		k := r.periodKey(start, "p:"+pk)
		sealed[k] = r.cfg.Store.Seal(fieldKey(k, replica), b, expires)
		members = append(members, pk)
	}
	reg := r.cfg.Store.Seal(fieldKey(regs, replica), []byte(final), expires)
	return r.run(ctx, "tlsrpt_publish", func(ctx context.Context, c redis.Cmdable) error {
		_, err := c.TxPipelined(ctx, func(pl redis.Pipeliner) error {
			if len(members) > 0 {
				pl.SAdd(ctx, pols, members...)
				pl.PExpire(ctx, pols, life)
			}
			for k, s := range sealed {
				pl.HSet(ctx, k, replica, s)
				pl.PExpire(ctx, k, life)
			}
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
	var cmds []*redis.MapStringStringCmd
	err := r.run(ctx, "tlsrpt_shares", func(ctx context.Context, c redis.Cmdable) error {
		var err error
		if pks, err = c.SMembers(ctx, r.periodKey(start, "policies")).Result(); err != nil || len(pks) == 0 {
			return err
		}
		cmds = make([]*redis.MapStringStringCmd, len(pks))
		_, err = c.Pipelined(ctx, func(pl redis.Pipeliner) error {
			for i, pk := range pks {
				cmds[i] = pl.HGetAll(ctx, r.periodKey(start, "p:"+pk))
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	out := map[string]tlsrpt.Shares{}
	rejected := map[string]int{}
	for i, pk := range pks {
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
	return out, rejected, nil
}

// leaseScript takes the lease when it is free, renews it when replica
// holds it.
var leaseScript = redis.NewScript(`
local v = redis.call("GET", KEYS[1])
if v == false then
	redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
	return 1
end
if v == ARGV[1] then
	redis.call("PEXPIRE", KEYS[1], ARGV[2])
	return 1
end
return 0`)

// releaseScript deletes the lease only when replica holds it.
var releaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// Lease takes or renews the period's reporter lease.
func (r *Reports) Lease(ctx context.Context, start time.Time, replica string, d time.Duration) (bool, error) {
	var n int
	err := r.run(ctx, "tlsrpt_lease", func(ctx context.Context, c redis.Cmdable) error {
		var err error
		n, err = leaseScript.Run(ctx, c, []string{r.periodKey(start, "lease")}, replica, max(d.Milliseconds(), 1)).Int()
		return err
	})
	return n == 1, err
}

// Release ends replica's lease.
func (r *Reports) Release(ctx context.Context, start time.Time, replica string) error {
	return r.run(ctx, "tlsrpt_release", func(ctx context.Context, c redis.Cmdable) error {
		return releaseScript.Run(ctx, c, []string{r.periodKey(start, "lease")}, replica).Err()
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
