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

func (r *Reports) key(start time.Time, what string) string {
	return r.cfg.Prefix + "tlsrpt:" + start.UTC().Format("20060102T150405Z") + ":" + what
}

// Publish writes replica's shares and registration, in one transaction.
func (r *Reports) Publish(ctx context.Context, start time.Time, replica string, shares tlsrpt.Shares, final string, expires time.Time) error {
	ctx, cancel := r.call(ctx)
	defer cancel()
	now := r.cfg.Now()
	life := ttl(expires, now)
	regs, pols := r.key(start, "replicas"), r.key(start, "policies")
	sealed := make(map[string][]byte, len(shares))
	for pk, b := range shares {
		k := r.key(start, "p:"+pk)
		s, err := r.cfg.Sealer.Seal(fieldKey(k, replica), b, expires)
		if err != nil {
			return err
		}
		sealed[k] = s
	}
	reg, err := r.cfg.Sealer.Seal(fieldKey(regs, replica), []byte(final), expires)
	if err != nil {
		return err
	}
	_, err = r.cfg.Client.TxPipelined(ctx, func(pl redis.Pipeliner) error {
		members := make([]any, 0, len(shares))
		for pk := range shares {
			members = append(members, pk)
		}
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
	return r.failed(err)
}

// Replicas returns the period's registered replicas whose registration
// opens.
func (r *Reports) Replicas(ctx context.Context, start time.Time) (map[string]string, error) {
	ctx, cancel := r.call(ctx)
	defer cancel()
	k := r.key(start, "replicas")
	all, err := r.cfg.Client.HGetAll(ctx, k).Result()
	if err != nil {
		return nil, r.failed(err)
	}
	now := r.cfg.Now()
	out := make(map[string]string, len(all))
	for id, blob := range all {
		v, err := r.cfg.Sealer.Open(fieldKey(k, id), []byte(blob), now)
		if err != nil {
			r.rejected.Add(1)
			continue
		}
		out[id] = string(v)
	}
	return out, nil
}

// Shares reads every policy's counts of the period, by replica.
func (r *Reports) Shares(ctx context.Context, start time.Time) (map[string]tlsrpt.Shares, map[string]int, error) {
	ctx, cancel := r.call(ctx)
	defer cancel()
	pks, err := r.cfg.Client.SMembers(ctx, r.key(start, "policies")).Result()
	if err != nil {
		return nil, nil, r.failed(err)
	}
	cmds := make([]*redis.MapStringStringCmd, len(pks))
	if len(pks) > 0 {
		_, err = r.cfg.Client.Pipelined(ctx, func(pl redis.Pipeliner) error {
			for i, pk := range pks {
				cmds[i] = pl.HGetAll(ctx, r.key(start, "p:"+pk))
			}
			return nil
		})
		if err != nil {
			return nil, nil, r.failed(err)
		}
	}
	now := r.cfg.Now()
	out := map[string]tlsrpt.Shares{}
	rejected := map[string]int{}
	for i, pk := range pks {
		k := r.key(start, "p:"+pk)
		for id, blob := range cmds[i].Val() {
			v, err := r.cfg.Sealer.Open(fieldKey(k, id), []byte(blob), now)
			if err != nil {
				r.rejected.Add(1)
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
	ctx, cancel := r.call(ctx)
	defer cancel()
	n, err := leaseScript.Run(ctx, r.cfg.Client, []string{r.key(start, "lease")}, replica, max(d.Milliseconds(), 1)).Int()
	if err != nil {
		return false, r.failed(err)
	}
	return n == 1, nil
}

// Release ends replica's lease.
func (r *Reports) Release(ctx context.Context, start time.Time, replica string) error {
	ctx, cancel := r.call(ctx)
	defer cancel()
	return r.failed(releaseScript.Run(ctx, r.cfg.Client, []string{r.key(start, "lease")}, replica).Err())
}

// Done returns the period's done marker. One that does not open is
// counted and treated as none: the reporter would then report again, or
// the replicas alone, rather than drop their counts on a forged word.
func (r *Reports) Done(ctx context.Context, start time.Time) ([]byte, error) {
	ctx, cancel := r.call(ctx)
	defer cancel()
	k := r.key(start, "done")
	blob, err := r.cfg.Client.Get(ctx, k).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, r.failed(err)
	}
	v, err := r.cfg.Sealer.Open(k, blob, r.cfg.Now())
	if err != nil {
		r.rejected.Add(1)
		return nil, nil
	}
	return v, nil
}

// SetDone writes the period's done marker.
func (r *Reports) SetDone(ctx context.Context, start time.Time, marker []byte, expires time.Time) error {
	ctx, cancel := r.call(ctx)
	defer cancel()
	k := r.key(start, "done")
	s, err := r.cfg.Sealer.Seal(k, marker, expires)
	if err != nil {
		return err
	}
	return r.failed(r.cfg.Client.Set(ctx, k, s, ttl(expires, r.cfg.Now())).Err())
}
