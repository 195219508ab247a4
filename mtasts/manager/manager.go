// Package manager answers "which MTA-STS policy applies to this domain
// now?" (RFC 8461 §3, §5.1): it discovers the _mta-sts TXT record through
// an injected lookup, fetches the policy over HTTPS when none is cached or
// the record's id changed, caches it for max_age in memory and in the
// state store so that it survives restarts, refreshes it in the
// background before it expires, and, when discovery or the fetch fails,
// keeps using the cached policy until it expires: that is what defeats an
// attacker who blocks the TXT record or the policy host (RFC 8461 §5.1,
// §10.2).
//
// With a Shared second level (the store daned replicas share, --redis),
// a policy one replica fetched is the others' too: a replica that has no
// policy cached reads the shared one before fetching, a fetch or refresh
// writes it, and Invalidate removes it. The shared level is a cache of
// the cache: when it fails the Manager works alone, as without it.
//
// Concurrent calls for one domain share one discovery and one fetch.
// After a failed fetch a domain is not fetched again for RetryAfter (five
// minutes, RFC 8461 §3.3). A fetched policy always replaces the cached
// one, so a policy in mode none withdraws an enforced one at once.
//
// It does not judge MX hosts or certificates (mtasts.VerifyHost), nor
// weigh MTA-STS against DANE (mtasts.Decide): the engine does, with the
// Result this package returns.
package manager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/daned/daned/dnsname"
	"github.com/daned/daned/flight"
	"github.com/daned/daned/mtasts"
	"github.com/daned/daned/mtasts/fetch"
	"github.com/daned/daned/state"
)

// Security is the DNSSEC state of a TXT answer.
type Security int

const (
	// SecurityUnknown: not reported. Accepted like Insecure: MTA-STS does
	// not need DNSSEC.
	SecurityUnknown Security = iota
	// Secure: validated from a trust anchor.
	Secure
	// Insecure: provably unsigned; fine for MTA-STS.
	Insecure
	// Bogus: DNSSEC validation failed; a discovery failure.
	Bogus
	// Indeterminate: treated as Bogus.
	Indeterminate
)

// TXTAnswer is the answer to a TXT lookup.
type TXTAnswer struct {
	// Records holds one string per TXT record, its character-strings
	// concatenated (RFC 8461 §3.1). NXDOMAIN and NODATA are no records.
	Records  []string
	Security Security
}

// TXTLookup looks up TXT records; CNAMEs are followed (RFC 8461 §3.1).
// An error means the lookup failed (SERVFAIL, timeout); a bogus answer
// may be an error or an answer with Security Bogus.
type TXTLookup interface {
	LookupTXT(ctx context.Context, name string) (TXTAnswer, error)
}

// TXTLookupFunc adapts a function to TXTLookup.
type TXTLookupFunc func(ctx context.Context, name string) (TXTAnswer, error)

// LookupTXT calls f.
func (f TXTLookupFunc) LookupTXT(ctx context.Context, name string) (TXTAnswer, error) {
	return f(ctx, name)
}

// Fetcher fetches a domain's policy over HTTPS; *fetch.Fetcher is one.
// Errors should be *fetch.Error so that the failure type is known; any
// other error counts as mtasts.ReasonPolicyFetchFailed.
type Fetcher interface {
	Fetch(ctx context.Context, domain string) (fetch.Result, error)
}

// Shared is the second level of policies that daned replicas share (the
// shared store). Its entries are authenticated: an entry that another
// replica did not write is not returned. Every method is bounded by its
// own deadline; an error means the shared level could not answer, and
// the Manager carries on without it.
type Shared interface {
	// SharedPolicy returns domain's shared policy, and whether there is
	// one. An entry that is forged, corrupt or expired is not one: the
	// error then wraps ErrSharedRejected.
	SharedPolicy(ctx context.Context, domain string) (state.STSPolicy, bool, error)
	// PutSharedPolicy writes p, replacing what was there; the entry
	// expires at p.Expires, or earlier.
	PutSharedPolicy(ctx context.Context, p state.STSPolicy) error
	// DeleteSharedPolicy removes domain's shared policy, if any.
	DeleteSharedPolicy(ctx context.Context, domain string) error
}

// ErrSharedRejected is wrapped by the errors of a shared entry that was
// refused: forged, corrupt, expired, or not a valid policy.
var ErrSharedRejected = errors.New("shared MTA-STS policy rejected")

