package reporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/daned/daned/state"
	"github.com/daned/daned/tlsrpt"
)

// Fleet is the store through which the replicas of a fleet report as
// one: each period's counts by replica, a lease that elects the period's
// reporter, and a done marker. Everything in it is authenticated: what
// another replica did not write is left out (and counted) by the
// implementation. Every method is bounded by its own deadline; an error
// means the store could not answer.
type Fleet interface {
	// Publish replaces replica's shares of the period that starts at
	// start and registers the replica for the period. final is the
	// Digest of the shares when they are the replica's last for the
	// period, "" while it still counts. What it writes expires at
	// expires.
	Publish(ctx context.Context, start time.Time, replica string, shares tlsrpt.Shares, final string, expires time.Time) error
	// Replicas returns the replicas registered for the period, each with
	// the digest of its final shares ("" while it still counts).
	Replicas(ctx context.Context, start time.Time) (map[string]string, error)
	// Shares returns the period's shares by replica, and how many
	// entries of each replica were rejected (forged or corrupt).
	Shares(ctx context.Context, start time.Time) (map[string]tlsrpt.Shares, map[string]int, error)
	// Lease takes the period's reporter lease for replica, or renews it
	// when replica holds it, for ttl; false when another replica holds
	// it.
	Lease(ctx context.Context, start time.Time, replica string, ttl time.Duration) (bool, error)
	// Release ends replica's lease of the period, if it holds it.
	Release(ctx context.Context, start time.Time, replica string) error
	// Done returns the period's done marker; nil when the period has not
	// been reported.
	Done(ctx context.Context, start time.Time) ([]byte, error)
	// SetDone writes the period's done marker, which expires at expires.
	SetDone(ctx context.Context, start time.Time, marker []byte, expires time.Time) error
}

// A fleet reports a period so (docs/TLSRPT.md, "Several replicas"):
//
//  1. While the period runs, each replica hands in its counts every
//     PublishEvery: whole counts that replace the previous ones.
//  2. Grace after the period ends, each replica cuts it, as alone, and
//     hands in its final counts with their digest. They stay in its own
//     store until the period is reported.
//  3. One replica takes the period's lease. It waits, at most FinalWait
//     after the cut, for every registered replica's final counts, merges
//     the final counts whose digest matches (its own from its own store),
//     stores the reports, removes its own counts and keeps a copy of the
//     done marker in one transaction, writes the done marker naming each
//     replica it merged with its digest, and delivers the reports as
//     alone, after the usual random delay. If it dies before making the
//     reports, the lease runs out and another replica takes over; if it
//     dies after, it writes the kept marker when it is back.
//  4. A replica that finds the done marker removes its counts when the
//     marker names its digest, and reports them alone when it does not
//     (its counts came too late, or were tampered with).
//  5. A replica that cannot finish a period through the store AloneAfter
//     after its end reports its own counts alone: two reports for one
//     domain and period are better than none.

// fleetState is what a fleet replica knows of the periods it has cut and
// not finished.
type fleetState struct {
	loaded      bool // the notes of reports made and not yet marked done were read
	pending     map[time.Time]*fleetPeriod
	published   uint64 // sessions counted when the counts were last handed in
	handedIn    bool   // the last hand-in succeeded
	publishNext time.Time
}

// fleetPeriod is one period this replica cut: its own counts, kept in its
// store until the period is reported.
type fleetPeriod struct {
	start, end time.Time
	cl         tlsrpt.Closed
	shares     tlsrpt.Shares
	digest     string
	final      bool      // the final shares were handed in
	marker     []byte    // as leader: reports made, marker still to write
	stuck      bool      // the last step failed: the store did not answer
	retryAt    time.Time // when a stuck step is tried again
	recovered  time.Time // when the store answered again after a failure
}

// stuckRetry is how soon a step the store did not let finish is tried
// again; a reporter that finds the store back after an outage waits
// settle for the other replicas, which may not have handed in since.
const (
	stuckRetry = time.Minute
	settle     = 2 * stuckRetry
)

