package soak_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/daned/daned/internal/faultdns"
	"github.com/daned/daned/internal/soak"
	"github.com/daned/daned/internal/testworld"
	danev1 "github.com/daned/daned/proto/dane/v1"
)

// TestDNSFaults breaks the resolver path (daned → fault proxy → Unbound)
// in each way faultdns knows, through daned as a service with its caches
// on. During a fault a domain not yet cached gets DEFER with the right
// reason, never DELIVER; a cached verdict keeps being served; once the
// fault ends daned recovers by itself within --failure-ttl.
func TestDNSFaults(t *testing.T) {
	const failureTTL = time.Second
	tests := []struct {
		name    string
		fault   faultdns.Fault
		only    []uint16
		reasons []danev1.Reason // any of these
	}{
		{name: "resolver down", fault: faultdns.Down, reasons: []danev1.Reason{danev1.Reason_REASON_TIMEOUT}},
		{name: "resolver slow", fault: faultdns.Slow, reasons: []danev1.Reason{danev1.Reason_REASON_TIMEOUT}},
		{name: "garbage answers", fault: faultdns.Garbage, reasons: []danev1.Reason{danev1.Reason_REASON_DNS_QUERY_FAILED}},
		{name: "truncated, no TCP answer", fault: faultdns.Truncate, reasons: []danev1.Reason{danev1.Reason_REASON_DNS_QUERY_FAILED}},
		{name: "SERVFAIL storm", fault: faultdns.ServFail, reasons: []danev1.Reason{danev1.Reason_REASON_DNS_QUERY_FAILED}},
		{name: "TLSA SERVFAIL", fault: faultdns.ServFail, only: []uint16{dns.TypeTLSA}, reasons: []danev1.Reason{danev1.Reason_REASON_TLSA_LOOKUP_FAILED}},
		{name: "TLSA timeouts", fault: faultdns.Down, only: []uint16{dns.TypeTLSA}, reasons: []danev1.Reason{danev1.Reason_REASON_TLSA_LOOKUP_FAILED, danev1.Reason_REASON_TIMEOUT}},
		{name: "address SERVFAIL", fault: faultdns.ServFail, only: []uint16{dns.TypeA, dns.TypeAAAA}, reasons: []danev1.Reason{danev1.Reason_REASON_DNS_QUERY_FAILED}},
	}
	specs := []testworld.ScenarioSpec{soak.DANEDomain("warm")}
	for i := range tests {
		specs = append(specs, soak.DANEDomain(fmt.Sprintf("fault%d", i)))
	}
	e := soak.Start(t, soak.Options{Scenarios: specs, FailureTTL: failureTTL, ResolverTimeout: 300 * time.Millisecond})
	e.Proxy.SetDelay(2 * time.Second) // Slow: past the resolver's attempts

	if r, _, err := e.Validate("warm.test", false, 10*time.Second); err != nil || r.GetAction() != danev1.Action_ACTION_DELIVER {
		t.Fatalf("warm.test: %v %v", r, err)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			domain := fmt.Sprintf("fault%d.test", i)
			e.Proxy.SetOnly(tt.only...)
			e.Proxy.Set(tt.fault)
			defer func() { e.Proxy.Set(faultdns.None); e.Proxy.SetOnly() }()

			for range 2 { // the second answer may come from the failure cache
				r, took, err := e.Validate(domain, false, 15*time.Second)
				if err != nil {
					t.Fatalf("%s: %v", domain, err)
				}
				if r.GetAction() != danev1.Action_ACTION_DEFER || !slices.Contains(tt.reasons, r.GetReason()) {
					t.Errorf("%s: %v %v (%s), want DEFER with one of %v", domain, r.GetAction(), r.GetReason(), r.GetStatusText(), tt.reasons)
				}
				if took > 10*time.Second {
					t.Errorf("%s: verdict after %v", domain, took)
				}
				t.Logf("%s during the fault: %v %v in %v (from cache %v): %s", domain, r.GetAction(), r.GetReason(), took.Round(time.Millisecond), r.GetFromCache(), r.GetStatusText())
			}
			// A verdict cached before the fault is still served.
			if r, took, err := e.Validate("warm.test", false, 5*time.Second); err != nil || r.GetAction() != danev1.Action_ACTION_DELIVER || !r.GetFromCache() {
				t.Errorf("warm.test during the fault: %v %v (from cache %v) after %v", r.GetStatusText(), err, r.GetFromCache(), took)
			}
			if _, faulted := e.Proxy.Stats(); faulted == 0 {
				t.Errorf("no query met the fault")
			}

			// Recovery: no restart, no flush; within the failure TTL.
			e.Proxy.Set(faultdns.None)
			ended := time.Now()
			deadline := ended.Add(failureTTL + 5*time.Second)
			for {
				r, _, err := e.Validate(domain, false, 10*time.Second)
				if err == nil && r.GetAction() == danev1.Action_ACTION_DELIVER {
					t.Logf("%s recovered %v after the fault ended", domain, time.Since(ended).Round(time.Millisecond))
					break
				}
				if err == nil && r.GetAction() != danev1.Action_ACTION_DEFER {
					t.Fatalf("%s after the fault: %v %s", domain, r.GetAction(), r.GetStatusText())
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s did not recover within %v of the fault's end: %v %v", domain, deadline.Sub(ended), r.GetStatusText(), err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}
