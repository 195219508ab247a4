package tlsrpt_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/daned/daned/internal/fakeclock"
	"github.com/daned/daned/state"
	"github.com/daned/daned/tlsrpt"
)

var day = time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)

func tlsaPolicy(mx string) tlsrpt.Policy {
	return tlsrpt.Policy{Type: tlsrpt.PolicyTLSA, Domain: mx, Strings: []string{"3 1 1 " + fmt.Sprintf("%064x", len(mx))}, MXHosts: []string{mx}}
}

func ok(at time.Time, p tlsrpt.Policy) tlsrpt.Session {
	return tlsrpt.Session{Time: at, Policy: p, Success: true}
}

func fail(at time.Time, p tlsrpt.Policy, r tlsrpt.ResultType, ip string) tlsrpt.Session {
	return tlsrpt.Session{Time: at, Policy: p, Result: r, ReceivingMX: p.Domain, ReceivingIP: ip, SendingMTAIP: "192.0.2.1"}
}

// metrics counts what the aggregator records.
type metrics struct {
	mu       sync.Mutex
	sessions map[string]int
	refused  map[string]int
}

func newMetrics() *metrics { return &metrics{sessions: map[string]int{}, refused: map[string]int{}} }

func (m *metrics) Session(p tlsrpt.PolicyType, r string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sessions[string(p)+"/"+r]++
}

func (m *metrics) Refused(reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refused[reason]++
}