// marker is the done marker: every replica whose counts a period's
// reports hold, with the digest of those counts.
type marker struct {
	Replicas map[string]string `json:"replicas"`
}

// tickFleet is Tick with a fleet.
func (r *Reporter) tickFleet(ctx context.Context) time.Time {
	now := r.cfg.Now()
	period := r.cfg.Aggregator.Period()
	var next time.Time
	later := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if !r.fleet.loaded {
		r.loadNotes()
	}
	boundary := now.UTC().Truncate(period)
	switch due := boundary.Add(r.cfg.Grace); {
	case boundary.Compare(r.cutTo) <= 0:
		later(boundary.Add(period + r.cfg.Grace))
	case now.Before(due):
		later(due)
	default:
		if err := r.cutFleet(boundary); err != nil {
			r.log.Error("tlsrpt: cutting the period failed; retrying in a minute", slog.Any("error", err))
			later(now.Add(time.Minute))
		} else {
			later(boundary.Add(period + r.cfg.Grace))
		}
	}
	// After the cut: a restarted replica's counts of an ended period are
	// handed in as final, not as running.
	later(r.handIn(ctx, now))
	for _, start := range r.pendingStarts() {
		if p := r.fleet.pending[start]; p.stuck && now.Before(p.retryAt) {
			later(p.retryAt)
		} else {
			later(r.step(ctx, p, now))
		}
	}
	if at, err := r.deliver(ctx, false, nil); err != nil {
		r.log.Error("tlsrpt: reading reports failed", slog.Any("error", err))
	} else {
		later(at)
	}
	return next
}

// fleetNow cuts the periods that ended before until at once and takes
// one step with each (SendNow).
func (r *Reporter) fleetNow(ctx context.Context, until time.Time) {
	now := r.cfg.Now()
	if until.After(r.cutTo) {
		if err := r.cutFleet(until); err != nil {
			r.log.Error("tlsrpt: cutting the period failed", slog.Any("error", err))
		}
	}
	for _, start := range r.pendingStarts() {
		r.step(ctx, r.fleet.pending[start], now)
	}
}

// pendingStarts returns the starts of the pending periods, oldest first.
func (r *Reporter) pendingStarts() []time.Time {
	return slices.SortedFunc(maps.Keys(r.fleet.pending), time.Time.Compare)
}

// handIn hands in the counts of the periods still running, when they
// changed; it returns when it is next due.
func (r *Reporter) handIn(ctx context.Context, now time.Time) time.Time {
	if now.Before(r.fleet.publishNext) {
		return r.fleet.publishNext
	}
	r.fleet.publishNext = now.Add(r.cfg.PublishEvery)
	open, counted, err := r.cfg.Aggregator.Open()
	if err != nil {
		r.log.Error("tlsrpt: encoding counts failed", slog.Any("error", err))
		return r.fleet.publishNext
	}
	if r.fleet.handedIn && counted == r.fleet.published {
		return r.fleet.publishNext
	}
	period := r.cfg.Aggregator.Period()
	ok := true
	for start, shares := range open {
		if err := r.cfg.Fleet.Publish(ctx, start, r.cfg.Replica, shares, "", start.Add(period+r.cfg.FleetKeep)); err != nil {
			if r.fleet.handedIn || r.fleet.published == 0 {
				r.log.Warn("tlsrpt: handing in the counts failed; they stay here and are handed in later", slog.Any("error", err))
			}
			ok = false
			break
		}
	}
	r.fleet.handedIn, r.fleet.published = ok, counted
	return r.fleet.publishNext
}

// cutFleet ends counting before boundary and makes a pending period of
// each range cut, and of the period that just ended even without counts
// of this replica: any replica may report it.
func (r *Reporter) cutFleet(boundary time.Time) error {
	cl, err := r.cfg.Aggregator.Cut(boundary)
	if err != nil {
		return err
	}
	r.cutTo = boundary
	starts := cl.Starts()
	if last := boundary.Add(-r.cfg.Aggregator.Period()); !slices.ContainsFunc(starts, last.Equal) {
		starts = append(starts, last)
	}
	for _, start := range starts {
		start = start.UTC().Round(0)
		if r.fleet.pending[start] != nil {
			continue
		}
		part := cl.Range(start)
		shares, err := part.Shares(start)
		if err != nil {
			return err
		}
		end := part.End()
		if end.IsZero() {
			end = start.Add(r.cfg.Aggregator.Period())
		}
		p := &fleetPeriod{start: start, end: end, cl: part, shares: shares}
		if len(shares) > 0 {
			p.digest = shares.Digest()
		}
		r.fleet.pending[start] = p
	}
	return nil
}

