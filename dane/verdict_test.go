package dane_test

import (
	"strings"
	"testing"

	"github.com/daned/daned/dane"
)

func TestStatusOf(t *testing.T) {
	tests := []struct {
		name   string
		reason dane.Reason
		inDNS  bool
		want   dane.SMTPStatus
	}{
		{"starttls missing", dane.ReasonSTARTTLSNotOffered, false, dane.SMTPStatus{Code: "4.7.321", Short: "starttls-not-supported", TLSRPT: "starttls-not-supported"}},
		{"handshake failed", dane.ReasonTLSHandshakeFailed, false, dane.SMTPStatus{Code: "4.7.321", Short: "starttls-not-supported", TLSRPT: "starttls-not-supported"}},
		{"expired under DANE-TA", dane.ReasonCertExpired, false, dane.SMTPStatus{Code: "4.7.322", Short: "certificate-expired", TLSRPT: "certificate-expired"}},
		{"no match", dane.ReasonTLSANoMatch, false, dane.SMTPStatus{Code: "4.7.323", Short: "tlsa-invalid", TLSRPT: "tlsa-invalid"}},
		{"name mismatch", dane.ReasonCertNameMismatch, false, dane.SMTPStatus{Code: "4.7.323", Short: "tlsa-invalid", TLSRPT: "certificate-host-mismatch"}},
		{"not yet valid", dane.ReasonCertNotYetValid, false, dane.SMTPStatus{Code: "4.7.323", Short: "tlsa-invalid", TLSRPT: "certificate-not-trusted"}},
		{"chain invalid", dane.ReasonChainInvalid, false, dane.SMTPStatus{Code: "4.7.323", Short: "tlsa-invalid", TLSRPT: "validation-failure"}},
		{"bogus", dane.ReasonDNSSECBogus, true, dane.SMTPStatus{Code: "4.7.324", Short: "dnssec-invalid", TLSRPT: "dnssec-invalid"}},
		{"TLSA lookup failed", dane.ReasonTLSALookupFailed, true, dane.SMTPStatus{Code: "4.7.324", Short: "dnssec-invalid", TLSRPT: "dnssec-invalid"}},
		{"DNS failed", dane.ReasonDNSQueryFailed, true, dane.SMTPStatus{Code: "4.4.312", Short: "dns-query-failed"}},
		{"DNS timeout", dane.ReasonTimeout, true, dane.SMTPStatus{Code: "4.4.312", Short: "dns-query-failed"}},
		{"probe timeout", dane.ReasonTimeout, false, dane.SMTPStatus{Code: "4.4.1", Short: "connection-timed-out"}},
		{"refused", dane.ReasonConnectFailed, false, dane.SMTPStatus{Code: "4.4.1", Short: "connection-failed"}},
		{"no addresses", dane.ReasonNoAddresses, true, dane.SMTPStatus{Code: "4.4.4", Short: "no-usable-address"}},
		{"forbidden target", dane.ReasonTargetForbidden, false, dane.SMTPStatus{Code: "4.4.4", Short: "no-usable-address"}},
		{"nxdomain", dane.ReasonNXDomain, true, dane.SMTPStatus{Code: "5.1.2", Short: "domain-not-found"}},
		{"null MX", dane.ReasonNullMX, true, dane.SMTPStatus{Code: "5.1.10", Short: "null-mx"}},
		{"smtp error", dane.ReasonSMTPError, false, dane.SMTPStatus{Code: "4.4.2", Short: "smtp-error"}},
		{"ok", dane.ReasonOK, false, dane.SMTPStatus{}},
		{"MTA-STS: not trusted", dane.ReasonCertNotTrusted, false, dane.SMTPStatus{Code: "4.7.5", Short: "certificate-not-trusted", TLSRPT: "certificate-not-trusted"}},
		{"MTA-STS: MX not in policy", dane.ReasonMXNotInPolicy, false, dane.SMTPStatus{Code: "4.7.5", Short: "mx-not-in-policy", TLSRPT: "validation-failure"}},
		{"MTA-STS: fetch failed", dane.ReasonSTSPolicyFetchFailed, false, dane.SMTPStatus{Short: "sts-policy-fetch-error", TLSRPT: "sts-policy-fetch-error"}},
		{"MTA-STS: invalid policy", dane.ReasonSTSPolicyInvalid, false, dane.SMTPStatus{Short: "sts-policy-invalid", TLSRPT: "sts-policy-invalid"}},
		{"MTA-STS: policy host not WebPKI-valid", dane.ReasonSTSWebPKIInvalid, false, dane.SMTPStatus{Short: "sts-webpki-invalid", TLSRPT: "sts-webpki-invalid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dane.StatusOf(tt.reason, tt.inDNS); got != tt.want {
				t.Fatalf("StatusOf(%v, %v) = %+v, want %+v", tt.reason, tt.inDNS, got, tt.want)
			}
		})
	}
}