// SharedStats counts the uses of the shared level.
type SharedStats struct {
	// Hits: policies taken from the shared level instead of a fetch.
	Hits uint64
	// Misses: no shared policy (or an older one) where one was looked for.
	Misses uint64
	// Rejected: shared entries refused (forged, corrupt, expired,
	// invalid); the policy was fetched instead.
	Rejected uint64
	// Errors: calls to the shared level that failed (unreachable, slow).
	Errors uint64
	// Writes: policies written to the shared level.
	Writes uint64
}

// Clock tells the time.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Defaults for the zero values of Config.
const (
	// DefaultRetryAfter: RFC 8461 §3.3 suggests five minutes or longer
	// between attempts after a failed fetch.
	DefaultRetryAfter      = 5 * time.Minute
	DefaultRefreshInterval = time.Minute
	DefaultMaxEntries      = 100_000
	// DefaultSharedTimeout bounds one call to the shared level.
	DefaultSharedTimeout = time.Second
)

// Config configures a Manager. TXT and Fetcher are required.
type Config struct {
	// TXT looks up _mta-sts.<domain>. Required.
	TXT TXTLookup
	// Fetcher fetches policies. Required.
	Fetcher Fetcher
	// Store keeps policies across restarts. Nil keeps them in memory
	// only.
	Store *state.Store
	// Shared is the second level shared with other replicas; nil: none.
	Shared Shared
	// SharedTimeout bounds one call to Shared; zero means
	// DefaultSharedTimeout.
	SharedTimeout time.Duration
	// Clock is the time source for fetch times, expiry, refresh and
	// backoff. Nil means the system clock.
	Clock Clock
	// RetryAfter is how long a domain is not fetched again after a
	// failed fetch. Zero means DefaultRetryAfter.
	RetryAfter time.Duration
	// RefreshInterval is how often the background refresher looks for
	// policies due for refresh (see RefreshDue). Zero means
	// DefaultRefreshInterval; negative means no background refresher.
	RefreshInterval time.Duration
	// MaxEntries bounds the policies kept; when full, the one that
	// expires first is dropped. Zero means DefaultMaxEntries.
	MaxEntries int
	// Logger receives fetch failures and store errors. Nil discards.
	Logger *slog.Logger
}

// entry is a cached policy.
type entry struct {
	id        string
	policy    mtasts.Policy
	text      string
	fetchedAt time.Time
	expires   time.Time
}

// failure remembers a failed fetch for the backoff.
type failure struct {
	at     time.Time
	reason mtasts.Reason
	detail string
}

// Manager resolves and caches MTA-STS policies. It is safe for concurrent
// use; Close stops its background work.
type Manager struct {
	cfg    Config
	clock  Clock
	log    *slog.Logger
	flight flight.Group[string, Result]

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	cache    map[string]*entry
	failures map[string]failure

	shHits, shMisses, shRejected, shErrors, shWrites atomic.Uint64
}