// step takes a pending period as far as it can go now; it returns when
// to try again (zero once the period is finished).
func (r *Reporter) step(ctx context.Context, p *fleetPeriod, now time.Time) time.Time {
	fl := r.cfg.Fleet
	expires := p.end.Add(r.cfg.FleetKeep)
	if p.marker != nil {
		return r.markDone(ctx, p, now)
	}
	if p.stuck {
		p.stuck, p.recovered = false, now // until this step fails too
	}
	if !p.final {
		if len(p.shares) > 0 {
			if err := fl.Publish(ctx, p.start, r.cfg.Replica, p.shares, p.digest, expires); err != nil {
				return r.stuck(p, now, fmt.Errorf("handing in the final counts: %w", err))
			}
		}
		p.final = true
	}
	done, err := fl.Done(ctx, p.start)
	if err != nil {
		return r.stuck(p, now, fmt.Errorf("reading the done marker: %w", err))
	}
	if done != nil {
		r.finish(p, done)
		return time.Time{}
	}
	held, err := fl.Lease(ctx, p.start, r.cfg.Replica, r.cfg.LeaseTTL)
	if err != nil {
		return r.stuck(p, now, fmt.Errorf("taking the reporter lease: %w", err))
	}
	if !held {
		// Another replica reports; if it never does, this one reports
		// alone in the end.
		if t := r.aloneAt(p); !now.Before(t) {
			r.alone(p, "the period's reporter did not finish")
			return time.Time{}
		}
		return now.Add(r.poll())
	}
	return r.lead(ctx, p, now)
}

// poll is how often a waiting replica looks again.
func (r *Reporter) poll() time.Duration { return max(r.cfg.LeaseTTL/4, time.Second) }

func (r *Reporter) aloneAt(p *fleetPeriod) time.Time { return p.end.Add(r.cfg.AloneAfter) }

// stuck handles a step that the store did not let finish: retried in a
// minute, or, AloneAfter after the period, reported alone.
func (r *Reporter) stuck(p *fleetPeriod, now time.Time, err error) time.Time {
	if !now.Before(r.aloneAt(p)) {
		r.alone(p, err.Error())
		return time.Time{}
	}
	p.stuck, p.recovered, p.retryAt = true, time.Time{}, now.Add(stuckRetry)
	r.log.Warn("tlsrpt: the shared store did not answer; the period's counts are kept and the step retried",
		slog.Time("period", p.start), slog.Any("error", err))
	return now.Add(stuckRetry)
}

