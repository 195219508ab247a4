package telemetry

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/daned/daned/tlsrpt"
)

// TLSRPTMetrics are the instruments of TLS reporting (RFC 8460), so that
// an SRE sees failures within a scrape, not a day:
// dane_tlsrpt_sessions_total{policy_type,result} (result is an RFC 8460
// result type, or "success"), dane_tlsrpt_refused_total{reason} (sessions
// not counted), dane_tlsrpt_reports_total{outcome} and
// dane_tlsrpt_datagrams_total{outcome} (Postfix's datagrams: accepted,
// malformed, invalid, oversize, or dropped when daned's queue of
// datagrams read and not yet parsed was full; a datagram the kernel
// refuses to queue fails at the sender, where Postfix logs it). Every count is an atomic add, read at collection. A nil
// *TLSRPTMetrics records nothing.
type TLSRPTMetrics struct {
	counts sync.Map // tlsrptKey → *tlsrptCount
}

type tlsrptKey struct{ instrument, a, b string }

type tlsrptCount struct {
	n   atomic.Int64
	opt metric.ObserveOption
}

// The attribute names of each instrument.
var tlsrptAttrs = map[string][2]string{
	"dane.tlsrpt.sessions":  {"policy_type", "result"},
	"dane.tlsrpt.refused":   {"reason", ""},
	"dane.tlsrpt.reports":   {"outcome", ""},
	"dane.tlsrpt.datagrams": {"outcome", ""},
}

var tlsrptUnits = map[string]string{
	"dane.tlsrpt.sessions": "{session}", "dane.tlsrpt.refused": "{session}",
	"dane.tlsrpt.reports": "{report}", "dane.tlsrpt.datagrams": "{datagram}",
}

// NewTLSRPTMetrics creates the instruments on mp.
func NewTLSRPTMetrics(mp metric.MeterProvider) (*TLSRPTMetrics, error) {
	meter := mp.Meter("github.com/daned/daned")
	m := &TLSRPTMetrics{}
	descs := map[string]string{
		"dane.tlsrpt.sessions":  "TLS sessions counted for TLS reports, by policy type and result type (\"success\" for a successful session).",
		"dane.tlsrpt.refused":   "TLS session results not counted, by reason: invalid, late (their period was reported already) or future.",
		"dane.tlsrpt.reports":   "TLS reports, by outcome: made, skipped, sent, retry, failed, no_record.",
		"dane.tlsrpt.datagrams": "Postfix TLSRPT datagrams, by outcome: accepted, malformed, invalid, oversize, dropped (daned's queue of datagrams to parse was full).",
	}
	insts := map[string]metric.Int64ObservableCounter{}
	var all []metric.Observable
	var errs []error
	for name, desc := range descs {
		c, err := meter.Int64ObservableCounter(name, metric.WithDescription(desc), metric.WithUnit(tlsrptUnits[name]))
		errs = append(errs, err)
		insts[name] = c
		all = append(all, c)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	_, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		m.counts.Range(func(k, v any) bool {
			c := v.(*tlsrptCount)
			o.ObserveInt64(insts[k.(tlsrptKey).instrument], c.n.Load(), c.opt)
			return true
		})
		return nil
	}, all...)
	return m, err
}

func (m *TLSRPTMetrics) add(instrument, a, b string, n int64) {
	if m == nil {
		return
	}
	k := tlsrptKey{instrument, a, b}
	v, ok := m.counts.Load(k)
	if !ok {
		names := tlsrptAttrs[instrument]
		attrs := []attribute.KeyValue{attribute.String(names[0], a)}
		if names[1] != "" {
			attrs = append(attrs, attribute.String(names[1], b))
		}
		v, _ = m.counts.LoadOrStore(k, &tlsrptCount{opt: metric.WithAttributeSet(attribute.NewSet(attrs...))})
	}
	v.(*tlsrptCount).n.Add(n)
}

// Session counts one session (tlsrpt.Metrics).
func (m *TLSRPTMetrics) Session(p tlsrpt.PolicyType, result string) {
	m.add("dane.tlsrpt.sessions", string(p), result, 1)
}

// Refused counts one session not counted (tlsrpt.Metrics).
func (m *TLSRPTMetrics) Refused(reason string) { m.add("dane.tlsrpt.refused", reason, "", 1) }

// Report counts one report's outcome (reporter.Metrics).
func (m *TLSRPTMetrics) Report(outcome string) { m.add("dane.tlsrpt.reports", outcome, "", 1) }

// Datagram counts one datagram's outcome (collector.Metrics).
func (m *TLSRPTMetrics) Datagram(outcome string) { m.add("dane.tlsrpt.datagrams", outcome, "", 1) }

// Sessions is part of collector.Metrics: a datagram's sessions are
// counted one by one by the aggregator (Session), so nothing here.
func (m *TLSRPTMetrics) Sessions(int) {}

// Dropped counts datagrams dropped unparsed (collector.Metrics).
func (m *TLSRPTMetrics) Dropped(n uint64) { m.add("dane.tlsrpt.datagrams", "dropped", "", int64(n)) }
