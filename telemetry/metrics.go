package telemetry

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/daned/daned/cache"
	"github.com/daned/daned/mtasts"
	"github.com/daned/daned/mtasts/fetch"
	"github.com/daned/daned/probe"
	"github.com/daned/daned/resolver"
)

// Metrics are daned's own instruments. A nil *Metrics records nothing.
type Metrics struct {
	validations metric.Int64Counter
	duration    metric.Float64Histogram
	inflight    metric.Int64UpDownCounter
	dnsQueries  metric.Int64Counter
	probes      metric.Int64Counter
	stsFetches  metric.Int64Counter
	meter       metric.Meter
	setCache    sync.Map // validationKey → validationSets
}

// NewMetrics creates the instruments on mp.
func NewMetrics(mp metric.MeterProvider) (*Metrics, error) {
	m := &Metrics{meter: mp.Meter("github.com/daned/daned")}
	var errs [6]error
	m.validations, errs[0] = m.meter.Int64Counter("dane.validations",
		metric.WithDescription("Validate answers, by action, reason and whether they came from the cache."), metric.WithUnit("{validation}"))
	m.duration, errs[1] = m.meter.Float64Histogram("dane.validation.duration",
		metric.WithDescription("Time to answer a Validate request."), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
	m.inflight, errs[2] = m.meter.Int64UpDownCounter("dane.validations.inflight",
		metric.WithDescription("Validate requests being answered now."), metric.WithUnit("{validation}"))
	m.dnsQueries, errs[3] = m.meter.Int64Counter("dane.dns.queries",
		metric.WithDescription("DNS queries sent to the resolver (cache misses), by type, rcode and DNSSEC security state."), metric.WithUnit("{query}"))
	m.probes, errs[4] = m.meter.Int64Counter("dane.probes",
		metric.WithDescription("STARTTLS probes made (cache misses), by outcome."), metric.WithUnit("{probe}"))
	m.stsFetches, errs[5] = m.meter.Int64Counter("dane.mta_sts.fetches",
		metric.WithDescription("MTA-STS policy fetches over HTTPS (RFC 8461 §3.3), by outcome: ok, or the RFC 8460 result type of the failure."), metric.WithUnit("{fetch}"))
	return m, errors.Join(errs[:]...)
}

// validationKey identifies the attribute sets of one kind of answer.
type validationKey struct {
	action, reason string
	fromCache      bool
}

// validationSets are the attribute sets of a kind of answer, built once:
// a sorted attribute set per request would cost more than a cache hit.
type validationSets struct {
	count, duration metric.MeasurementOption
}

func (m *Metrics) sets(k validationKey) validationSets {
	if v, ok := m.setCache.Load(k); ok {
		return v.(validationSets)
	}
	v := validationSets{
		count: metric.WithAttributeSet(attribute.NewSet(attribute.String("action", k.action), attribute.String("reason", k.reason),
			attribute.Bool("from_cache", k.fromCache))),
		duration: metric.WithAttributeSet(attribute.NewSet(attribute.String("action", k.action), attribute.Bool("from_cache", k.fromCache))),
	}
	m.setCache.Store(k, v) // bounded: actions × reasons × 2
	return v
}

// Validation records one answered Validate request.
func (m *Metrics) Validation(ctx context.Context, action, reason string, fromCache bool, d time.Duration) {
	if m == nil {
		return
	}
	sets := m.sets(validationKey{action, reason, fromCache})
	m.validations.Add(ctx, 1, sets.count)
	m.duration.Record(ctx, d.Seconds(), sets.duration)
}

// InFlight moves the in-flight gauge by delta.
func (m *Metrics) InFlight(ctx context.Context, delta int64) {
	if m == nil {
		return
	}
	m.inflight.Add(ctx, delta)
}

// CacheSource is a cache whose counters are exported.
type CacheSource struct {
	Name      string             // "verdict", "dns", "probe"
	Stats     func() cache.Stats // the cache's counters
	Coalesced func() uint64      // requests that shared another's work; nil when not applicable
}

// ObserveCaches exports the counters of the caches: hits, misses,
// evictions, size and coalesced requests, labelled by cache.
func (m *Metrics) ObserveCaches(sources ...CacheSource) error {
	if m == nil {
		return nil
	}
	hits, err1 := m.meter.Int64ObservableCounter("dane.cache.hits", metric.WithDescription("Cache lookups answered from the cache."), metric.WithUnit("{lookup}"))
	misses, err2 := m.meter.Int64ObservableCounter("dane.cache.misses", metric.WithDescription("Cache lookups not answered (absent or expired)."), metric.WithUnit("{lookup}"))
	evictions, err3 := m.meter.Int64ObservableCounter("dane.cache.evictions", metric.WithDescription("Live entries dropped to make room."), metric.WithUnit("{entry}"))
	size, err4 := m.meter.Int64ObservableGauge("dane.cache.size", metric.WithDescription("Entries held."), metric.WithUnit("{entry}"))
	coalesced, err5 := m.meter.Int64ObservableCounter("dane.coalesced", metric.WithDescription("Requests that shared another request's work instead of doing their own."), metric.WithUnit("{request}"))
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return err
	}
	_, err := m.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, s := range sources {
			set := metric.WithAttributes(attribute.String("cache", s.Name))
			st := s.Stats()
			o.ObserveInt64(hits, int64(st.Hits), set)
			o.ObserveInt64(misses, int64(st.Misses), set)
			o.ObserveInt64(evictions, int64(st.Evictions), set)
			o.ObserveInt64(size, int64(st.Size), set)
			if s.Coalesced != nil {
				o.ObserveInt64(coalesced, int64(s.Coalesced()), set)
			}
		}
		return nil
	}, hits, misses, evictions, size, coalesced)
	return err
}