// lead reports the period for the fleet, holding its lease.
func (r *Reporter) lead(ctx context.Context, p *fleetPeriod, now time.Time) time.Time {
	fl := r.cfg.Fleet
	regs, err := fl.Replicas(ctx, p.start)
	if err != nil {
		return r.stuck(p, now, fmt.Errorf("reading the period's replicas: %w", err))
	}
	waiting := 0
	for id, digest := range regs {
		if id != r.cfg.Replica && digest == "" {
			waiting++
		}
	}
	from := maxTime(p.end.Add(r.cfg.Grace), p.recovered)
	if waiting > 0 && now.Before(from.Add(r.cfg.FinalWait)) {
		return now.Add(r.poll())
	}
	if !p.recovered.IsZero() && now.Before(p.recovered.Add(settle)) {
		// After an outage, what the others handed in may be lost, and
		// they hand in again only on their next attempt.
		return p.recovered.Add(settle)
	}
	byReplica, rejected, err := fl.Shares(ctx, p.start)
	if err != nil {
		return r.stuck(p, now, fmt.Errorf("reading the period's counts: %w", err))
	}
	included := map[string]string{}
	var inputs []tlsrpt.Shares
	if len(p.shares) > 0 {
		included[r.cfg.Replica] = p.digest
		inputs = append(inputs, p.shares)
	}
	for _, id := range slices.Sorted(maps.Keys(regs)) {
		digest := regs[id]
		shares := byReplica[id]
		var why string
		switch {
		case id == r.cfg.Replica:
			continue
		case digest == "":
			why = "its final counts did not come in time"
		case rejected[id] > 0:
			why = fmt.Sprintf("%d of its entries were rejected (forged or corrupt)", rejected[id])
		case shares.Digest() != digest:
			why = "its counts do not match their digest"
		default:
			if _, err := r.cfg.Aggregator.Merge(p.start, shares); err != nil {
				why = err.Error()
			}
		}
		if why != "" {
			r.log.Warn("tlsrpt: a replica's counts are left out of the fleet's reports; it reports them itself",
				slog.String("replica", id), slog.Time("period", p.start), slog.String("reason", why))
			continue
		}
		included[id] = digest
		inputs = append(inputs, shares)
	}
	counts, err := r.cfg.Aggregator.Merge(p.start, inputs...)
	if err != nil {
		return r.stuck(p, now, err)
	}
	// The usual random delay spreads a fleet of senders' reports.
	reports, err := r.makeReports(counts, maxTime(now, p.end.Add(r.cfg.Grace+r.cfg.Jitter(r.cfg.MaxDelay))))
	if err != nil {
		return r.stuck(p, now, err)
	}
	done, err := json.Marshal(marker{Replicas: included})
	if err != nil {
		return r.stuck(p, now, err)
	}
	cl := p.cl
	cl.Before = r.cutTo
	// The marker is kept with the reports until the others have it: a
	// restart before then writes it, and does not report again.
	if err := r.cfg.Aggregator.Commit(cl, reports, state.TLSRPTNote{Key: noteKey(p.start), Value: done}); err != nil {
		return r.stuck(p, now, err)
	}
	p.marker = done
	for range reports {
		r.cfg.Metrics.Report("made")
	}
	r.log.Info("tlsrpt: the fleet's reports of the period are made", slog.Time("period", p.start),
		slog.Int("reports", len(reports)), slog.Int("replicas", len(included)))
	return r.markDone(ctx, p, now)
}

// markDone writes the done marker of a period whose reports are made,
// and ends the lease. Until it succeeds, the other replicas wait: should
// this replica stop first, the lease runs out and another reports the
// period again.
func (r *Reporter) markDone(ctx context.Context, p *fleetPeriod, now time.Time) time.Time {
	if err := r.cfg.Fleet.SetDone(ctx, p.start, p.marker, p.end.Add(r.cfg.FleetKeep)); err != nil {
		r.log.Warn("tlsrpt: writing the done marker failed; retrying", slog.Time("period", p.start), slog.Any("error", err))
		_, _ = r.cfg.Fleet.Lease(ctx, p.start, r.cfg.Replica, r.cfg.LeaseTTL) // keep it meanwhile, if the store lets us
		return now.Add(r.poll())
	}
	if err := r.cfg.Store.DeleteTLSRPTNote(noteKey(p.start)); err != nil {
		r.log.Error("tlsrpt: removing a done marker's note failed", slog.Any("error", err))
	}
	if err := r.cfg.Fleet.Release(ctx, p.start, r.cfg.Replica); err != nil {
		r.log.Info("tlsrpt: ending the reporter lease failed; it runs out by itself", slog.Any("error", err))
	}
	delete(r.fleet.pending, p.start)
	return time.Time{}
}

// noteKey names the note of a period's done marker in the state store.
func noteKey(start time.Time) string { return "done/" + start.UTC().Format(time.RFC3339) }

