// Package reporter turns the TLS-RPT counts of finished periods into
// reports and delivers them (RFC 8460 §4, §5): after each period ends,
// with a random delay so that a fleet of senders does not post at once,
// it takes the period's counts out of the aggregation, makes one report
// per policy domain, finds the domain's rua addresses (the TXT record at
// _smtp._tls), and hands the report to a Sender for each address,
// retrying with backoff for up to a day.
//
// Every step is committed to the state store before the next, so that a
// restart neither loses a report nor makes a second one: a report is
// made once, with its report-id, from counts removed in the same
// transaction, and each (period, policy domain, rua) is delivered until
// it succeeds once, with the same report-id on every attempt.
//
// With a Fleet (the store daned replicas share, --redis) the replicas
// report as one: each hands in its counts, one replica per period,
// chosen by a lease, merges them into one report per policy domain, and
// a replica that could not take part reports its own counts alone rather
// than lose them (fleet.go).
//
// It does not count sessions (tlsrpt.Aggregator) or speak HTTP or SMTP
// (the Sender, package tlsrpt/deliver).
package reporter

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/daned/daned/state"
	"github.com/daned/daned/tlsrpt"
)

// Sender delivers one report to one rua address.
type Sender interface {
	Send(ctx context.Context, rua string, r state.TLSRPTReport) error
	// Permanent reports whether a Send error will not go away by
	// retrying (a refused address, a bad URI).
	Permanent(err error) bool
}

// TXTLookuper returns the TXT records at name, each record's strings
// joined; none (and no error) when the name or the records do not exist.
// An error is a failure to find out, retried later.
type TXTLookuper interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Metrics records reports.
type Metrics interface {
	// Report records one report's fate: "sent", "failed" (a permanent
	// error or retries exhausted), "retry", "no_record" (the domain
	// publishes no usable TLSRPT record), "made" or "skipped" (no
	// failure, with FailuresOnly); and, with a Fleet, "alone" once per
	// period this replica reported by itself.
	Report(outcome string)
}

// Config configures a Reporter. Zero values are the documented defaults.
type Config struct {
	Aggregator *tlsrpt.Aggregator // required
	Store      *state.Store       // required: reports are durable
	Sender     Sender             // required
	TXT        TXTLookuper        // required
	// Organization, Contact and Submitter fill the report's
	// organization-name and contact-info, and name the submitter in
	// mail reports. Required.
	Organization, Contact, Submitter string
	// FailuresOnly makes reports only for policy domains with a failed
	// session in the period.
	FailuresOnly bool
	// Grace is waited after a period ends before it is reported, for
	// sessions still on their way; 0 means 2m, or a tenth of the period
	// if that is less.
	Grace time.Duration
	// MaxDelay bounds the random delay added to Grace; 0 means 1h, or a
	// quarter of the period if that is less.
	MaxDelay time.Duration
	// RetryFor is how long a report is retried (RFC 8460 §5.3); 0 means
	// 24h. Backoff starts at a minute and doubles to an hour.
	RetryFor time.Duration
	// Keep is how long a finished report is kept for inspection; 0
	// means 7 days.
	Keep time.Duration
	// Timeout bounds one lookup or delivery; 0 means 2m.
	Timeout time.Duration
	Now     func() time.Time // nil means time.Now
	// Jitter returns a random duration in [0, n); nil means math/rand.
	Jitter  func(n time.Duration) time.Duration
	Metrics Metrics
	Logger  *slog.Logger

	// Fleet is the store the replicas of a fleet report through; nil:
	// this daned reports alone.
	Fleet Fleet
	// Replica names this daned in Fleet (state.Store.ReplicaID);
	// required with Fleet.
	Replica string
	// PublishEvery is how often the counts are handed to Fleet while a
	// period runs; 0 means 10s.
	PublishEvery time.Duration
	// FinalWait bounds how long, after the cut, the period's reporter
	// waits for every replica's final counts; 0 means 10m.
	FinalWait time.Duration
	// AloneAfter is how long after its end a period the fleet has not
	// reported (the shared store unreachable) is reported from this
	// replica's counts alone; 0 means 6h.
	AloneAfter time.Duration
	// LeaseTTL is how long a period's reporter lease lasts unless
	// renewed; 0 means 1m.
	LeaseTTL time.Duration
	// FleetKeep is how long after a period's end its keys stay in the
	// shared store; 0 means 3 days.
	FleetKeep time.Duration
}

// Reporter makes and delivers reports. It is safe for concurrent use.
type Reporter struct {
	cfg   Config
	log   *slog.Logger
	mu    sync.Mutex // one Tick or SendNow at a time
	due   map[time.Time]time.Time
	cutTo time.Time // the boundary before which everything was reported, as far as this process knows
	kick  chan struct{}

	fleet fleetState
}

