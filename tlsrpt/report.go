package tlsrpt

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"time"
)

// Report is the JSON report of RFC 8460 §4.4 for one policy domain and
// one period.
type Report struct {
	OrganizationName string          `json:"organization-name"`
	DateRange        DateRange       `json:"date-range"`
	ContactInfo      string          `json:"contact-info"`
	ReportID         string          `json:"report-id"`
	Policies         []PolicyResults `json:"policies"`
}

// DateRange is the report's period, RFC 3339 date-times in UTC.
type DateRange struct {
	Start time.Time `json:"start-datetime"`
	End   time.Time `json:"end-datetime"`
}

// PolicyResults are the sessions of one policy in a report.
type PolicyResults struct {
	Policy         Policy          `json:"policy"`
	Summary        Summary         `json:"summary"`
	FailureDetails []FailureDetail `json:"failure-details,omitempty"`
}

// Summary counts a policy's sessions.
type Summary struct {
	Successful int64 `json:"total-successful-session-count"`
	Failed     int64 `json:"total-failure-session-count"`
}

// FailureDetail is one kind of failure of a policy and how many sessions
// had it: failures equal on every field but the count are one detail.
type FailureDetail struct {
	Result         ResultType `json:"result-type"`
	SendingMTAIP   string     `json:"sending-mta-ip,omitempty"`
	ReceivingMX    string     `json:"receiving-mx-hostname,omitempty"`
	ReceivingHELO  string     `json:"receiving-mx-helo,omitempty"`
	ReceivingIP    string     `json:"receiving-ip,omitempty"`
	Count          int64      `json:"failed-session-count"`
	AdditionalInfo string     `json:"additional-information,omitempty"`
	FailureCode    string     `json:"failure-reason-code,omitempty"`
}

// MarshalJSON writes the range's times as RFC 3339 in UTC, to the second.
func (d DateRange) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Start string `json:"start-datetime"`
		End   string `json:"end-datetime"`
	}{d.Start.UTC().Format(time.RFC3339), d.End.UTC().Format(time.RFC3339)})
}

// Gzip returns the report as gzip-compressed JSON, the form both
// delivery methods send (RFC 8460 §5.3, application/tlsrpt+gzip).
func (r *Report) Gzip() ([]byte, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(body); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