// New validates cfg, loads the unexpired policies from the store and
// starts the background refresher.
func New(cfg Config) (*Manager, error) {
	if cfg.TXT == nil || cfg.Fetcher == nil {
		return nil, errors.New("manager: Config.TXT and Config.Fetcher are required")
	}
	if cfg.RetryAfter < 0 || cfg.MaxEntries < 0 {
		return nil, errors.New("manager: negative RetryAfter or MaxEntries")
	}
	if cfg.RetryAfter == 0 {
		cfg.RetryAfter = DefaultRetryAfter
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.MaxEntries == 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.SharedTimeout <= 0 {
		cfg.SharedTimeout = DefaultSharedTimeout
	}
	m := &Manager{
		cfg:      cfg,
		clock:    cfg.Clock,
		log:      cfg.Logger,
		cache:    map[string]*entry{},
		failures: map[string]failure{},
	}
	if m.clock == nil {
		m.clock = realClock{}
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if err := m.load(); err != nil {
		return nil, err
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	if cfg.RefreshInterval > 0 {
		m.wg.Add(1)
		go m.refresher()
	}
	return m, nil
}

// load fills the cache from the store, dropping expired policies.
func (m *Manager) load() error {
	if m.cfg.Store == nil {
		return nil
	}
	stored, err := m.cfg.Store.STSPolicies()
	if err != nil && stored == nil {
		return fmt.Errorf("manager: loading cached MTA-STS policies: %w", err)
	}
	if err != nil {
		m.log.Warn("some cached MTA-STS policies could not be read", "err", err)
	}
	now := m.clock.Now()
	for _, sp := range stored {
		mode, merr := mtasts.ParseMode(sp.Mode)
		if merr != nil || !now.Before(sp.Expires) {
			if err := m.cfg.Store.DeleteSTSPolicy(sp.Domain); err != nil {
				m.log.Error("dropping a stale MTA-STS policy from the store", "domain", sp.Domain, "err", err)
			}
			continue
		}
		m.cache[sp.Domain] = &entry{
			id:        sp.ID,
			policy:    mtasts.Policy{Mode: mode, MX: sp.MX, MaxAge: sp.MaxAge},
			text:      sp.Text,
			fetchedAt: sp.FetchedAt,
			expires:   sp.Expires,
		}
	}
	return nil
}

// Close stops the background refresher and waits for it and for every
// discovery or fetch in progress, which it cancels. Policy calls after
// Close answer from the cache only.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	return nil
}

// track counts a goroutine Close must wait for; false once closed.
func (m *Manager) track() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.wg.Add(1)
	return true
}

var errClosed = errors.New("the MTA-STS manager is closed")

// Policy returns the MTA-STS policy that applies to domain now (see
// Result). Concurrent calls for one domain share one resolution; a caller
// whose ctx ends stops waiting (the resolution goes on and its outcome is
// cached) and gets the cached policy, if any, with the reason it did not
// get a fresh answer.
func (m *Manager) Policy(ctx context.Context, domain string) Result {
	d, err := dnsname.Normalize(domain)
	if err != nil {
		return Result{Domain: domain, Failure: mtasts.ReasonPolicyFetchFailed, Detail: err.Error()}
	}
	if err := ctx.Err(); err != nil {
		return m.fallback(d, mtasts.ReasonPolicyFetchFailed, "gave up before asking: "+err.Error())
	}
	// The shared resolution runs detached from this caller (flight.Group's
	// rule), ended only by the manager's Close.
	r, _, err := m.flight.Do(ctx, d, func(wctx context.Context) (Result, bool, error) {
		if !m.track() {
			return m.fallback(d, mtasts.ReasonPolicyFetchFailed, errClosed.Error()), false, nil
		}
		defer m.wg.Done()
		wctx, cancel := context.WithCancel(wctx)
		defer cancel()
		stop := context.AfterFunc(m.ctx, cancel)
		defer stop()
		return m.resolve(wctx, d, false), false, nil
	})
	if err != nil {
		return m.fallback(d, mtasts.ReasonPolicyFetchFailed, "gave up waiting for discovery and fetch: "+err.Error())
	}
	return clone(r)
}

// resolve discovers and, when needed, fetches the policy of d (RFC 8461
// §5.1). With refresh set it fetches even when the record id is
// unchanged, to renew the cached policy before it expires.
func (m *Manager) resolve(ctx context.Context, d string, refresh bool) Result {
	now := m.clock.Now()
	cached := m.cached(d, now)
	askedShared := false
	if m.cfg.Shared != nil {
		askedShared = cached == nil || refresh
		switch {
		case cached == nil:
			// A policy another replica fetched is as good as our own.
			cached = m.adoptShared(ctx, d, nil, now, func(*entry) bool { return true })
		case refresh:
			// Another replica may have renewed it already.
			old := cached
			newer := func(e *entry) bool { return e.fetchedAt.After(old.fetchedAt) && !refreshDue(e, now) }
			if e := m.adoptShared(ctx, d, cached, now, newer); e != cached {
				return fresh(d, e)
			}
		}
	}

	id := ""
	ans, err := m.cfg.TXT.LookupTXT(ctx, "_mta-sts."+d)
	if err == nil && (ans.Security == Bogus || ans.Security == Indeterminate) {
		err = fmt.Errorf("DNSSEC validation failed (%s)", securityName(ans.Security))
	}
	switch {
	case err != nil:
		detail := fmt.Sprintf("TXT lookup of _mta-sts.%s failed: %v", d, err)
		if cached == nil || !refresh {
			m.log.Info("MTA-STS discovery failed", "domain", d, "err", err)
			return m.withCache(d, cached, mtasts.ReasonPolicyFetchFailed, detail)
		}
		id = cached.id // a refresh fetches anyway: the policy host still speaks for the domain
	default:
		rec, derr := mtasts.Discover(ans.Records)
		switch {
		case derr == nil:
			id = rec.ID
		case cached == nil:
			// RFC 8461 §3.1: no usable record and nothing cached: no policy.
			return Result{Domain: d, Detail: fmt.Sprintf("_mta-sts.%s: %v", d, derr)}
		case !refresh:
			// RFC 8461 §5.1: a cached policy outlives its TXT record; a
			// domain withdraws a policy with mode none, not by removing
			// the record.
			return fromCache(d, cached, mtasts.ReasonNone, fmt.Sprintf("_mta-sts.%s: %v; the cached policy applies until it expires (RFC 8461 §5.1)", d, derr))
		default:
			id = cached.id
		}
	}
	if m.cfg.Shared != nil && !askedShared && cached.id != id {
		// The record changed: another replica may have fetched the new
		// policy already.
		cached = m.adoptShared(ctx, d, cached, now, func(e *entry) bool { return e.id == id })
	}
	if cached != nil && cached.id == id && !refresh {
		return fromCache(d, cached, mtasts.ReasonNone, "")
	}

	if f, ok := m.backingOff(d, now); ok {
		return m.withCache(d, cached, f.reason, fmt.Sprintf("%s (failed at %s; not fetched again before %s, RFC 8461 §3.3)",
			f.detail, f.at.UTC().Format(time.RFC3339), f.at.Add(m.cfg.RetryAfter).UTC().Format(time.RFC3339)))
	}
	res, err := m.cfg.Fetcher.Fetch(ctx, d)
	if err != nil {
		reason, detail := mtasts.ReasonPolicyFetchFailed, err.Error()
		var fe *fetch.Error
		if errors.As(err, &fe) {
			reason, detail = fe.Reason, fe.Detail
		}
		m.log.Info("MTA-STS policy fetch failed", "domain", d, "reason", reason.String(), "detail", detail)
		m.mu.Lock()
		m.failures[d] = failure{at: now, reason: reason, detail: detail}
		m.mu.Unlock()
		return m.withCache(d, cached, reason, detail)
	}
	e := &entry{id: id, policy: res.Policy, text: res.Text, fetchedAt: now, expires: now.Add(res.Policy.MaxAge)}
	m.put(d, e)
	m.share(ctx, d, e)
	return fresh(d, e)
}

// cached returns d's unexpired policy, or nil; an expired one is dropped.
func (m *Manager) cached(d string, now time.Time) *entry {
	m.mu.Lock()
	e := m.cache[d]
	expired := e != nil && !now.Before(e.expires)
	if expired {
		delete(m.cache, d)
	}
	m.mu.Unlock()
	if expired {
		m.storeDelete(d)
		return nil
	}
	return e
}

// put caches e for d, in memory and in the store, replacing what was
// there (a fetched mode none replaces an enforced policy at once). A
// policy with max_age 0 is used once and not kept.
func (m *Manager) put(d string, e *entry) {
	m.mu.Lock()
	delete(m.failures, d)
	if !e.expires.After(e.fetchedAt) {
		delete(m.cache, d)
		m.mu.Unlock()
		m.storeDelete(d)
		return
	}
	var evicted string
	if _, ok := m.cache[d]; !ok && len(m.cache) >= m.cfg.MaxEntries {
		for k, v := range m.cache {
			if evicted == "" || v.expires.Before(m.cache[evicted].expires) {
				evicted = k
			}
		}
		delete(m.cache, evicted)
	}
	m.cache[d] = e
	m.mu.Unlock()
	if evicted != "" {
		m.storeDelete(evicted)
	}
	if m.cfg.Store == nil {
		return
	}
	err := m.cfg.Store.PutSTSPolicy(storedPolicy(d, e))
	if err != nil {
		// The policy still applies from memory; only a restart loses it.
		m.log.Error("storing an MTA-STS policy", "domain", d, "err", err)
	}
}

// adoptShared returns the shared policy of d when there is one and want
// takes it, after caching it here too (in memory and in the store, not
// written back); else cached. A rejected entry is counted and ignored, so
// that the policy is fetched: a forged entry never stands in for a fetch.
func (m *Manager) adoptShared(ctx context.Context, d string, cached *entry, now time.Time, want func(*entry) bool) *entry {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.SharedTimeout)
	defer cancel()
	sp, ok, err := m.cfg.Shared.SharedPolicy(ctx, d)
	if err == nil && ok {
		var e *entry
		if e, err = sharedEntry(d, sp, now); err == nil {
			if !want(e) {
				m.shMisses.Add(1)
				return cached
			}
			m.shHits.Add(1)
			m.put(d, e)
			return e
		}
	}
	switch {
	case errors.Is(err, ErrSharedRejected):
		m.shRejected.Add(1)
		m.log.Warn("a shared MTA-STS policy was rejected; fetching it instead", "domain", d, "err", err)
	case err != nil:
		m.shErrors.Add(1)
		m.log.Info("the shared MTA-STS policies did not answer; working alone", "domain", d, "err", err)
	default:
		m.shMisses.Add(1)
	}
	return cached
}

