package tlsrpt

import (
	"cmp"

	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/daned/daned/state"
)

// AggregatorConfig configures an Aggregator. Zero values are the
// documented defaults.
type AggregatorConfig struct {
	// Store keeps the counts across restarts; nil keeps them in memory
	// only.
	Store *state.Store
	// Period is the length of a report's period, aligned to UTC
	// midnight: it must divide 24 hours. 0 means 24h (RFC 8460 §4.1: a
	// report covers one UTC day).
	Period time.Duration
	// FlushEvery is how often counts are committed to the store: a crash
	// loses at most this much. 0 means 1s.
	FlushEvery time.Duration
	// MaxDetails bounds the failure-detail rows of one policy in a
	// report: the most frequent are kept, the others are merged into one
	// row per result type. 0 means 100. Memory holds at most twice as
	// many distinct rows per policy.
	MaxDetails int
	// MaxFuture is how far past now a session's time may be (clock skew
	// between hosts); later ones are refused. 0 means 1h.
	MaxFuture time.Duration
	// RedactSendingIP leaves the sending MTA's address out of the counts
	// and so out of the reports (--tlsrpt-redact-sending-ip).
	RedactSendingIP bool
	// Metrics records each session counted or refused; nil records
	// nothing.
	Metrics Metrics
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives failed commits; nil means slog.Default().
	Logger *slog.Logger
}

// Metrics records sessions.
type Metrics interface {
	// Session records one session counted: its policy type and its
	// result type ("success" for a successful session).
	Session(policy PolicyType, result string)
	// Refused records one session not counted: "invalid", "late" (its
	// period was already reported) or "future".
	Refused(reason string)
}

// Aggregator counts sessions per period, policy domain and policy
// (RFC 8460 §4.4). It is safe for concurrent use.
type Aggregator struct {
	cfg     AggregatorConfig
	log     *slog.Logger
	mu      sync.Mutex
	aggs    map[string]*aggregate // by store key
	dirty   map[string]struct{}
	closed  time.Time // sessions before it are not counted: their range was reported
	counted uint64    // sessions counted by this process, for the commit log

	flushMu sync.Mutex // one commit at a time, in order
	stop    chan struct{}
	done    chan struct{}
}

// aggregate is one policy's sessions in one range, as stored.
type aggregate struct {
	Start   time.Time       `json:"start"`
	End     time.Time       `json:"end"`
	Policy  Policy          `json:"policy"`
	Success int64           `json:"success"`
	Failure int64           `json:"failure"`
	Details []FailureDetail `json:"details,omitempty"`
	// Other counts, per result type, failures whose details did not fit.
	Other map[ResultType]int64 `json:"other,omitempty"`

	index map[FailureDetail]int // a detail (Count zero) → its row
}