func TestFail(t *testing.T) {
	tests := []struct {
		name       string
		reason     dane.Reason
		wantAction dane.Action
		wantPolicy dane.Policy
	}{
		{"nxdomain is permanent", dane.ReasonNXDomain, dane.ActionReject, dane.PolicyNoMail},
		{"null MX is permanent", dane.ReasonNullMX, dane.ActionReject, dane.PolicyNoMail},
		{"bogus MX is temporary", dane.ReasonDNSSECBogus, dane.ActionDefer, dane.PolicyUnspecified},
		{"timeout is temporary", dane.ReasonTimeout, dane.ActionDefer, dane.PolicyUnspecified},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := dane.Fail(tt.reason, true, "the detail")
			if v.Action != tt.wantAction || v.Policy != tt.wantPolicy || v.Reason != tt.reason {
				t.Fatalf("Fail = %+v", v)
			}
			if !strings.HasPrefix(v.Text, v.Status.Short+": ") || !strings.HasSuffix(v.Text, "the detail") {
				t.Fatalf("Text = %q", v.Text)
			}
		})
	}
}

func TestHostPolicy(t *testing.T) {
	usable := dane.AssessedRecord{Record: dane.Record{Usage: 3, Selector: 1, MatchingType: 1}, Usable: true}
	unusable := dane.AssessedRecord{Record: dane.Record{Usage: 1, Selector: 1, MatchingType: 1}, Why: "PKIX-EE"}
	tests := []struct {
		name   string
		secure bool
		rrset  []dane.AssessedRecord
		want   dane.Policy
	}{
		{"secure with a usable record", true, []dane.AssessedRecord{unusable, usable}, dane.PolicyDANERequired},
		{"secure, all unusable", true, []dane.AssessedRecord{unusable}, dane.PolicyTLSRequired},
		{"secure denial", true, nil, dane.PolicyOpportunistic},
		{"insecure records", false, []dane.AssessedRecord{usable}, dane.PolicyOpportunistic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dane.HostPolicy(tt.secure, tt.rrset); got != tt.want {
				t.Fatalf("HostPolicy = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStatusOfSTS(t *testing.T) {
	tests := []struct {
		reason dane.Reason
		want   dane.SMTPStatus
	}{
		{dane.ReasonCertNameMismatch, dane.SMTPStatus{Code: "4.7.5", Short: "certificate-host-mismatch", TLSRPT: "certificate-host-mismatch"}},
		{dane.ReasonCertExpired, dane.SMTPStatus{Code: "4.7.5", Short: "certificate-expired", TLSRPT: "certificate-expired"}},
		{dane.ReasonCertNotTrusted, dane.SMTPStatus{Code: "4.7.5", Short: "certificate-not-trusted", TLSRPT: "certificate-not-trusted"}},
		{dane.ReasonMXNotInPolicy, dane.SMTPStatus{Code: "4.7.5", Short: "mx-not-in-policy", TLSRPT: "validation-failure"}},
		{dane.ReasonSTARTTLSNotOffered, dane.SMTPStatus{Code: "4.7.321", Short: "starttls-not-supported", TLSRPT: "starttls-not-supported"}},
		{dane.ReasonConnectFailed, dane.SMTPStatus{Code: "4.4.1", Short: "connection-failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.reason.String(), func(t *testing.T) {
			if got := dane.StatusOfSTS(tt.reason, false); got != tt.want {
				t.Fatalf("StatusOfSTS(%v) = %+v, want %+v", tt.reason, got, tt.want)
			}
		})
	}
}

func TestReasonNamed(t *testing.T) {
	for r := dane.ReasonUnspecified; r.String() != "UNKNOWN"; r++ {
		if got := dane.ReasonNamed(r.String()); got != r {
			t.Errorf("ReasonNamed(%q) = %v, want %v", r.String(), got, r)
		}
	}
	if got := dane.ReasonNamed("NO_SUCH_REASON"); got != dane.ReasonUnspecified {
		t.Errorf("ReasonNamed of an unknown name = %v, want UNSPECIFIED", got)
	}
}

func TestDecide(t *testing.T) {
	ok := func(p dane.Policy) dane.Outcome { return dane.Outcome{Policy: p, Usable: true, Reason: dane.ReasonOK} }
	bad := func(p dane.Policy, r dane.Reason, detail string) dane.Outcome {
		return dane.Outcome{Policy: p, Reason: r, Detail: detail}
	}
	tests := []struct {
		name       string
		mxSecure   bool
		hosts      []dane.Outcome
		wantAction dane.Action
		wantPolicy dane.Policy
		wantReason dane.Reason
		wantText   string
	}{
		{
			name: "one DANE host authenticates", mxSecure: true,
			hosts:      []dane.Outcome{ok(dane.PolicyDANERequired)},
			wantAction: dane.ActionDeliver, wantPolicy: dane.PolicyDANERequired, wantReason: dane.ReasonOK,
		},
		{
			name: "first host fails, second authenticates", mxSecure: true,
			hosts:      []dane.Outcome{bad(dane.PolicyDANERequired, dane.ReasonTLSANoMatch, "mx1"), ok(dane.PolicyDANERequired)},
			wantAction: dane.ActionDeliver, wantPolicy: dane.PolicyDANERequired, wantReason: dane.ReasonOK,
		},
		{
			name: "partial coverage is opportunistic for the domain", mxSecure: true,
			hosts:      []dane.Outcome{ok(dane.PolicyDANERequired), ok(dane.PolicyOpportunistic)},
			wantAction: dane.ActionDeliver, wantPolicy: dane.PolicyOpportunistic, wantReason: dane.ReasonOK,
		},
		{
			name: "insecure MX never reported as DANE", mxSecure: false,
			hosts:      []dane.Outcome{ok(dane.PolicyDANERequired)},
			wantAction: dane.ActionDeliver, wantPolicy: dane.PolicyOpportunistic, wantReason: dane.ReasonOK,
		},
		{
			name: "all DANE hosts fail: DANE failure named over connectivity", mxSecure: true,
			hosts: []dane.Outcome{
				bad(dane.PolicyDANERequired, dane.ReasonConnectFailed, "mx1 refused"),
				bad(dane.PolicyDANERequired, dane.ReasonTLSANoMatch, "mx2 no match"),
			},
			wantAction: dane.ActionDefer, wantPolicy: dane.PolicyDANERequired, wantReason: dane.ReasonTLSANoMatch,
			wantText: "tlsa-invalid: mx2 no match",
		},
		{
			name: "only connectivity failures: the most preferred is named", mxSecure: true,
			hosts: []dane.Outcome{
				bad(dane.PolicyOpportunistic, dane.ReasonConnectFailed, "mx1 refused"),
				bad(dane.PolicyOpportunistic, dane.ReasonTimeout, "mx2 timed out"),
			},
			wantAction: dane.ActionDefer, wantPolicy: dane.PolicyOpportunistic, wantReason: dane.ReasonConnectFailed,
			wantText: "connection-failed: mx1 refused",
		},
		{
			name: "TLSA lookup failure of the only host defers", mxSecure: true,
			hosts:      []dane.Outcome{{Reason: dane.ReasonTLSALookupFailed, InDNS: true, Detail: "servfail"}},
			wantAction: dane.ActionDefer, wantPolicy: dane.PolicyUnspecified, wantReason: dane.ReasonTLSALookupFailed,
			wantText: "dnssec-invalid: servfail",
		},
		{
			name: "MTA-STS enforced on an unsigned domain stands", mxSecure: false,
			hosts:      []dane.Outcome{ok(dane.PolicyMTASTSRequired), ok(dane.PolicyMTASTSRequired)},
			wantAction: dane.ActionDeliver, wantPolicy: dane.PolicyMTASTSRequired, wantReason: dane.ReasonOK,
		},
		{
			name: "MTA-STS host refused: its own status, named over connectivity", mxSecure: false,
			hosts: []dane.Outcome{
				{Policy: dane.PolicyMTASTSRequired, Reason: dane.ReasonConnectFailed, Detail: "mx1 refused", MTASTS: true},
				{Policy: dane.PolicyMTASTSRequired, Reason: dane.ReasonCertNameMismatch, Detail: "mx2 names another host", MTASTS: true},
			},
			wantAction: dane.ActionDefer, wantPolicy: dane.PolicyMTASTSRequired, wantReason: dane.ReasonCertNameMismatch,
			wantText: "certificate-host-mismatch: mx2 names another host",
		},
		{
			name: "MTA-STS host beside an opportunistic one: opportunistic", mxSecure: false,
			hosts:      []dane.Outcome{ok(dane.PolicyMTASTSRequired), ok(dane.PolicyOpportunistic)},
			wantAction: dane.ActionDeliver, wantPolicy: dane.PolicyOpportunistic, wantReason: dane.ReasonOK,
		},
		{
			name: "no hosts at all", mxSecure: true,
			wantAction: dane.ActionDefer, wantReason: dane.ReasonNoAddresses,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := dane.Decide(tt.mxSecure, tt.hosts)
			if v.Action != tt.wantAction || v.Policy != tt.wantPolicy || v.Reason != tt.wantReason {
				t.Fatalf("Decide = action %v policy %v reason %v, want %v %v %v", v.Action, v.Policy, v.Reason, tt.wantAction, tt.wantPolicy, tt.wantReason)
			}
			if tt.wantText != "" && v.Text != tt.wantText {
				t.Fatalf("Text = %q, want %q", v.Text, tt.wantText)
			}
			if v.Action == dane.ActionDeliver && (v.Text != "" || v.Status.Code != "") {
				t.Fatalf("a DELIVER verdict carries status %+v %q", v.Status, v.Text)
			}
		})
	}
}