// maxSkew is how far ahead of this replica's clock another replica's
// fetch time may be.
const maxSkew = time.Minute

// sharedEntry checks a shared policy as if it had just been fetched: its
// text is parsed again, and its times must agree with its max_age.
func sharedEntry(d string, sp state.STSPolicy, now time.Time) (*entry, error) {
	if sp.Domain != d {
		return nil, fmt.Errorf("%w: it names %q", ErrSharedRejected, sp.Domain)
	}
	p, err := mtasts.ParsePolicy(sp.Text)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSharedRejected, err)
	}
	switch {
	case sp.FetchedAt.After(now.Add(maxSkew)):
		return nil, fmt.Errorf("%w: fetched in the future (%s)", ErrSharedRejected, sp.FetchedAt.UTC().Format(time.RFC3339))
	case !sp.Expires.Equal(sp.FetchedAt.Add(p.MaxAge)):
		return nil, fmt.Errorf("%w: its expiry does not follow from its max_age", ErrSharedRejected)
	case !now.Before(sp.Expires):
		return nil, fmt.Errorf("%w: expired at %s", ErrSharedRejected, sp.Expires.UTC().Format(time.RFC3339))
	}
	return &entry{id: sp.ID, policy: p, text: sp.Text, fetchedAt: sp.FetchedAt, expires: sp.Expires}, nil
}

