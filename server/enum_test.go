package server

import (
	"strings"
	"testing"

	"github.com/daned/daned/dane"
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
