package config

import (
	"context"
	"log/slog"
	"time"

	"github.com/daned/daned/mtasts/manager"
	"github.com/daned/daned/shared"
	"github.com/daned/daned/shared/fleet"
	"github.com/daned/daned/state"
	"github.com/daned/daned/tlsrpt"
	"github.com/daned/daned/tlsrpt/reporter"
)

// What the replicas share besides the decision layer's entries, when
// --redis is set: the MTA-STS policies they fetch, and the TLS-RPT counts
// one of them reports for all (shared/fleet).

// sharedPolicies is the MTA-STS manager's shared level over st; nil when
// alone.
func sharedPolicies(st *shared.Store, now func() time.Time) (manager.Shared, error) {
	if st == nil {
		return nil, nil
	}
	return fleet.NewPolicies(fleet.Config{Store: st, Now: now})
}

// fleetReports sets cfg up to report as one fleet through st, under this
// replica's id in store; alone when st is nil.
func fleetReports(st *shared.Store, store *state.Store, now func() time.Time, cfg *reporter.Config) error {
	if st == nil {
		return nil
	}
	fl, err := fleet.NewReports(fleet.Config{Store: st, Now: now})
	if err != nil {
		return err
	}
	id, err := store.ReplicaID()
	if err != nil {
		return err
	}
	cfg.Fleet, cfg.Replica = fl, id
	return nil
}

// liveTimeout bounds reading the fleet's counts for danectl tlsrpt show.
const liveTimeout = 2 * time.Second

// Live returns the live counts of a policy domain (server.TLSRPT): the
// fleet's when the replicas report as one, else (or when the shared
// store cannot answer) this replica's.
func (t *TLSRPT) Live(domain string) []tlsrpt.Counts {
	if t.fleet {
		ctx, cancel := context.WithTimeout(context.Background(), liveTimeout)
		defer cancel()
		c, err := t.Reporter.FleetLive(ctx, domain)
		if err == nil {
			return c
		}
		t.log.Warn("tlsrpt: the fleet's counts could not be read; showing this replica's", slog.Any("error", err))
	}
	return t.Aggregator.Live(domain)
}