func newAggregator(t *testing.T, cfg tlsrpt.AggregatorConfig) *tlsrpt.Aggregator {
	t.Helper()
	a, err := tlsrpt.NewAggregator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func openStore(t *testing.T, dir string) *state.Store {
	t.Helper()
	s, err := state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAggregatorCounts(t *testing.T) {
	clk := fakeclock.New(day.Add(26 * time.Hour)) // the next day, 02:00
	m := newMetrics()
	a := newAggregator(t, tlsrpt.AggregatorConfig{Now: clk.Now, Metrics: m})
	mx := tlsaPolicy("mx.example.com")
	sts := tlsrpt.Policy{Type: tlsrpt.PolicySTS, Domain: "example.net", Strings: []string{"version: STSv1", "mode: enforce"}, MXHosts: []string{"*.example.net"}}
	a.Add(
		ok(day.Add(time.Hour), mx), ok(day.Add(2*time.Hour), mx),
		fail(day.Add(3*time.Hour), mx, tlsrpt.ResultTLSAInvalid, "192.0.2.25"),
		fail(day.Add(4*time.Hour), mx, tlsrpt.ResultTLSAInvalid, "192.0.2.25"), // same details: one row
		fail(day.Add(5*time.Hour), mx, tlsrpt.ResultTLSAInvalid, "192.0.2.26"),
		ok(day.Add(25*time.Hour), mx), // today: its own period
		ok(day.Add(time.Hour), sts),
		tlsrpt.Session{Time: day, Policy: mx},     // a failure without a result type
		ok(day.Add(26*time.Hour+2*time.Hour), mx), // too far ahead
	)
	got := a.Live("example.com")
	if len(got) != 2 {
		t.Fatalf("%d ranges, want 2 (yesterday and today): %+v", len(got), got)
	}
	y := got[0]
	if !y.Start.Equal(day) || !y.End.Equal(day.Add(24*time.Hour)) || y.PolicyDomain != "mx.example.com" || len(y.Policies) != 1 {
		t.Fatalf("yesterday: %+v", y)
	}
	p := y.Policies[0]
	if p.Summary != (tlsrpt.Summary{Successful: 2, Failed: 3}) || len(p.FailureDetails) != 2 ||
		p.FailureDetails[0].Count != 2 || p.FailureDetails[0].ReceivingIP != "192.0.2.25" || p.FailureDetails[1].Count != 1 {
		t.Fatalf("yesterday's policy: %+v", p)
	}
	if got[1].Policies[0].Summary.Successful != 1 {
		t.Errorf("today: %+v", got[1])
	}
	if s := a.Live("example.net"); len(s) != 1 || s[0].Policies[0].Summary.Successful != 1 || s[0].Policies[0].Policy.Type != tlsrpt.PolicySTS {
		t.Errorf("example.net: %+v", s)
	}
	if m.sessions["tlsa/success"] != 3 || m.sessions["tlsa/tlsa-invalid"] != 3 || m.sessions["sts/success"] != 1 ||
		m.refused["invalid"] != 1 || m.refused["future"] != 1 {
		t.Errorf("metrics: %v refused %v", m.sessions, m.refused)
	}
}

// TestAggregatorBoundsDetails: a policy keeps its most frequent failure
// details and merges the others per result type, in memory and in the
// report.
func TestAggregatorBoundsDetails(t *testing.T) {
	clk := fakeclock.New(day.Add(time.Hour))
	a := newAggregator(t, tlsrpt.AggregatorConfig{Now: clk.Now, MaxDetails: 2})
	mx := tlsaPolicy("mx.example.com")
	var ss []tlsrpt.Session
	for i := range 10 {
		for range i + 1 { // address .i fails i+1 times
			ss = append(ss, fail(day, mx, tlsrpt.ResultValidationFailure, fmt.Sprintf("192.0.2.%d", i)))
		}
	}
	ss = append(ss, fail(day, mx, tlsrpt.ResultSTARTTLSNotSupported, "192.0.2.100"))
	a.Add(ss...)
	p := a.Live("mx.example.com")[0].Policies[0]
	var total int64
	for _, d := range p.FailureDetails {
		total += d.Count
	}
	if total != p.Summary.Failed || p.Summary.Failed != 56 {
		t.Fatalf("details add up to %d of %d failures: %+v", total, p.Summary.Failed, p.FailureDetails)
	}
	if len(p.FailureDetails) != 4 || p.FailureDetails[0].ReceivingIP != "192.0.2.3" || p.FailureDetails[0].Count != 4 ||
		p.FailureDetails[2].Result != tlsrpt.ResultSTARTTLSNotSupported || p.FailureDetails[2].ReceivingIP != "" ||
		p.FailureDetails[3].Result != tlsrpt.ResultValidationFailure || p.FailureDetails[3].ReceivingIP != "" {
		t.Fatalf("want the two most frequent kept (of the 4 held) and one merged row per result type: %+v", p.FailureDetails)
	}
}

// TestAggregatorDurable: committed counts survive a process that never
// closed its aggregator (kill -9), and Cut and Commit move them into
// reports at once.
func TestAggregatorDurable(t *testing.T) {
	dir := t.TempDir()
	clk := fakeclock.New(day.Add(time.Hour))
	st := openStore(t, dir)
	a, err := tlsrpt.NewAggregator(tlsrpt.AggregatorConfig{Store: st, Now: clk.Now, FlushEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	mx := tlsaPolicy("mx.example.com")
	a.Add(ok(day, mx), fail(day, mx, tlsrpt.ResultDNSSECInvalid, ""))
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}
	a.Add(ok(day, mx)) // never committed: lost with the process
	st.Close()         // the process dies without closing the aggregator
	st = openStore(t, dir)
	t.Cleanup(func() { st.Close() })
	b := newAggregator(t, tlsrpt.AggregatorConfig{Store: st, Now: clk.Now})
	got := b.Live("example.com")
	if len(got) != 1 || got[0].Policies[0].Summary != (tlsrpt.Summary{Successful: 1, Failed: 1}) || len(got[0].Policies[0].FailureDetails) != 1 {
		t.Fatalf("after the restart: %+v", got)
	}
	// Counting goes on into the same aggregate.
	b.Add(fail(day, mx, tlsrpt.ResultDNSSECInvalid, ""))
	if p := b.Live("example.com")[0].Policies[0]; p.Summary.Failed != 2 || p.FailureDetails[0].Count != 2 {
		t.Fatalf("after more sessions: %+v", p)
	}
	// Cut the day: its counts leave the aggregation and later sessions of
	// it are late.
	clk.Set(day.Add(25 * time.Hour))
	cl, err := b.Cut(day.Add(24 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(cl.Counts) != 1 || len(cl.Keys) != 1 || cl.Counts[0].Policies[0].Summary.Failed != 2 {
		t.Fatalf("cut: %+v", cl)
	}
	b.Add(ok(day.Add(time.Hour), mx))
	if b.Accepts(day.Add(time.Hour)) != "late" || len(b.Live("example.com")) != 0 {
		t.Fatal("a session of a reported day was counted")
	}
	if err := b.Commit(cl, []state.TLSRPTReport{{Key: "r1", PolicyDomain: "mx.example.com"}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st = openStore(t, dir)
	c := newAggregator(t, tlsrpt.AggregatorConfig{Store: st, Now: clk.Now})
	if len(c.Live("example.com")) != 0 || c.Accepts(day.Add(time.Hour)) != "late" {
		t.Fatal("committed counts came back, or the cut was forgotten")
	}
	if r, ok, err := st.TLSRPTReportByKey("r1"); err != nil || !ok || r.PolicyDomain != "mx.example.com" {
		t.Fatalf("report: %v %v %+v", ok, err, r)
	}
}

// TestAggregatorCutEarly: a range cut before its end (reports sent on
// demand) goes on in a new range that starts at the cut.
func TestAggregatorCutEarly(t *testing.T) {
	clk := fakeclock.New(day.Add(12 * time.Hour))
	a := newAggregator(t, tlsrpt.AggregatorConfig{Now: clk.Now})
	mx := tlsaPolicy("mx.example.com")
	a.Add(ok(day.Add(time.Hour), mx))
	cl, err := a.Cut(clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if c := cl.Counts[0]; !c.Start.Equal(day) || !c.End.Equal(day.Add(12*time.Hour)) {
		t.Fatalf("cut range %v – %v", c.Start, c.End)
	}
	a.Add(ok(day.Add(13*time.Hour), mx))
	got := a.Live("mx.example.com")
	if len(got) != 1 || !got[0].Start.Equal(day.Add(12*time.Hour)) || !got[0].End.Equal(day.Add(24*time.Hour)) {
		t.Fatalf("after the cut: %+v", got)
	}
}

func TestAggregatorConfig(t *testing.T) {
	for _, p := range []time.Duration{time.Second, 7 * time.Hour, 48 * time.Hour} {
		if _, err := tlsrpt.NewAggregator(tlsrpt.AggregatorConfig{Period: p}); err == nil {
			t.Errorf("period %v accepted", p)
		}
	}
}

func TestAggregatorRedactsSendingIP(t *testing.T) {
	clk := fakeclock.New(day.Add(time.Hour))
	a := newAggregator(t, tlsrpt.AggregatorConfig{Now: clk.Now, RedactSendingIP: true})
	mx := tlsaPolicy("mx.example.com")
	a.Add(fail(day, mx, tlsrpt.ResultTLSAInvalid, "192.0.2.25"))
	if d := a.Live("mx.example.com")[0].Policies[0].FailureDetails[0]; d.SendingMTAIP != "" || d.ReceivingIP != "192.0.2.25" {
		t.Fatalf("detail %+v: want the sending address left out, the receiving one kept", d)
	}
}
