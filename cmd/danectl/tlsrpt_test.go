package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/daned/daned/engine"
	"github.com/daned/daned/internal/danedtest"
	"github.com/daned/daned/server"
	"github.com/daned/daned/tlsrpt"
	"github.com/daned/daned/tlsrpt/collect"
	"github.com/daned/daned/tlsrpt/reporter"
)

type noEngine struct{}

func (noEngine) Validate(context.Context, string, engine.Options) (*engine.Result, error) {
	return nil, errors.New("no engine in this test")
}

// reports serves live counts from a real aggregator and answers
// SendReports with fixed outcomes.
type reports struct {
	agg  *tlsrpt.Aggregator
	sent []reporter.Sent
}

func (r reports) Report(context.Context, []collect.Input) (int, []collect.Refusal, error) {
	return 0, nil, nil
}
func (r reports) SendNow(context.Context, bool) ([]reporter.Sent, error) { return r.sent, nil }
func (r reports) Live(d string) []tlsrpt.Counts                          { return r.agg.Live(d) }

func TestTLSRPTShowAndSend(t *testing.T) {
	agg, err := tlsrpt.NewAggregator(tlsrpt.AggregatorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer agg.Close()
	now := time.Now()
	pol := tlsrpt.Policy{Type: tlsrpt.PolicyTLSA, Domain: "mx.example.com", Strings: []string{"3 1 1 abcd"}, MXHosts: []string{"mx.example.com"}}
	agg.Add(tlsrpt.Session{Time: now, Policy: pol, Success: true},
		tlsrpt.Session{Time: now, Policy: pol, Result: tlsrpt.ResultTLSAInvalid, ReceivingIP: "192.0.2.25", ReceivingMX: "mx.example.com"})
	sent := []reporter.Sent{{PolicyDomain: "mx.example.com", RUA: "https://r.example.com/", ReportID: "id1", OK: true},
		{PolicyDomain: "mx.example.com", RUA: "mailto:r@example.com", ReportID: "id1", Error: "connection refused"}}
	srv, err := server.New(server.Config{Verdicts: danedtest.Verdicts(t, noEngine{}, 0), TLSRPT: reports{agg, sent}})
	if err != nil {
		t.Fatal(err)
	}
	addr := danedtest.Serve(t, srv).Target()

	code, out, errb := runCheck(t, "tlsrpt", "show", "--server", addr, "example.com")
	if code != exitDeliver || !strings.Contains(out, "mx.example.com  ") || !strings.Contains(out, "policy tlsa, mx mx.example.com") ||
		!strings.Contains(out, "3 1 1 abcd") || !strings.Contains(out, "sessions: 1 successful, 1 failed") ||
		!strings.Contains(out, "1 × tlsa-invalid  mx mx.example.com  ip 192.0.2.25") {
		t.Fatalf("show: exit %d\n%s%s", code, out, errb)
	}
	if code, out, _ := runCheck(t, "tlsrpt", "show", "--server", addr, "other.example"); code != exitDeliver || !strings.Contains(out, "no sessions counted") {
		t.Errorf("show of a domain without counts: exit %d\n%s", code, out)
	}
	code, out, _ = runCheck(t, "tlsrpt", "send", "--server", addr, "--include-current")
	if code != exitBlocked || !strings.Contains(out, "sent     mx.example.com to https://r.example.com/ (report-id id1)") ||
		!strings.Contains(out, "NOT SENT mx.example.com to mailto:r@example.com (report-id id1): connection refused") {
		t.Fatalf("send: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{"tlsrpt"}, {"tlsrpt", "show", "--server", addr}, {"tlsrpt", "send", "--server", addr, "x.example"}} {
		if code, _, _ := runCheck(t, args...); code != exitError {
			t.Errorf("%q: exit %d, want a usage error", args, code)
		}
	}
	// A daned without --tlsrpt says so.
	plain, err := server.New(server.Config{Verdicts: danedtest.Verdicts(t, noEngine{}, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errb := runCheck(t, "tlsrpt", "send", "--server", danedtest.Serve(t, plain).Target()); code != exitError || !strings.Contains(errb, "--tlsrpt") {
		t.Errorf("send to a daned without TLS reporting: exit %d %s", code, errb)
	}
}
