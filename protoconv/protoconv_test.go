package protoconv_test

import (
	"testing"
	"time"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/mtasts"
	danev1 "github.com/daned/daned/proto/dane/v1"
	"github.com/daned/daned/protoconv"
)

func TestPolicySource(t *testing.T) {
	for s, want := range map[mtasts.Source]danev1.PolicySource{
		mtasts.SourceDANE:   danev1.PolicySource_POLICY_SOURCE_DANE,
		mtasts.SourceMTASTS: danev1.PolicySource_POLICY_SOURCE_MTA_STS,
		mtasts.SourceNone:   danev1.PolicySource_POLICY_SOURCE_NONE,
	} {
		if got := protoconv.PolicySource(s); got != want {
			t.Errorf("PolicySource(%v) = %v, want %v", s, got, want)
		}
	}
}

func TestMTASTS(t *testing.T) {
	at := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name string
		in   mtasts.PolicyResult
		want func(*danev1.MtaSts) bool
	}{
		{"enforced policy", mtasts.PolicyResult{RecordID: "abc", Policy: mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"*.example.com"}, MaxAge: time.Hour},
			Text: "version: STSv1\n", FetchedAt: at, Expires: at.Add(time.Hour)},
			func(m *danev1.MtaSts) bool {
				return m.GetMode() == danev1.MtaStsMode_MTA_STS_MODE_ENFORCE && m.GetRecordId() == "abc" && m.GetMaxAge().AsDuration() == time.Hour &&
					m.GetExpiresAt().AsTime().Equal(at.Add(time.Hour)) && m.GetFailure() == danev1.Reason_REASON_UNSPECIFIED
			}},
		{"fetch failed", mtasts.PolicyResult{Failure: mtasts.ReasonPolicyFetchFailed, Detail: "HTTP 404"},
			func(m *danev1.MtaSts) bool {
				return m.GetFailure() == danev1.Reason_REASON_STS_POLICY_FETCH_FAILED && m.GetTlsrptResultType() == "sts-policy-fetch-error" &&
					m.GetFetchedAt() == nil && m.GetMode() == danev1.MtaStsMode_MTA_STS_MODE_UNSPECIFIED
			}},
		{"invalid", mtasts.PolicyResult{Failure: mtasts.ReasonPolicyInvalid},
			func(m *danev1.MtaSts) bool { return m.GetFailure() == danev1.Reason_REASON_STS_POLICY_INVALID }},
		{"webpki", mtasts.PolicyResult{Failure: mtasts.ReasonWebPKIInvalid},
			func(m *danev1.MtaSts) bool { return m.GetFailure() == danev1.Reason_REASON_STS_WEBPKI_INVALID }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := protoconv.MTASTS(&tt.in); !tt.want(got) {
				t.Errorf("MTASTS = %v", got)
			}
		})
	}
}

func TestToProtoMTASTS(t *testing.T) {
	r := &engine.Result{Domain: "example.com", PolicySource: mtasts.SourceMTASTS, PolicySourceDetail: "why",
		MTASTS: &mtasts.PolicyResult{Policy: mtasts.Policy{Mode: mtasts.ModeTesting}},
		Hosts:  []engine.Host{{Name: "mx.example.com", Policy: dane.PolicyOpportunistic, Reason: dane.ReasonOK, Usable: true, STSFailure: dane.ReasonCertNotTrusted}}}
	out := protoconv.ToProto(r)
	if out.GetPolicySource() != danev1.PolicySource_POLICY_SOURCE_MTA_STS || out.GetPolicySourceDetail() != "why" ||
		out.GetMtaSts().GetMode() != danev1.MtaStsMode_MTA_STS_MODE_TESTING {
		t.Errorf("response %v", out)
	}
	if h := out.GetMxHosts()[0]; h.GetMtaStsFailure() != danev1.Reason_REASON_CERT_NOT_TRUSTED || h.GetMtaStsResultType() != "certificate-not-trusted" {
		t.Errorf("host %v", h)
	}
	if out := protoconv.ToProto(&engine.Result{Domain: "example.com"}); out.GetMtaSts() != nil {
		t.Errorf("mta_sts %v for a result without MTA-STS", out.GetMtaSts())
	}
}