// NewAggregator returns an Aggregator holding the counts of cfg.Store,
// and starts committing to it.
func NewAggregator(cfg AggregatorConfig) (*Aggregator, error) {
	if cfg.Period == 0 {
		cfg.Period = 24 * time.Hour
	}
	if cfg.Period < time.Minute || (24*time.Hour)%cfg.Period != 0 {
		return nil, fmt.Errorf("tlsrpt: period %v must be at least a minute and divide 24h", cfg.Period)
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = time.Second
	}
	if cfg.MaxDetails <= 0 {
		cfg.MaxDetails = 100
	}
	if cfg.MaxFuture <= 0 {
		cfg.MaxFuture = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = noMetrics{}
	}
	a := &Aggregator{cfg: cfg, log: cfg.Logger, aggs: map[string]*aggregate{}, dirty: map[string]struct{}{},
		stop: make(chan struct{}), done: make(chan struct{})}
	if cfg.Store != nil {
		var err error
		if a.closed, err = cfg.Store.TLSRPTClosedBefore(); err != nil {
			return nil, err
		}
		var bad []string
		err = cfg.Store.TLSRPTCounts(func(key string, v json.RawMessage) error {
			ag := &aggregate{}
			if err := json.Unmarshal(v, ag); err != nil {
				bad = append(bad, key)
				return nil
			}
			ag.reindex()
			a.aggs[key] = ag
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(bad) > 0 {
			a.log.Warn("tlsrpt: undecodable counts in the state store were ignored", slog.Any("keys", bad))
		}
	}
	go a.run()
	return a, nil
}

func (ag *aggregate) reindex() {
	ag.index = make(map[FailureDetail]int, len(ag.Details))
	for i, d := range ag.Details {
		d.Count = 0
		ag.index[d] = i
	}
}

// storeKey is the aggregate's key: its range's start, its policy
// domain, and a digest of the policy.
func storeKey(start time.Time, p Policy) string {
	sum := sha256.Sum256([]byte(p.key()))
	return start.UTC().Format("20060102T150405Z") + "|" + p.Domain + "|" + hex.EncodeToString(sum[:8])
}

// Add counts sessions. A session that fails Check, belongs to a range
// already reported, or lies too far in the future is not counted (each
// is recorded by Metrics.Refused); callers that must tell their client
// check first (Check, Accepts).
func (a *Aggregator) Add(sessions ...Session) { a.AddEach(sessions) }

// AddEach is Add that says, per session, why it was not counted: ""
// when it was, else the reason (Check's error, or that its period was
// reported already, or that its time is too far ahead).
func (a *Aggregator) AddEach(sessions []Session) []string {
	now := a.cfg.Now()
	why := make([]string, len(sessions))
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range sessions {
		s := &sessions[i]
		if err := s.Check(); err != nil {
			a.cfg.Metrics.Refused("invalid")
			why[i] = err.Error()
			continue
		}
		switch a.refusal(s.Time, now) {
		case "late":
			a.cfg.Metrics.Refused("late")
			why[i] = "the session's period was reported already (" + s.Time.UTC().Format(time.RFC3339) + " is before " + a.closed.Format(time.RFC3339) + ")"
			continue
		case "future":
			a.cfg.Metrics.Refused("future")
			why[i] = "the session's time " + s.Time.UTC().Format(time.RFC3339) + " is more than " + a.cfg.MaxFuture.String() + " ahead of daned's clock"
			continue
		}
		a.add(s)
	}
	return why
}

// Accepts returns why a session of time t would not be counted now
// ("late" or "future"), or "".
func (a *Aggregator) Accepts(t time.Time) string {
	now := a.cfg.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.refusal(t, now)
}

func (a *Aggregator) refusal(t, now time.Time) string {
	switch {
	case t.Before(a.closed):
		return "late"
	case t.After(now.Add(a.cfg.MaxFuture)):
		return "future"
	}
	return ""
}

func (a *Aggregator) add(s *Session) {
	start := s.Time.UTC().Truncate(a.cfg.Period)
	end := start.Add(a.cfg.Period)
	if start.Before(a.closed) {
		start = a.closed // the range's first part was reported early (Cut before its end)
	}
	p := s.Policy
	p.Domain = strings.ToLower(strings.TrimSuffix(p.Domain, "."))
	key := storeKey(start, p)
	ag := a.aggs[key]
	if ag == nil {
		p.Strings, p.MXHosts = slices.Clone(p.Strings), slices.Clone(p.MXHosts)
		ag = &aggregate{Start: start, End: end, Policy: p, index: map[FailureDetail]int{}}
		a.aggs[key] = ag
	}
	a.dirty[key] = struct{}{}
	a.counted++
	if s.Success {
		ag.Success++
		a.cfg.Metrics.Session(p.Type, "success")
		return
	}
	ag.Failure++
	a.cfg.Metrics.Session(p.Type, string(s.Result))
	sending := s.SendingMTAIP
	if a.cfg.RedactSendingIP {
		sending = ""
	}
	d := FailureDetail{Result: s.Result, SendingMTAIP: sending, ReceivingMX: s.ReceivingMX,
		ReceivingHELO: s.ReceivingHELO, ReceivingIP: s.ReceivingIP, AdditionalInfo: s.AdditionalInfo, FailureCode: s.FailureCode}
	if i, ok := ag.index[d]; ok {
		ag.Details[i].Count++
		return
	}
	if len(ag.Details) >= 2*a.cfg.MaxDetails {
		if ag.Other == nil {
			ag.Other = map[ResultType]int64{}
		}
		ag.Other[s.Result]++
		return
	}
	ag.index[d] = len(ag.Details)
	d.Count = 1
	ag.Details = append(ag.Details, d)
}

func (a *Aggregator) run() {
	defer close(a.done)
	t := time.NewTicker(a.cfg.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			if err := a.Flush(); err != nil {
				a.log.Error("tlsrpt: committing counts failed; retrying", slog.Any("error", err))
			}
		}
	}
}

// Flush commits every count changed since the last commit.
func (a *Aggregator) Flush() error {
	if a.cfg.Store == nil {
		return nil
	}
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	a.mu.Lock()
	counted := a.counted
	put := make(map[string]json.RawMessage, len(a.dirty))
	var err error
	for k := range a.dirty {
		ag := a.aggs[k]
		if ag == nil {
			continue
		}
		if put[k], err = json.Marshal(ag); err != nil {
			break
		}
	}
	if err == nil {
		clear(a.dirty)
	}
	a.mu.Unlock()
	if err != nil {
		return err
	}
	if len(put) == 0 {
		return nil
	}
	if err := a.cfg.Store.PutTLSRPTCounts(put, nil); err != nil {
		a.mu.Lock()
		for k := range put {
			if _, ok := a.aggs[k]; ok {
				a.dirty[k] = struct{}{}
			}
		}
		a.mu.Unlock()
		return err
	}
	// sessions_counted: every session this process counted up to the
	// commit is in the store.
	a.log.Debug("tlsrpt: counts committed", slog.Int("aggregates", len(put)), slog.Uint64("sessions_counted", counted))
	return nil
}

// Close commits the counts and stops committing.
func (a *Aggregator) Close() error {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	<-a.done
	return a.Flush()
}

// PeriodOf returns the range a session at t is counted in now.
func (a *Aggregator) PeriodOf(t time.Time) (start, end time.Time) {
	start = t.UTC().Truncate(a.cfg.Period)
	end = start.Add(a.cfg.Period)
	a.mu.Lock()
	defer a.mu.Unlock()
	if start.Before(a.closed) {
		start = a.closed
	}
	return start, end
}

// Period returns the configured period.
func (a *Aggregator) Period() time.Duration { return a.cfg.Period }

// Counts are one policy domain's sessions in one range: what a report
// holds, before its header.
type Counts struct {
	PolicyDomain string
	Start, End   time.Time
	Policies     []PolicyResults
}

// Failures reports whether any session failed.
func (c *Counts) Failures() bool {
	for _, p := range c.Policies {
		if p.Summary.Failed > 0 {
			return true
		}
	}
	return false
}

// Live returns the counts of the ranges not yet reported whose policy
// domain is domain or a subdomain of it (a DANE policy domain is an MX
// host), by range and policy domain.
func (a *Aggregator) Live(domain string) []Counts {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.group(func(ag *aggregate) bool {
		return ag.Policy.Domain == domain || strings.HasSuffix(ag.Policy.Domain, "."+domain)
	})
}

// group builds the Counts of the aggregates match selects; a.mu held.
func (a *Aggregator) group(match func(*aggregate) bool) []Counts {
	return groupCounts(a.aggs, match, a.cfg.MaxDetails)
}

// groupCounts builds the Counts of the aggregates match selects, by range
// and policy domain.
func groupCounts(aggs map[string]*aggregate, match func(*aggregate) bool, maxDetails int) []Counts {
	type gk struct {
		start  time.Time
		domain string
	}
	byKey := map[gk]*Counts{}
	for _, ag := range aggs {
		if !match(ag) {
			continue
		}
		k := gk{ag.Start, ag.Policy.Domain}
		c := byKey[k]
		if c == nil {
			c = &Counts{PolicyDomain: ag.Policy.Domain, Start: ag.Start, End: ag.End}
			byKey[k] = c
		}
		c.Policies = append(c.Policies, ag.results(maxDetails))
	}
	out := make([]Counts, 0, len(byKey))
	for _, c := range byKey {
		slices.SortFunc(c.Policies, func(x, y PolicyResults) int { return strings.Compare(x.Policy.key(), y.Policy.key()) })
		out = append(out, *c)
	}
	slices.SortFunc(out, func(x, y Counts) int {
		return cmp.Or(x.Start.Compare(y.Start), strings.Compare(x.PolicyDomain, y.PolicyDomain))
	})
	return out
}

// results is the aggregate as a report's policy entry: the most
// frequent maxDetails failure details, the others merged into one row
// per result type.
func (ag *aggregate) results(maxDetails int) PolicyResults {
	pr := PolicyResults{Policy: ag.Policy, Summary: Summary{Successful: ag.Success, Failed: ag.Failure}}
	pr.Policy.Strings, pr.Policy.MXHosts = slices.Clone(ag.Policy.Strings), slices.Clone(ag.Policy.MXHosts)
	details := slices.Clone(ag.Details)
	slices.SortStableFunc(details, func(x, y FailureDetail) int {
		return cmp.Or(cmp.Compare(y.Count, x.Count), strings.Compare(string(x.Result), string(y.Result)))
	})
	other := map[ResultType]int64{}
	for rt, n := range ag.Other {
		other[rt] += n
	}
	if len(details) > maxDetails {
		for _, d := range details[maxDetails:] {
			other[d.Result] += d.Count
		}
		details = details[:maxDetails]
	}
	for _, rt := range ResultTypes {
		if n := other[rt]; n > 0 {
			details = append(details, FailureDetail{Result: rt, Count: n,
				AdditionalInfo: "failures with other details (sending or receiving hosts, addresses), merged: the report keeps the most frequent"})
		}
	}
	pr.FailureDetails = details
	return pr
}

// Closed is a range's counts taken out of the aggregation to be
// reported; Keys are their keys in the store.
type Closed struct {
	Counts []Counts
	Keys   []string
	Before time.Time

	aggs map[string]*aggregate // by key: what Shares encodes
}

// Cut ends counting before t: the counts of every range that starts
// before t are taken out (a range that ends after t is cut at t; its
// later sessions start a new range), and later sessions before t are
// refused as late. The counts stay in the store until Commit removes
// them with the reports made from them.
func (a *Aggregator) Cut(t time.Time) (Closed, error) {
	if err := a.Flush(); err != nil {
		return Closed{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	t = t.UTC()
	if t.Before(a.closed) {
		t = a.closed
	}
	cl := Closed{Before: t}
	for k, ag := range a.aggs {
		if ag.Start.Before(t) {
			if ag.End.After(t) {
				ag.End = t
			}
			cl.Keys = append(cl.Keys, k)
		}
	}
	cl.Counts = a.group(func(ag *aggregate) bool { return ag.Start.Before(t) })
	cl.aggs = make(map[string]*aggregate, len(cl.Keys))
	for _, k := range cl.Keys {
		cl.aggs[k] = a.aggs[k]
		delete(a.aggs, k)
		delete(a.dirty, k)
	}
	a.closed = t
	slices.Sort(cl.Keys)
	return cl, nil
}

// Commit stores the reports made from closed counts and notes, and
// removes those counts from the store, at once
// (state.Store.PutTLSRPTReportsAndCounts).
func (a *Aggregator) Commit(cl Closed, reports []state.TLSRPTReport, notes ...state.TLSRPTNote) error {
	if a.cfg.Store == nil {
		return errors.New("tlsrpt: no state store: reports cannot be kept")
	}
	return a.cfg.Store.PutTLSRPTReportsAndCounts(reports, cl.Keys, cl.Before, notes...)
}

type noMetrics struct{}

func (noMetrics) Session(PolicyType, string) {}
func (noMetrics) Refused(string)             {}
