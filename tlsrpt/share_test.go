package tlsrpt_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/daned/daned/internal/fakeclock"
	"github.com/daned/daned/tlsrpt"
)

// cutShares counts sessions in an aggregator of its own (a replica) and
// returns its shares of day.
func cutShares(t *testing.T, maxDetails int, sessions ...tlsrpt.Session) tlsrpt.Shares {
	t.Helper()
	clk := fakeclock.New(day.Add(12 * time.Hour))
	a := newAggregator(t, tlsrpt.AggregatorConfig{Now: clk.Now, MaxDetails: maxDetails})
	a.Add(sessions...)
	cl, err := a.Cut(day.Add(24 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	s, err := cl.Shares(day)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestMerge: the replicas' counts of a policy add up to what one
// aggregator counting every session would report, details and the
// MaxDetails rule included.
func TestMerge(t *testing.T) {
	pa, pb := tlsaPolicy("mx.a.example"), tlsaPolicy("mx.b.example")
	at := day.Add(time.Hour)
	var all [3][]tlsrpt.Session
	for i := range 30 {
		r := i % 3
		all[r] = append(all[r], ok(at, pa), fail(at, pa, tlsrpt.ResultTLSAInvalid, fmt.Sprintf("192.0.2.%d", i%7)))
		if r == 1 {
			all[r] = append(all[r], fail(at, pb, tlsrpt.ResultDANERequired, "192.0.2.99"))
		}
	}
	const maxDetails = 3
	one := newAggregator(t, tlsrpt.AggregatorConfig{Now: fakeclock.New(day.Add(12 * time.Hour)).Now, MaxDetails: maxDetails})
	for _, s := range all {
		one.Add(s...)
	}
	want, err := one.Cut(day.Add(24 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var shares []tlsrpt.Shares
	for _, s := range all {
		shares = append(shares, cutShares(t, maxDetails, s...))
	}
	got, err := one.Merge(day, shares...)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want.Counts); g != w {
		t.Fatalf("merged:\n%s\nwant, as one aggregator counts:\n%s", g, w)
	}
	if shares[0].Digest() == shares[1].Digest() || shares[0].Digest() != cutShares(t, maxDetails, all[0]...).Digest() {
		t.Error("a digest must tell different counts apart and name equal ones alike")
	}
}

// TestMergeRefusesBadShares: a share of another policy, another range, or
// with counts that do not add up is refused.
func TestMergeRefusesBadShares(t *testing.T) {
	good := cutShares(t, 100, fail(day.Add(time.Hour), tlsaPolicy("mx.a.example"), tlsrpt.ResultTLSAInvalid, "192.0.2.1"))
	var key string
	var blob []byte
	for k, b := range good {
		key, blob = k, b
	}
	a := newAggregator(t, tlsrpt.AggregatorConfig{})
	tests := []struct {
		name   string
		start  time.Time
		shares tlsrpt.Shares
	}{
		{"moved to another policy", day, tlsrpt.Shares{tlsrpt.PolicyKey(tlsaPolicy("mx.b.example")): blob}},
		{"another range", day.Add(24 * time.Hour), good},
		{"not JSON", day, tlsrpt.Shares{key: []byte("{")}},
		{"failures without details", day, tlsrpt.Shares{key: without(t, blob, "details")}},
		{"negative", day, tlsrpt.Shares{key: with(t, blob, "success", -1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := a.Merge(tt.start, tt.shares); err == nil {
				t.Fatal("merged")
			}
		})
	}
	if _, err := a.Merge(day, good); err != nil {
		t.Fatalf("the good share: %v", err)
	}
}

func without(t *testing.T, blob []byte, field string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(blob, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m[field]; !ok {
		t.Fatalf("no %s in %s", field, blob)
	}
	delete(m, field)
	b, _ := json.Marshal(m)
	return b
}

func with(t *testing.T, blob []byte, field string, v any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(blob, &m); err != nil {
		t.Fatal(err)
	}
	m[field] = v
	b, _ := json.Marshal(m)
	return b
}