// New checks cfg and returns a Reporter.
func New(cfg Config) (*Reporter, error) {
	switch {
	case cfg.Aggregator == nil || cfg.Store == nil || cfg.Sender == nil || cfg.TXT == nil:
		return nil, errors.New("reporter: an aggregator, a state store, a sender and a TXT lookup are required")
	case cfg.Organization == "" || cfg.Contact == "" || cfg.Submitter == "":
		return nil, errors.New("reporter: the organization name, contact and submitter are required (--tlsrpt-org, --tlsrpt-contact, --tlsrpt-submitter)")
	case cfg.Fleet != nil && cfg.Replica == "":
		return nil, errors.New("reporter: a fleet needs the replica's id")
	}
	period := cfg.Aggregator.Period()
	if cfg.Grace <= 0 {
		cfg.Grace = min(2*time.Minute, period/10)
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = min(time.Hour, period/4)
	}
	if cfg.RetryFor <= 0 {
		cfg.RetryFor = 24 * time.Hour
	}
	if cfg.Keep <= 0 {
		cfg.Keep = 7 * 24 * time.Hour
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Jitter == nil {
		cfg.Jitter = func(n time.Duration) time.Duration { return time.Duration(rand.Int64N(int64(n))) }
	}
	if cfg.Metrics == nil {
		cfg.Metrics = noMetrics{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PublishEvery <= 0 {
		cfg.PublishEvery = 10 * time.Second
	}
	if cfg.FinalWait <= 0 {
		cfg.FinalWait = 10 * time.Minute
	}
	if cfg.AloneAfter <= 0 {
		cfg.AloneAfter = 6 * time.Hour
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = time.Minute
	}
	if cfg.FleetKeep <= 0 {
		cfg.FleetKeep = 3 * 24 * time.Hour
	}
	return &Reporter{cfg: cfg, log: cfg.Logger, due: map[time.Time]time.Time{}, kick: make(chan struct{}, 1),
		fleet: fleetState{pending: map[time.Time]*fleetPeriod{}}}, nil
}

// Run reports until ctx ends: it does what is due (Tick) and sleeps until
// the next thing is.
func (r *Reporter) Run(ctx context.Context) {
	for {
		next := r.Tick(ctx)
		t := time.NewTimer(max(time.Until(next), 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-r.kick:
			t.Stop()
		}
	}
}

// Tick does what is due now: it reports the periods that ended (after
// their delay) and attempts the deliveries whose time has come. It
// returns when something is next due.
func (r *Reporter) Tick(ctx context.Context) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cfg.Fleet != nil {
		return r.tickFleet(ctx)
	}
	now := r.cfg.Now()
	period := r.cfg.Aggregator.Period()
	boundary := now.UTC().Truncate(period) // every range before it has ended
	due, ok := r.due[boundary]
	if !ok {
		due = boundary.Add(r.cfg.Grace + r.cfg.Jitter(r.cfg.MaxDelay))
		for b := range r.due {
			if b.Before(boundary) {
				delete(r.due, b)
			}
		}
		r.due[boundary] = due
	}
	next := due
	switch {
	case boundary.Compare(r.cutTo) <= 0: // reported: wait for the next boundary
		nb := boundary.Add(period)
		if next, ok = r.due[nb]; !ok {
			next = nb.Add(r.cfg.Grace + r.cfg.Jitter(r.cfg.MaxDelay))
			r.due[nb] = next
		}
	case !now.Before(due):
		if _, err := r.cut(boundary); err != nil {
			r.log.Error("tlsrpt: making reports failed; retrying in a minute", slog.Any("error", err))
			next = now.Add(time.Minute)
		} else {
			r.cutTo = boundary
			nb := boundary.Add(period)
			next = nb.Add(r.cfg.Grace + r.cfg.Jitter(r.cfg.MaxDelay))
			r.due[nb] = next
		}
	}
	if at, err := r.deliver(ctx, false, nil); err != nil {
		r.log.Error("tlsrpt: reading reports failed", slog.Any("error", err))
	} else if !at.IsZero() && at.Before(next) {
		next = at
	}
	return next
}

// Sent is one delivery attempt's outcome.
type Sent struct {
	PolicyDomain, RUA, ReportID string
	OK                          bool
	Error                       string
}

// SendNow reports the periods that ended, and the current one too when
// includeCurrent is set (up to now: later sessions of the period go in a
// report of their own), then attempts every undelivered report at once.
func (r *Reporter) SendNow(ctx context.Context, includeCurrent bool) ([]Sent, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now().UTC()
	until := now.Truncate(r.cfg.Aggregator.Period())
	if r.cfg.Fleet != nil {
		if includeCurrent {
			return nil, errors.New("reporter: a fleet reports whole periods: the current one cannot be reported early")
		}
		r.fleetNow(ctx, until)
		var sent []Sent
		_, err := r.deliver(ctx, true, &sent)
		select {
		case r.kick <- struct{}{}:
		default:
		}
		return sent, err
	}
	if includeCurrent {
		until = now
	}
	if _, err := r.cut(until); err != nil {
		return nil, err
	}
	if until.After(r.cutTo) {
		r.cutTo = until
	}
	var sent []Sent
	_, err := r.deliver(ctx, true, &sent)
	select {
	case r.kick <- struct{}{}: // Run recomputes its next wake-up
	default:
	}
	return sent, err
}

// cut makes the reports of every range before t.
func (r *Reporter) cut(t time.Time) (int, error) {
	cl, err := r.cfg.Aggregator.Cut(t)
	if err != nil {
		return 0, err
	}
	if len(cl.Keys) == 0 {
		return 0, nil
	}
	reports, err := r.makeReports(cl.Counts, r.cfg.Now())
	if err != nil {
		return 0, err
	}
	if err := r.cfg.Aggregator.Commit(cl, reports); err != nil {
		return 0, err
	}
	for range reports {
		r.cfg.Metrics.Report("made")
	}
	return len(reports), nil
}

// makeReports makes the reports of counts, first attempted at first.
func (r *Reporter) makeReports(counts []tlsrpt.Counts, first time.Time) ([]state.TLSRPTReport, error) {
	var reports []state.TLSRPTReport
	for _, c := range counts {
		if r.cfg.FailuresOnly && !c.Failures() {
			r.cfg.Metrics.Report("skipped")
			continue
		}
		id, err := reportID(c)
		if err != nil {
			return nil, err
		}
		rep := tlsrpt.Report{OrganizationName: r.cfg.Organization, DateRange: tlsrpt.DateRange{Start: c.Start, End: lastSecond(c)},
			ContactInfo: r.cfg.Contact, ReportID: id, Policies: c.Policies}
		gz, err := rep.Gzip()
		if err != nil {
			return nil, err
		}
		reports = append(reports, state.TLSRPTReport{Key: key(c.Start, c.PolicyDomain, ""), PolicyDomain: c.PolicyDomain,
			ReportID: id, Begin: c.Start, End: lastSecond(c), Gzip: gz, Failures: c.Failures(), NextAttempt: first, GiveUp: first.Add(r.cfg.RetryFor)})
	}
	return reports, nil
}

// lastSecond is a range's end-datetime as RFC 8460 §4.4's example gives
// it: the last second the range covers (a day ends at 23:59:59Z).
func lastSecond(c tlsrpt.Counts) time.Time {
	if end := c.End.Add(-time.Second); end.After(c.Start) {
		return end
	}
	return c.End
}

// key identifies a report: a pending one (rua "") finds its addresses,
// then becomes one report per address.
func key(start time.Time, domain, rua string) string {
	return start.UTC().Format(time.RFC3339) + "|" + domain + "|" + rua
}

// reportID is a report's unique id (RFC 8460 §4.4): the range, the
// policy domain and 96 random bits.
func reportID(c tlsrpt.Counts) (string, error) {
	var b [12]byte
	if _, err := crand.Read(b[:]); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s_%s_%x", c.Start.UTC().Format("20060102T150405Z"), c.PolicyDomain, b), nil
}

// deliver attempts the undelivered reports that are due (all of them
// when force is set), recording each outcome in sent when it is not nil.
// It returns when the next attempt is due (zero if none).
func (r *Reporter) deliver(ctx context.Context, force bool, sent *[]Sent) (time.Time, error) {
	reports, err := r.cfg.Store.TLSRPTReports()
	if err != nil && len(reports) == 0 {
		return time.Time{}, err
	}
	var next time.Time
	later := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	// Pending reports first: they become per-address reports, attempted
	// in this same round.
	slices.SortStableFunc(reports, func(a, b state.TLSRPTReport) int {
		return boolInt(a.RUA != "") - boolInt(b.RUA != "")
	})
	for i := 0; i < len(reports); i++ {
		rep := reports[i]
		now := r.cfg.Now()
		if rep.Done {
			if now.Sub(rep.Sent) > r.cfg.Keep {
				_ = r.cfg.Store.DeleteTLSRPTReport(rep.Key)
			}
			continue
		}
		if !force && now.Before(rep.NextAttempt) {
			later(rep.NextAttempt)
			continue
		}
		if rep.RUA == "" {
			expanded, err := r.discover(ctx, rep)
			if err != nil {
				r.retry(&rep, err, sent)
				if !rep.Done {
					later(rep.NextAttempt)
				}
				continue
			}
			reports = append(reports, expanded...)
			continue
		}
		r.send(ctx, &rep, sent)
		if !rep.Done {
			later(rep.NextAttempt)
		}
	}
	return next, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// discover finds a pending report's addresses and replaces it with one
// report per address. A domain without a usable record gets no report.
func (r *Reporter) discover(ctx context.Context, rep state.TLSRPTReport) ([]state.TLSRPTReport, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	txts, err := r.cfg.TXT.LookupTXT(ctx, tlsrpt.RecordName(rep.PolicyDomain))
	if err != nil {
		return nil, fmt.Errorf("looking up %s: %w", tlsrpt.RecordName(rep.PolicyDomain), err)
	}
	rec, perr := tlsrpt.ParseRecord(txts)
	for _, s := range rec.Skipped {
		r.log.Warn("tlsrpt: unusable rua skipped", slog.String("policy_domain", rep.PolicyDomain), slog.String("reason", s))
	}
	if perr != nil {
		r.log.Info("tlsrpt: no report sent: the policy domain publishes no usable TLSRPT record",
			slog.String("policy_domain", rep.PolicyDomain), slog.String("report_id", rep.ReportID), slog.Any("reason", perr))
		r.cfg.Metrics.Report("no_record")
		rep.Done, rep.LastError, rep.Sent = true, perr.Error(), r.cfg.Now()
		return nil, r.cfg.Store.PutTLSRPTReport(rep)
	}
	var out []state.TLSRPTReport
	for _, u := range rec.RUA {
		x := rep
		x.Key, x.RUA = key(rep.Begin, rep.PolicyDomain, u), u
		out = append(out, x)
	}
	return out, r.cfg.Store.ReplaceTLSRPTReport(rep.Key, out)
}

// send attempts one delivery and records its outcome.
func (r *Reporter) send(ctx context.Context, rep *state.TLSRPTReport, sent *[]Sent) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	rep.Attempts++
	err := r.cfg.Sender.Send(ctx, rep.RUA, *rep)
	if err != nil {
		if r.cfg.Sender.Permanent(err) {
			rep.NextAttempt = rep.GiveUp // no more attempts
		}
		r.retry(rep, err, sent)
		return
	}
	rep.Done, rep.Sent, rep.LastError = true, r.cfg.Now(), ""
	r.cfg.Metrics.Report("sent")
	r.log.Info("tlsrpt: report sent", slog.String("policy_domain", rep.PolicyDomain), slog.String("rua", rep.RUA),
		slog.String("report_id", rep.ReportID), slog.Int("attempts", rep.Attempts))
	if err := r.cfg.Store.PutTLSRPTReport(*rep); err != nil {
		r.log.Error("tlsrpt: recording a sent report failed: it may be sent again", slog.Any("error", err))
	}
	if sent != nil {
		*sent = append(*sent, Sent{PolicyDomain: rep.PolicyDomain, RUA: rep.RUA, ReportID: rep.ReportID, OK: true})
	}
}

// retry records a failed attempt: the next is after a backoff, unless
// the report's retry time is over.
func (r *Reporter) retry(rep *state.TLSRPTReport, err error, sent *[]Sent) {
	now := r.cfg.Now()
	if rep.RUA == "" {
		rep.Attempts++
	}
	backoff := time.Minute << min(rep.Attempts-1, 6)
	if next := now.Add(min(backoff, time.Hour)); next.After(rep.NextAttempt) {
		rep.NextAttempt = next
	}
	rep.LastError = err.Error()
	if !rep.NextAttempt.Before(rep.GiveUp) {
		rep.Done, rep.Sent = true, now
		r.cfg.Metrics.Report("failed")
		r.log.Warn("tlsrpt: report not delivered; giving up", slog.String("policy_domain", rep.PolicyDomain),
			slog.String("rua", rep.RUA), slog.String("report_id", rep.ReportID), slog.Int("attempts", rep.Attempts), slog.Any("error", err))
	} else {
		r.cfg.Metrics.Report("retry")
		r.log.Warn("tlsrpt: report not delivered; will retry", slog.String("policy_domain", rep.PolicyDomain),
			slog.String("rua", rep.RUA), slog.String("report_id", rep.ReportID), slog.Time("next", rep.NextAttempt), slog.Any("error", err))
	}
	if perr := r.cfg.Store.PutTLSRPTReport(*rep); perr != nil {
		r.log.Error("tlsrpt: recording a report's attempt failed", slog.Any("error", perr))
	}
	if sent != nil {
		*sent = append(*sent, Sent{PolicyDomain: rep.PolicyDomain, RUA: rep.RUA, ReportID: rep.ReportID, Error: err.Error()})
	}
}

type noMetrics struct{}

func (noMetrics) Report(string) {}
