package collect_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/internal/fakeclock"
	"github.com/daned/daned/mtasts"
	"github.com/daned/daned/tlsrpt"
	"github.com/daned/daned/tlsrpt/collect"
)

type verdicts map[string]*engine.Result

func (v verdicts) Validate(_ context.Context, domain string, opts engine.Options) (*engine.Result, error) {
	if !opts.PolicyOnly {
		return nil, errors.New("want policy-only validations")
	}
	r, ok := v[domain]
	if !ok {
		return nil, errors.New("SERVFAIL")
	}
	return r, nil
}

var now = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func world() verdicts {
	tlsa := []dane.AssessedRecord{{Record: dane.Record{Usage: 3, Selector: 1, MatchingType: 1, Data: []byte{0xab, 0xcd}}, Usable: true}}
	pol := mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"*.sts.example"}, MaxAge: 86400 * time.Second}
	return verdicts{
		"dane.example": {Domain: "dane.example", Hosts: []engine.Host{
			{Name: "mx.dane.example", TLSAState: engine.DNSSecure, TLSABase: "mx.dane.example", TLSA: tlsa},
			{Name: "alias.dane.example", TLSAState: engine.DNSSecure, TLSABase: "mx.provider.example", TLSA: tlsa},
		}},
		"sts.example":   {Domain: "sts.example", Hosts: []engine.Host{{Name: "mx1.sts.example", TLSAState: engine.DNSInsecure}}, MTASTS: &mtasts.PolicyResult{Domain: "sts.example", Policy: pol}},
		"plain.example": {Domain: "plain.example", Hosts: []engine.Host{{Name: "mx.plain.example", TLSAState: engine.DNSInsecure}}},
	}
}

func TestReport(t *testing.T) {
	clk := fakeclock.New(now)
	agg, err := tlsrpt.NewAggregator(tlsrpt.AggregatorConfig{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer agg.Close()
	c, err := collect.New(collect.Config{Validator: world(), Aggregator: agg})
	if err != nil {
		t.Fatal(err)
	}
	at := now.Add(-time.Hour)
	in := []collect.Input{
		{Domain: "DANE.example.", MXHost: "mx.dane.example", Success: true, Time: at},                                    // 0
		{Domain: "dane.example", MXHost: "mx.dane.example", Result: "tlsa-invalid", ReceivingIP: "192.0.2.25", Time: at}, // 1
		{Domain: "dane.example", MXHost: "alias.dane.example", Success: true, Time: at},                                  // 2: the TLSA base is the policy domain
		{Domain: "dane.example", Success: true, Time: at},                                                                // 3: refused, no MX host
		{Domain: "sts.example", MXHost: "mx1.sts.example", Result: "sts-webpki-invalid", Time: at},                       // 4
		{Domain: "plain.example", MXHost: "mx.plain.example", Success: true, Time: at},                                   // 5
		{Domain: "broken.example", MXHost: "mx.broken.example", Success: true, Time: at},                                 // 6: refused, validation failed
		{Domain: "plain.example", Result: "no-such-type", Time: at},                                                      // 7: refused
		{Domain: "plain.example", Success: true, Result: "tlsa-invalid", Time: at},                                       // 8: refused
		{Domain: "plain.example", Success: true},                                                                         // 9: refused, no time
		{Domain: "bad domain", Success: true, Time: at},                                                                  // 10: refused
		{Domain: "plain.example", Success: true, Time: now.Add(3 * time.Hour)},                                           // 11: refused, future
		{Domain: "plain.example", Result: "starttls-not-supported", ReceivingIP: "not-an-ip", Time: at},                  // 12: refused
	}
	accepted, refused, err := c.Report(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]string{3: "mx_host: required", 6: "could not be determined", 7: "not one of RFC 8460", 8: "a successful session has none",
		9: "time: missing", 10: "domain:", 11: "too far ahead", 12: "not an IP address"}
	if accepted != len(in)-len(want) || len(refused) != len(want) {
		t.Fatalf("accepted %d, refused %+v", accepted, refused)
	}
	for _, r := range refused {
		if !strings.Contains(r.Reason, want[r.Index]) {
			t.Errorf("item %d refused with %q, want %q", r.Index, r.Reason, want[r.Index])
		}
	}
	check := func(domain string, typ tlsrpt.PolicyType, succ, fail int64) tlsrpt.PolicyResults {
		t.Helper()
		live := agg.Live(domain)
		if len(live) != 1 || len(live[0].Policies) != 1 {
			t.Fatalf("%s: %+v", domain, live)
		}
		p := live[0].Policies[0]
		if p.Policy.Type != typ || p.Policy.Domain != domain || p.Summary != (tlsrpt.Summary{Successful: succ, Failed: fail}) {
			t.Fatalf("%s: %+v", domain, p)
		}
		return p
	}
	p := check("mx.dane.example", tlsrpt.PolicyTLSA, 1, 1)
	if strings.Join(p.Policy.Strings, ",") != "3 1 1 abcd" || strings.Join(p.Policy.MXHosts, ",") != "mx.dane.example" ||
		p.FailureDetails[0].ReceivingMX != "mx.dane.example" || p.FailureDetails[0].ReceivingIP != "192.0.2.25" {
		t.Errorf("DANE policy %+v", p)
	}
	check("mx.provider.example", tlsrpt.PolicyTLSA, 1, 0)
	p = check("sts.example", tlsrpt.PolicySTS, 0, 1)
	if strings.Join(p.Policy.MXHosts, ",") != "*.sts.example" || p.Policy.Strings[0] != "version: STSv1" || p.Policy.Strings[1] != "mode: enforce" {
		t.Errorf("STS policy %+v", p.Policy)
	}
	check("plain.example", tlsrpt.PolicyNone, 1, 0)

	if _, _, err := c.Report(context.Background(), make([]collect.Input, collect.MaxBatch+1)); err == nil {
		t.Error("an oversize batch was taken")
	}
}
