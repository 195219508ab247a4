package telemetry

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/daned/daned/shared"
)

// ObserveShared exports the counters of the store the replicas share
// (package shared), read at each collection:
//
//	dane_shared_up                            1 while the last Redis call succeeded
//	dane_shared_subscribed                    1 while listening for invalidations
//	dane_shared_lookups_total{result}         hit, miss
//	dane_shared_writes_total                  entries stored
//	dane_shared_errors_total{op}              failed calls: get, put, lease, wait, release, delete, publish, subscribe
//	dane_shared_skipped_total                 calls not made while backing off after a failure
//	dane_shared_rejected_total{reason}        entries and invalidations refused: forged, malformed, expired
//	dane_shared_leases_total{outcome}         acquired, waited, taken_over
//	dane_shared_invalidations_total{direction} sent, received
//	dane_shared_resyncs_total                 local caches dropped after the store came back
func (m *Metrics) ObserveShared(stats func() shared.Stats) error {
	if m == nil || stats == nil {
		return nil
	}
	mt := m.meter
	var errs [10]error
	var up, subscribed metric.Int64ObservableGauge
	var lookups, writes, failed, skipped, rejected, leases, invals, resyncs metric.Int64ObservableCounter
	up, errs[0] = mt.Int64ObservableGauge("dane.shared.up", metric.WithDescription("1 while the shared store (Redis) answers, else 0: the replica answers from its own cache and validations."))
	subscribed, errs[1] = mt.Int64ObservableGauge("dane.shared.subscribed", metric.WithDescription("1 while the replica listens for other replicas' invalidations."))
	lookups, errs[2] = mt.Int64ObservableCounter("dane.shared.lookups", metric.WithDescription("Shared store lookups after a local miss, by result: hit or miss (absent, refused or store down)."), metric.WithUnit("{lookup}"))
	writes, errs[3] = mt.Int64ObservableCounter("dane.shared.writes", metric.WithDescription("Entries written to the shared store."), metric.WithUnit("{entry}"))
	failed, errs[4] = mt.Int64ObservableCounter("dane.shared.errors", metric.WithDescription("Failed or timed-out Redis calls, by operation."), metric.WithUnit("{call}"))
	skipped, errs[5] = mt.Int64ObservableCounter("dane.shared.skipped", metric.WithDescription("Redis calls not made while backing off after a failure."), metric.WithUnit("{call}"))
	rejected, errs[6] = mt.Int64ObservableCounter("dane.shared.rejected", metric.WithDescription("Shared entries and invalidations refused, by reason: forged (the HMAC does not verify), malformed, expired."), metric.WithUnit("{entry}"))
	leases, errs[7] = mt.Int64ObservableCounter("dane.shared.leases", metric.WithDescription("Validation leases, by outcome: acquired (this replica did the work), waited (another did), taken_over (its holder left no result)."), metric.WithUnit("{lease}"))
	invals, errs[8] = mt.Int64ObservableCounter("dane.shared.invalidations", metric.WithDescription("Invalidations sent to and received from the other replicas."), metric.WithUnit("{invalidation}"))
	resyncs, errs[9] = mt.Int64ObservableCounter("dane.shared.resyncs", metric.WithDescription("Local caches dropped because the shared store came back after an outage (invalidations may have been missed)."), metric.WithUnit("{resync}"))
	if err := errors.Join(errs[:]...); err != nil {
		return err
	}
	attr := func(k, v string) metric.ObserveOption { return metric.WithAttributes(attribute.String(k, v)) }
	b := func(v bool) int64 {
		if v {
			return 1
		}
		return 0
	}
	_, err := mt.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := stats()
		o.ObserveInt64(up, b(st.Up))
		o.ObserveInt64(subscribed, b(st.Subscribed))
		o.ObserveInt64(lookups, int64(st.Hits), attr("result", "hit"))
		o.ObserveInt64(lookups, int64(st.Misses), attr("result", "miss"))
		o.ObserveInt64(writes, int64(st.Puts))
		for op, n := range st.Errors {
			o.ObserveInt64(failed, int64(n), attr("op", op))
		}
		o.ObserveInt64(skipped, int64(st.Skipped))
		for reason, n := range st.Rejected {
			o.ObserveInt64(rejected, int64(n), attr("reason", reason))
		}
		o.ObserveInt64(leases, int64(st.LeasesAcquired), attr("outcome", "acquired"))
		o.ObserveInt64(leases, int64(st.LeasesWaited), attr("outcome", "waited"))
		o.ObserveInt64(leases, int64(st.LeasesTakenOver), attr("outcome", "taken_over"))
		o.ObserveInt64(invals, int64(st.InvalidationsSent), attr("direction", "sent"))
		o.ObserveInt64(invals, int64(st.InvalidationsReceived), attr("direction", "received"))
		o.ObserveInt64(resyncs, int64(st.Resyncs))
		return nil
	}, up, subscribed, lookups, writes, failed, skipped, rejected, leases, invals, resyncs)
	return err
}
