package tlsrpt

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Replicas of a fleet exchange their counts as shares: one policy's
// counts of one range, encoded as the state store keeps them. A share is
// a replica's whole count so far, not an increment: writing it again
// replaces it, so that a retry never counts twice.

// Shares are one range's shares, by policy key (PolicyKey).
type Shares map[string][]byte

// PolicyKey names a policy within a range: its domain and a digest of
// the policy. Every replica derives the same key for the same policy.
func PolicyKey(p Policy) string {
	sum := sha256.Sum256([]byte(p.key()))
	return p.Domain + "|" + hex.EncodeToString(sum[:8])
}

// Digest identifies a set of shares: replicas compare what they handed
// in with what a report was made from.
func (s Shares) Digest() string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(s)) {
		fmt.Fprintf(h, "%d:%s%d:", len(k), k, len(s[k]))
		h.Write(s[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (ag *aggregate) share() (string, []byte, error) {
	b, err := json.Marshal(ag)
	return PolicyKey(ag.Policy), b, err
}

// Open returns the shares of the ranges still counting, by range start,
// and the number of sessions counted so far by this process: when it has
// not changed, neither have the shares.
func (a *Aggregator) Open() (map[time.Time]Shares, uint64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[time.Time]Shares{}
	for _, ag := range a.aggs {
		k, b, err := ag.share()
		if err != nil {
			return nil, 0, err
		}
		if out[ag.Start] == nil {
			out[ag.Start] = Shares{}
		}
		out[ag.Start][k] = b
	}
	return out, a.counted, nil
}

// Starts returns the starts of the ranges in cl, in order.
func (cl Closed) Starts() []time.Time {
	var out []time.Time
	for _, ag := range cl.aggs {
		if !slices.ContainsFunc(out, ag.Start.Equal) {
			out = append(out, ag.Start)
		}
	}
	slices.SortFunc(out, time.Time.Compare)
	return out
}

// Range returns the part of cl whose range starts at start, with cl's
// Before.
func (cl Closed) Range(start time.Time) Closed {
	out := Closed{Before: cl.Before, aggs: map[string]*aggregate{}}
	for k, ag := range cl.aggs {
		if ag.Start.Equal(start) {
			out.aggs[k] = ag
			out.Keys = append(out.Keys, k)
		}
	}
	slices.Sort(out.Keys)
	for _, c := range cl.Counts {
		if c.Start.Equal(start) {
			out.Counts = append(out.Counts, c)
		}
	}
	return out
}

// End returns the end of cl's ranges (the latest, when there are
// several); zero when cl is empty.
func (cl Closed) End() time.Time {
	var end time.Time
	for _, ag := range cl.aggs {
		if ag.End.After(end) {
			end = ag.End
		}
	}
	return end
}

// Shares returns cl's counts as shares, for the ranges that start at
// start.
func (cl Closed) Shares(start time.Time) (Shares, error) {
	out := Shares{}
	for _, ag := range cl.aggs {
		if !ag.Start.Equal(start) {
			continue
		}
		k, b, err := ag.share()
		if err != nil {
			return nil, err
		}
		out[k] = b
	}
	return out, nil
}

// Merge adds up the shares of several replicas, each for the same range,
// into the Counts of one report per policy domain: counts are summed,
// failure details equal on every field but the count are one, and the
// MaxDetails rule applies to the sum as it does to one replica's counts.
// A share that does not decode, or does not belong to its key or range,
// is an error: none of its replica's shares may then be used.
func (a *Aggregator) Merge(start time.Time, replicas ...Shares) ([]Counts, error) {
	merged := map[string]*aggregate{}
	for _, shares := range replicas {
		for k, b := range shares {
			var ag aggregate
			if err := json.Unmarshal(b, &ag); err != nil {
				return nil, fmt.Errorf("tlsrpt: share %s: %w", k, err)
			}
			ag.Policy.Domain = strings.ToLower(strings.TrimSuffix(ag.Policy.Domain, "."))
			switch {
			case PolicyKey(ag.Policy) != k:
				return nil, fmt.Errorf("tlsrpt: share %s holds the counts of another policy", k)
			case !ag.Start.Equal(start) || !ag.End.After(ag.Start) || ag.Success < 0 || ag.Failure < 0:
				return nil, fmt.Errorf("tlsrpt: share %s: range %v–%v, counts %d/%d", k, ag.Start, ag.End, ag.Success, ag.Failure)
			}
			m := merged[k]
			if m == nil {
				m = &aggregate{Start: ag.Start, End: ag.End, Policy: ag.Policy, index: map[FailureDetail]int{}}
				merged[k] = m
			}
			if err := m.merge(&ag, a.cfg.MaxDetails); err != nil {
				return nil, fmt.Errorf("tlsrpt: share %s: %w", k, err)
			}
		}
	}
	return groupCounts(merged, func(*aggregate) bool { return true }, a.cfg.MaxDetails), nil
}

var errBadShare = errors.New("negative or mismatched counts")

// merge adds o's counts to ag's: a detail ag has is summed, a new one is
// kept while ag holds fewer than twice maxDetails, and counted per result
// type past that, as add does.
func (ag *aggregate) merge(o *aggregate, maxDetails int) error {
	if o.End.After(ag.End) {
		ag.End = o.End
	}
	ag.Success += o.Success
	ag.Failure += o.Failure
	var sum int64
	for _, d := range o.Details {
		if d.Count < 0 || !d.Result.Valid() {
			return errBadShare
		}
		sum += d.Count
		n := d.Count
		d.Count = 0
		if i, ok := ag.index[d]; ok {
			ag.Details[i].Count += n
			continue
		}
		if len(ag.Details) >= 2*maxDetails {
			ag.addOther(d.Result, n)
			continue
		}
		ag.index[d] = len(ag.Details)
		d.Count = n
		ag.Details = append(ag.Details, d)
	}
	for rt, n := range o.Other {
		if n < 0 || !rt.Valid() {
			return errBadShare
		}
		sum += n
		ag.addOther(rt, n)
	}
	if sum != o.Failure {
		return errBadShare
	}
	return nil
}

func (ag *aggregate) addOther(rt ResultType, n int64) {
	if ag.Other == nil {
		ag.Other = map[ResultType]int64{}
	}
	ag.Other[rt] += n
}