// share writes a fetched policy to the shared level; a policy not kept
// (max_age 0) removes the shared one.
func (m *Manager) share(ctx context.Context, d string, e *entry) {
	if m.cfg.Shared == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.SharedTimeout)
	defer cancel()
	var err error
	if e.expires.After(e.fetchedAt) {
		err = m.cfg.Shared.PutSharedPolicy(ctx, storedPolicy(d, e))
	} else {
		err = m.cfg.Shared.DeleteSharedPolicy(ctx, d)
	}
	if err != nil {
		m.shErrors.Add(1)
		m.log.Info("writing a shared MTA-STS policy failed; kept here only", "domain", d, "err", err)
		return
	}
	m.shWrites.Add(1)
}

func storedPolicy(d string, e *entry) state.STSPolicy {
	return state.STSPolicy{
		Domain: d, ID: e.id, Text: e.text, Mode: e.policy.Mode.String(), MX: e.policy.MX,
		MaxAge: e.policy.MaxAge, FetchedAt: e.fetchedAt, Expires: e.expires,
	}
}

// SharedStats returns the counts of the shared level's uses.
func (m *Manager) SharedStats() SharedStats {
	return SharedStats{Hits: m.shHits.Load(), Misses: m.shMisses.Load(), Rejected: m.shRejected.Load(),
		Errors: m.shErrors.Load(), Writes: m.shWrites.Load()}
}

func (m *Manager) storeDelete(d string) {
	if m.cfg.Store == nil {
		return
	}
	if err := m.cfg.Store.DeleteSTSPolicy(d); err != nil {
		m.log.Error("deleting an MTA-STS policy from the store", "domain", d, "err", err)
	}
}

// backingOff returns d's last fetch failure while it is less than
// RetryAfter old.
func (m *Manager) backingOff(d string, now time.Time) (failure, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.failures[d]
	if !ok {
		return failure{}, false
	}
	if !now.Before(f.at.Add(m.cfg.RetryAfter)) {
		delete(m.failures, d)
		return failure{}, false
	}
	return f, true
}

// withCache is the answer after a failure: the cached policy, if one is
// unexpired, carrying the failure (RFC 8461 §5.1), else the failure alone.
func (m *Manager) withCache(d string, cached *entry, reason mtasts.Reason, detail string) Result {
	if cached == nil {
		return Result{Domain: d, Failure: reason, Detail: detail}
	}
	return fromCache(d, cached, reason, fmt.Sprintf("%s; using the cached policy fetched at %s, valid until %s (RFC 8461 §5.1)",
		detail, cached.fetchedAt.UTC().Format(time.RFC3339), cached.expires.UTC().Format(time.RFC3339)))
}