// ObserveRefusals exports the calls refused by daned's limits:
// dane_refused_total{reason="rate_limited"|"not_allowed"} and the number
// of callers with a token bucket. stats is read at each collection.
func (m *Metrics) ObserveRefusals(stats func() (rateLimited, denied uint64, callers int)) error {
	if m == nil {
		return nil
	}
	refused, err1 := m.meter.Int64ObservableCounter("dane.refused", metric.WithDescription("Calls refused: over a caller's rate limit, or from a client identity not on the allow-list."), metric.WithUnit("{call}"))
	callers, err2 := m.meter.Int64ObservableGauge("dane.rate_limit.callers", metric.WithDescription("Callers with a rate-limit token bucket."), metric.WithUnit("{caller}"))
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	limited, denied := metric.WithAttributes(attribute.String("reason", "rate_limited")), metric.WithAttributes(attribute.String("reason", "not_allowed"))
	_, err := m.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		l, d, c := stats()
		o.ObserveInt64(refused, int64(l), limited)
		o.ObserveInt64(refused, int64(d), denied)
		o.ObserveInt64(callers, int64(c))
		return nil
	}, refused, callers)
	return err
}

// ObservePolicies exports the MTA-STS policies held, by mode:
// dane_mta_sts_policies{mode="enforce"|"testing"|"none"}. count is read
// at each collection (manager.Manager.CountByMode).
func (m *Metrics) ObservePolicies(count func() map[mtasts.Mode]int) error {
	if m == nil {
		return nil
	}
	g, err := m.meter.Int64ObservableGauge("dane.mta_sts.policies", metric.WithDescription("MTA-STS policies held (cached, unexpired), by mode."), metric.WithUnit("{policy}"))
	if err != nil {
		return err
	}
	_, err = m.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		n := count()
		for _, mode := range []mtasts.Mode{mtasts.ModeEnforce, mtasts.ModeTesting, mtasts.ModeNone} {
			o.ObserveInt64(g, int64(n[mode]), metric.WithAttributes(attribute.String("mode", mode.String())))
		}
		return nil
	}, g)
	return err
}

// STSFetcher fetches MTA-STS policies (fetch.Fetcher).
type STSFetcher interface {
	Fetch(ctx context.Context, domain string) (fetch.Result, error)
}

// Fetcher counts the MTA-STS policy fetches that reach the network, by
// outcome.
type Fetcher struct {
	Next    STSFetcher
	Metrics *Metrics
}

// Fetch implements STSFetcher.
func (f Fetcher) Fetch(ctx context.Context, domain string) (fetch.Result, error) {
	r, err := f.Next.Fetch(ctx, domain)
	if f.Metrics != nil {
		f.Metrics.stsFetches.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", FetchOutcome(err))))
	}
	return r, err
}

// FetchOutcome names a fetch's outcome for metrics: "ok", or the RFC 8460
// result type of the failure ("sts-policy-fetch-error").
func FetchOutcome(err error) string {
	if err == nil {
		return "ok"
	}
	var fe *fetch.Error
	if errors.As(err, &fe) {
		return fe.Reason.ResultType()
	}
	return mtasts.ReasonPolicyFetchFailed.ResultType()
}

// Lookuper is a resolver (resolver.Resolver, or a cache over it).
type Lookuper interface {
	Lookup(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error)
}

// CountingResolver counts the queries that reach the resolver.
type CountingResolver struct {
	Upstream Lookuper
	Metrics  *Metrics
}

// Lookup implements Lookuper.
func (r CountingResolver) Lookup(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error) {
	a, err := r.Upstream.Lookup(ctx, name, qtype)
	if r.Metrics != nil {
		rcode, security := "NOERROR", "unknown"
		switch {
		case err == nil:
			rcode, security = dns.RcodeToString[a.Rcode], a.Security.String()
		case errors.Is(err, resolver.ErrTimeout):
			rcode = "TIMEOUT"
		default:
			var qe *resolver.QueryError
			if errors.As(err, &qe) && qe.Rcode >= 0 {
				rcode = dns.RcodeToString[qe.Rcode]
			} else {
				rcode = "ERROR"
			}
			if errors.Is(err, resolver.ErrBogus) {
				security = "bogus"
			}
		}
		r.Metrics.dnsQueries.Add(ctx, 1, metric.WithAttributes(attribute.String("type", dns.TypeToString[qtype]),
			attribute.String("rcode", rcode), attribute.String("security", security)))
	}
	return a, err
}

// Prober is a prober (probe.Prober, or a cache over it).
type Prober interface {
	Probe(ctx context.Context, addr netip.Addr, sni string) *probe.Result
}

// CountingProber counts the probes that reach the network, by outcome.
type CountingProber struct {
	Upstream Prober
	Metrics  *Metrics
}

// Probe implements Prober.
func (p CountingProber) Probe(ctx context.Context, addr netip.Addr, sni string) *probe.Result {
	r := p.Upstream.Probe(ctx, addr, sni)
	if p.Metrics != nil {
		p.Metrics.probes.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", ProbeOutcome(r))))
	}
	return r
}

// ProbeOutcome names a probe's outcome for metrics: "tls", or the failure.
func ProbeOutcome(r *probe.Result) string {
	switch {
	case r.Err == nil:
		return "tls"
	case errors.Is(r.Err, probe.ErrTimeout):
		return "timeout"
	case errors.Is(r.Err, probe.ErrConnect):
		return "connect_failed"
	case errors.Is(r.Err, probe.ErrNoSTARTTLS):
		return "no_starttls"
	case errors.Is(r.Err, probe.ErrSTARTTLSRefused):
		return "starttls_refused"
	case errors.Is(r.Err, probe.ErrHandshake):
		return "handshake_failed"
	}
	return "smtp_error"
}
