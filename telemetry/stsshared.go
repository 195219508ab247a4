package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/daned/daned/mtasts/manager"
)

// ObserveSharedPolicies exports how the MTA-STS manager used the policies
// the replicas share (--redis):
// dane_mta_sts_shared_total{outcome="hit"|"miss"|"rejected"|"error"|"write"}.
// A rise of rejected means entries in Redis that no replica wrote. stats
// is read at each collection (manager.Manager.SharedStats).
func (m *Metrics) ObserveSharedPolicies(stats func() manager.SharedStats) error {
	if m == nil {
		return nil
	}
	c, err := m.meter.Int64ObservableCounter("dane.mta_sts.shared",
		metric.WithDescription("Uses of the MTA-STS policies replicas share, by outcome: hit (taken instead of a fetch), miss, rejected (forged, corrupt, expired: fetched instead), error (Redis did not answer), write."),
		metric.WithUnit("{policy}"))
	if err != nil {
		return err
	}
	_, err = m.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := stats()
		for _, v := range []struct {
			outcome string
			n       uint64
		}{{"hit", st.Hits}, {"miss", st.Misses}, {"rejected", st.Rejected}, {"error", st.Errors}, {"write", st.Writes}} {
			o.ObserveInt64(c, int64(v.n), metric.WithAttributes(attribute.String("outcome", v.outcome)))
		}
		return nil
	}, c)
	return err
}
