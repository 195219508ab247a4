package deliver_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/daned/daned/tlsrpt"
	"github.com/daned/daned/tlsrpt/deliver"
)

// The report's period and the clock that dates mail.
var (
	begin    = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	end      = begin.Add(24*time.Hour - time.Second)
	fixedNow = time.Date(2026, 11, 25, 0, 7, 30, 0, time.UTC)
)

const (
	policyDomain = "example.com"
	submitter    = "reports.example"
	reportID     = "2026-11-24T00:00:00Z_example.com"
	fromAddr     = "tlsrpt@reports.example"
	// wantFile is the attachment name of RFC 8460 §5.1 for the report.
	wantFile = "reports.example!example.com!1795478400!1795564799!20261124T000000Zexamplecom.json.gz"
)

// testReport returns a report for policyDomain ready to deliver, and its
// JSON.
func testReport(t *testing.T) (deliver.Report, []byte) {
	t.Helper()
	rep := &tlsrpt.Report{
		OrganizationName: "Reports Example",
		DateRange:        tlsrpt.DateRange{Start: begin, End: end},
		ContactInfo:      "tlsrpt@" + submitter,
		ReportID:         reportID,
		Policies: []tlsrpt.PolicyResults{{
			Policy:  tlsrpt.Policy{Type: tlsrpt.PolicyTLSA, Strings: []string{"3 1 1 0123456789abcdef"}, Domain: "mx.example.com"},
			Summary: tlsrpt.Summary{Successful: 41, Failed: 1},
			FailureDetails: []tlsrpt.FailureDetail{{Result: tlsrpt.ResultTLSAInvalid, ReceivingMX: "mx.example.com",
				ReceivingIP: "192.0.2.25", Count: 1}},
		}},
	}
	gz, err := rep.Gzip()
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	return deliver.Report{PolicyDomain: policyDomain, Submitter: submitter, ReportID: reportID, Begin: begin, End: end, Gzip: gz}, js
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newDeliverer(t *testing.T, cfg deliver.Config) *deliver.Deliverer {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return fixedNow }
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	d, err := deliver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// wantFailure checks that err is a delivery *Error, permanent or not,
// with want in its message.
func wantFailure(t *testing.T, err error, permanent bool, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("delivered; want a failure with %q", want)
	}
	var de *deliver.Error
	if !errors.As(err, &de) {
		t.Fatalf("error %v is not a *deliver.Error", err)
	}
	if got := deliver.IsPermanent(err); got != permanent {
		t.Errorf("IsPermanent(%v) = %v, want %v", err, got, permanent)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	t.Logf("%v", err)
}
