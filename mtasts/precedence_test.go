package mtasts_test

import (
	"fmt"
	"strings"
	"testing"

	m "github.com/daned/daned/mtasts"
)

// TestDecide is the whole precedence table: DANE state × MTA-STS state.
// The rows to read first: a DANE failure (temp, bogus) defers whatever
// MTA-STS says, and a domain with DANE (required, partial) ignores
// MTA-STS, even an enforced policy.
func TestDecide(t *testing.T) {
	type want struct {
		source m.Source
		defer_ bool
		noTLSA m.Rule
		report m.Reason
	}
	var (
		dane     = want{m.SourceDANE, false, m.RuleOpportunistic, m.ReasonNone}
		deferAll = want{m.SourceDANE, true, m.RuleUnusable, m.ReasonNone}
		enforce  = want{m.SourceMTASTS, false, m.RuleSTSEnforce, m.ReasonNone}
		testing_ = want{m.SourceMTASTS, false, m.RuleSTSTesting, m.ReasonNone}
		opp      = want{m.SourceNone, false, m.RuleOpportunistic, m.ReasonNone}
		oppFetch = want{m.SourceNone, false, m.RuleOpportunistic, m.ReasonPolicyFetchFailed}
		oppPKI   = want{m.SourceNone, false, m.RuleOpportunistic, m.ReasonWebPKIInvalid}
		oppInval = want{m.SourceNone, false, m.RuleOpportunistic, m.ReasonPolicyInvalid}
	)
	sts := []m.STSState{m.STSEnforce, m.STSTesting, m.STSNone, m.STSFetchError, m.STSWebPKIInvalid, m.STSInvalid, m.STSAbsent}
	table := []struct {
		dane m.DANEState
		//   enforce, testing, none, fetch error, webpki invalid, invalid, absent
		want [7]want
	}{
		{m.DANERequired, [7]want{dane, dane, dane, dane, dane, dane, dane}},
		{m.DANEPartial, [7]want{dane, dane, dane, dane, dane, dane, dane}},
		{m.DANEAbsent, [7]want{enforce, testing_, opp, oppFetch, oppPKI, oppInval, opp}},
		{m.DANEUnsigned, [7]want{enforce, testing_, opp, oppFetch, oppPKI, oppInval, opp}},
		{m.DANETemp, [7]want{deferAll, deferAll, deferAll, deferAll, deferAll, deferAll, deferAll}},
		{m.DANEBogus, [7]want{deferAll, deferAll, deferAll, deferAll, deferAll, deferAll, deferAll}},
		{m.DANEUnknown, [7]want{deferAll, deferAll, deferAll, deferAll, deferAll, deferAll, deferAll}},
	}
	for _, row := range table {
		for i, s := range sts {
			t.Run(fmt.Sprintf("%s×%s", row.dane, s), func(t *testing.T) {
				d := m.Decide(row.dane, s)
				got := want{d.Source, d.Defer, d.NoTLSA, d.Report}
				if got != row.want[i] {
					t.Fatalf("Decide = %+v, want %+v", got, row.want[i])
				}
				if !strings.Contains(d.Why, "RFC ") {
					t.Errorf("Why %q cites no RFC", d.Why)
				}
				// A host with a secure TLSA RRset is judged by DANE only,
				// whatever MTA-STS says, unless DANE itself failed.
				if h := d.Host(m.HostTLSASecure); d.Defer && h != m.RuleUnusable || !d.Defer && h != m.RuleDANE {
					t.Errorf("Host(secure TLSA) = %v", h)
				}
				// A failed TLSA lookup is never rescued by MTA-STS.
				if h := d.Host(m.HostTLSAFailed); h != m.RuleUnusable {
					t.Errorf("Host(TLSA failed) = %v, want unusable", h)
				}
				if h := d.Host(m.HostTLSAUnknown); h != m.RuleUnusable {
					t.Errorf("Host(unknown) = %v, want unusable", h)
				}
				if h := d.Host(m.HostNoTLSA); h != d.NoTLSA {
					t.Errorf("Host(no TLSA) = %v, want %v", h, d.NoTLSA)
				}
			})
		}
	}
}

func TestStateOf(t *testing.T) {
	for mode, want := range map[m.Mode]m.STSState{
		m.ModeEnforce: m.STSEnforce, m.ModeTesting: m.STSTesting, m.ModeNone: m.STSNone, m.ModeUnspecified: m.STSAbsent,
	} {
		if got := m.StateOf(mode); got != want {
			t.Errorf("StateOf(%v) = %v, want %v", mode, got, want)
		}
	}
}

func TestPrecedenceNames(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{m.DANEAbsent.String(), "absent-authenticated"},
		{m.DANEState(42).String(), "invalid"},
		{m.STSFetchError.String(), "fetch-error"},
		{m.SourceMTASTS.String(), "MTA_STS"},
		{m.SourceDANE.String(), "DANE"},
		{m.SourceNone.String(), "NONE"},
		{m.RuleSTSEnforce.String(), "mta-sts-enforce"},
	} {
		if tt.got != tt.want {
			t.Errorf("%q, want %q", tt.got, tt.want)
		}
	}
}