// fallback answers without discovery: the cached policy, if any.
func (m *Manager) fallback(d string, reason mtasts.Reason, detail string) Result {
	return m.withCache(d, m.cached(d, m.clock.Now()), reason, detail)
}

// Invalidate forgets the cached policy of domain, in memory, in the
// store and in the shared level, and any fetch backoff, so that the next
// Policy call discovers and fetches afresh. It reports whether a policy
// was cached here. A replica told of another's Invalidate calls it too:
// removing the shared entry again costs at most one more fetch.
func (m *Manager) Invalidate(domain string) (bool, error) {
	d, err := dnsname.Normalize(domain)
	if err != nil {
		return false, err
	}
	m.mu.Lock()
	_, had := m.cache[d]
	delete(m.cache, d)
	delete(m.failures, d)
	m.mu.Unlock()
	var errs []error
	if m.cfg.Shared != nil {
		ctx, cancel := context.WithTimeout(m.ctx, m.cfg.SharedTimeout)
		err := m.cfg.Shared.DeleteSharedPolicy(ctx, d)
		cancel()
		if err != nil {
			// The shared entry expires with the policy; meanwhile a
			// replica without the policy may take it from there.
			m.shErrors.Add(1)
			errs = append(errs, fmt.Errorf("removing the shared policy: %w", err))
		}
	}
	if m.cfg.Store != nil {
		if err := m.cfg.Store.DeleteSTSPolicy(d); err != nil {
			errs = append(errs, err)
		}
	}
	return had, errors.Join(errs...)
}

// CountByMode returns how many unexpired policies are cached, by mode
// (for a metric).
func (m *Manager) CountByMode() map[mtasts.Mode]int {
	now := m.clock.Now()
	out := map[mtasts.Mode]int{}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.cache {
		if now.Before(e.expires) {
			out[e.policy.Mode]++
		}
	}
	return out
}

// refreshDue reports whether e should be renewed: less than a quarter of
// its max_age is left.
func refreshDue(e *entry, now time.Time) bool {
	return now.After(e.expires.Add(-e.policy.MaxAge/4)) && now.Before(e.expires)
}

// RefreshDue renews, one after the other, every cached policy with less
// than a quarter of its max_age left, so that a policy in use does not
// lapse between deliveries (RFC 8461 §5.1, §10.2): it discovers the
// record and fetches the policy even when the id is unchanged, and keeps
// the cached policy if that fails. Domains in their failure backoff wait.
// It also drops expired policies and finished backoffs. It returns how
// many policies it tried to renew. The background refresher calls it every
// RefreshInterval; tests call it with a fake clock.
func (m *Manager) RefreshDue(ctx context.Context) int {
	now := m.clock.Now()
	var due []string
	var expired []string
	m.mu.Lock()
	for d, f := range m.failures {
		if !now.Before(f.at.Add(m.cfg.RetryAfter)) {
			delete(m.failures, d) // backoffs over: keep the map small
		}
	}
	for d, e := range m.cache {
		switch {
		case !now.Before(e.expires):
			expired = append(expired, d)
		case refreshDue(e, now):
			if f, ok := m.failures[d]; ok && now.Before(f.at.Add(m.cfg.RetryAfter)) {
				continue
			}
			due = append(due, d)
		}
	}
	m.mu.Unlock()
	for _, d := range expired {
		m.cached(d, now) // drops it
	}
	tried := 0
	for _, d := range due {
		if ctx.Err() != nil {
			break
		}
		_, _, _ = m.flight.Do(ctx, d, func(wctx context.Context) (Result, bool, error) {
			if !m.track() {
				return m.fallback(d, mtasts.ReasonPolicyFetchFailed, errClosed.Error()), false, nil
			}
			defer m.wg.Done()
			wctx, cancel := context.WithCancel(wctx)
			defer cancel()
			stop := context.AfterFunc(m.ctx, cancel)
			defer stop()
			return m.resolve(wctx, d, true), false, nil
		})
		tried++
	}
	return tried
}

func (m *Manager) refresher() {
	defer m.wg.Done()
	t := time.NewTicker(m.cfg.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
			m.RefreshDue(m.ctx)
		}
	}
}

func securityName(s Security) string {
	switch s {
	case Secure:
		return "secure"
	case Insecure:
		return "insecure"
	case Bogus:
		return "bogus"
	case Indeterminate:
		return "indeterminate"
	}
	return "unknown"
}