// loadNotes makes a pending period of every done marker this replica
// stored with its reports and did not write to the store before it
// stopped.
func (r *Reporter) loadNotes() {
	notes, err := r.cfg.Store.TLSRPTNotes()
	if err != nil {
		r.log.Error("tlsrpt: reading the done markers to write failed; retrying", slog.Any("error", err))
		return
	}
	r.fleet.loaded = true
	for k, v := range notes {
		ts, ok := strings.CutPrefix(k, "done/")
		start, err := time.Parse(time.RFC3339, ts)
		if !ok || err != nil {
			continue
		}
		start = start.UTC()
		r.fleet.pending[start] = &fleetPeriod{start: start, end: start.Add(r.cfg.Aggregator.Period()), final: true, marker: v}
	}
}

// finish ends a period another replica reported: this replica's counts
// are removed when the reports hold them, else reported alone.
func (r *Reporter) finish(p *fleetPeriod, done []byte) {
	var m marker
	if err := json.Unmarshal(done, &m); err != nil {
		r.log.Warn("tlsrpt: unreadable done marker", slog.Time("period", p.start), slog.Any("error", err))
	}
	if len(p.shares) == 0 {
		delete(r.fleet.pending, p.start)
		return
	}
	if m.Replicas[r.cfg.Replica] != p.digest {
		r.alone(p, "the fleet's reports do not hold this replica's counts")
		return
	}
	cl := p.cl
	cl.Before = r.cutTo
	if err := r.cfg.Aggregator.Commit(cl, nil); err != nil {
		r.log.Error("tlsrpt: removing reported counts failed; retrying", slog.Any("error", err))
		return
	}
	delete(r.fleet.pending, p.start)
}

// alone reports this replica's counts of the period by themselves.
func (r *Reporter) alone(p *fleetPeriod, why string) {
	if len(p.shares) == 0 {
		delete(r.fleet.pending, p.start)
		return
	}
	reports, err := r.makeReports(p.cl.Counts, r.cfg.Now())
	if err == nil {
		cl := p.cl
		cl.Before = r.cutTo
		err = r.cfg.Aggregator.Commit(cl, reports)
	}
	if err != nil {
		r.log.Error("tlsrpt: making reports failed; retrying", slog.Any("error", err))
		return
	}
	for range reports {
		r.cfg.Metrics.Report("made")
	}
	r.cfg.Metrics.Report("alone")
	r.log.Warn("tlsrpt: this replica reports its counts of the period alone", slog.Time("period", p.start),
		slog.Int("reports", len(reports)), slog.String("reason", why))
	delete(r.fleet.pending, p.start)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// FleetLive returns the counts not yet reported of a policy domain and
// those under it, summed over the fleet: this replica's as they are now,
// the others' as they last handed them in (every PublishEvery). Without
// a Fleet, or when the store cannot answer, it returns an error; the
// caller then shows this replica's counts (Aggregator.Live).
func (r *Reporter) FleetLive(ctx context.Context, domain string) ([]tlsrpt.Counts, error) {
	if r.cfg.Fleet == nil {
		return nil, errors.New("reporter: no fleet")
	}
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	match := func(pk string) bool {
		d, _, _ := strings.Cut(pk, "|")
		return d == domain || strings.HasSuffix(d, "."+domain)
	}
	open, _, err := r.cfg.Aggregator.Open()
	if err != nil {
		return nil, err
	}
	cur := r.cfg.Now().UTC().Truncate(r.cfg.Aggregator.Period())
	if open[cur] == nil {
		open[cur] = tlsrpt.Shares{}
	}
	var out []tlsrpt.Counts
	for _, start := range slices.SortedFunc(maps.Keys(open), time.Time.Compare) {
		inputs := []tlsrpt.Shares{filter(open[start], match)}
		others, _, err := r.cfg.Fleet.Shares(ctx, start)
		if err != nil {
			return nil, err
		}
		for id, sh := range others {
			if id != r.cfg.Replica {
				inputs = append(inputs, filter(sh, match))
			}
		}
		counts, err := r.cfg.Aggregator.Merge(start, inputs...)
		if err != nil {
			return nil, err
		}
		out = append(out, counts...)
	}
	return out, nil
}

func filter(s tlsrpt.Shares, keep func(string) bool) tlsrpt.Shares {
	out := tlsrpt.Shares{}
	for k, v := range s {
		if keep(k) {
			out[k] = v
		}
	}
	return out
}
