package server

import (
	"strings"
	"testing"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/mtasts"
	danev1 "github.com/daned/daned/proto/dane/v1"
)

// The dane enums are mapped to the API's by value; these tests fail when
// the two drift apart.
func TestEnumsMirrorAPI(t *testing.T) {
	for v, name := range danev1.Reason_name {
		if got := dane.Reason(v).String(); "REASON_"+got != name {
			t.Errorf("dane.Reason(%d) = %s, API says %s", v, got, name)
		}
	}
	if n := len(danev1.Reason_name); dane.Reason(n).String() != "UNKNOWN" {
		t.Errorf("dane.Reason has values the API lacks (API has %d)", n)
	}
	for v, name := range danev1.Policy_name {
		if got := dane.Policy(v).String(); "POLICY_"+got != name {
			t.Errorf("dane.Policy(%d) = %s, API says %s", v, got, name)
		}
	}
	for v, name := range danev1.Action_name {
		if got := dane.Action(v).String(); "ACTION_"+got != name {
			t.Errorf("dane.Action(%d) = %s, API says %s", v, got, name)
		}
	}
	if !strings.HasPrefix(danev1.Reason_REASON_OK.String(), "REASON_") {
		t.Fatal("unexpected enum naming")
	}
}

// Package mtasts names its reasons as the API does; dane.ReasonNamed maps
// them. Each must exist in dane and the API, with the same RFC 8460 result
// type; and mtasts.Mode mirrors MtaStsMode by value.
func TestMTASTSEnumsMirrorAPI(t *testing.T) {
	for r := mtasts.ReasonNone + 1; r.String() != "UNKNOWN"; r++ {
		d := dane.ReasonNamed(r.String())
		if d == dane.ReasonUnspecified {
			t.Errorf("mtasts.%s has no dane.Reason of that name", r)
			continue
		}
		if _, ok := danev1.Reason_value["REASON_"+r.String()]; !ok {
			t.Errorf("mtasts.%s is not in the API", r)
		}
		if got := dane.StatusOf(d, false).TLSRPT; got != r.ResultType() {
			t.Errorf("dane.StatusOf(%s).TLSRPT = %q, mtasts says %q", d, got, r.ResultType())
		}
	}
	for v, name := range danev1.MtaStsMode_name {
		m := mtasts.Mode(v)
		want := "MTA_STS_MODE_" + strings.ToUpper(m.String())
		if m == mtasts.ModeUnspecified {
			want = "MTA_STS_MODE_UNSPECIFIED"
		}
		if want != name {
			t.Errorf("mtasts.Mode(%d) = %q, API says %s", v, m, name)
		}
	}
}
