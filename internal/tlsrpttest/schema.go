// Package tlsrpttest checks TLS-RPT reports against RFC 8460 §4.4 for
// the project's tests, and makes the sessions they count.
package tlsrpttest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"
)

// Gunzip returns the JSON of a gzip-compressed report.
func Gunzip(gz []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(zr, 64<<20))
}

var resultTypes = []string{"starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
	"certificate-not-trusted", "validation-failure", "tlsa-invalid", "dnssec-invalid", "dane-required",
	"sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid"}

// Check returns why a report's JSON breaks the rules of RFC 8460 §4.4
// (its JSON schema, §4.4's field definitions and §4.3's result types), or
// nil: every required field present with its type, RFC 3339 date-times,
// the range's start before its end, known policy and result types,
// policy-domain always present, counts non-negative integers and
// failure details adding up to no more than the failure count, and no
// field that the RFC does not define.
func Check(report []byte) error {
	dec := json.NewDecoder(bytes.NewReader(report))
	dec.UseNumber()
	var r map[string]any
	if err := dec.Decode(&r); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	if err := fields(r, "report", []string{"organization-name", "date-range", "contact-info", "report-id", "policies"}, nil); err != nil {
		return err
	}
	for _, k := range []string{"organization-name", "contact-info", "report-id"} {
		if s, ok := r[k].(string); !ok || s == "" {
			return fmt.Errorf("%s: want a non-empty string, have %v", k, r[k])
		}
	}
	dr, ok := r["date-range"].(map[string]any)
	if !ok {
		return fmt.Errorf("date-range: want an object")
	}
	if err := fields(dr, "date-range", []string{"start-datetime", "end-datetime"}, nil); err != nil {
		return err
	}
	start, err1 := rfc3339(dr["start-datetime"])
	end, err2 := rfc3339(dr["end-datetime"])
	if err1 != nil || err2 != nil || !start.Before(end) {
		return fmt.Errorf("date-range %v – %v: want RFC 3339 date-times, start before end (%v %v)", dr["start-datetime"], dr["end-datetime"], err1, err2)
	}
	pols, ok := r["policies"].([]any)
	if !ok || len(pols) == 0 {
		return fmt.Errorf("policies: want a non-empty array")
	}
	for i, p := range pols {
		if err := checkPolicy(p); err != nil {
			return fmt.Errorf("policies[%d]: %w", i, err)
		}
	}
	return nil
}

func checkPolicy(v any) error {
	p, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("want an object")
	}
	if err := fields(p, "policy entry", []string{"policy", "summary"}, []string{"failure-details"}); err != nil {
		return err
	}
	pol, ok := p["policy"].(map[string]any)
	if !ok {
		return fmt.Errorf("policy: want an object")
	}
	if err := fields(pol, "policy", []string{"policy-type", "policy-domain"}, []string{"policy-string", "mx-host"}); err != nil {
		return err
	}
	pt, _ := pol["policy-type"].(string)
	if !slices.Contains([]string{"tlsa", "sts", "no-policy-found"}, pt) {
		return fmt.Errorf("policy-type %v", pol["policy-type"])
	}
	if d, ok := pol["policy-domain"].(string); !ok || d == "" {
		return fmt.Errorf("policy-domain: want a non-empty string")
	}
	for _, k := range []string{"policy-string", "mx-host"} {
		if x, ok := pol[k]; ok {
			if err := strings(x); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		}
	}
	sum, ok := p["summary"].(map[string]any)
	if !ok {
		return fmt.Errorf("summary: want an object")
	}
	if err := fields(sum, "summary", []string{"total-successful-session-count", "total-failure-session-count"}, nil); err != nil {
		return err
	}
	succ, err1 := count(sum["total-successful-session-count"])
	fail, err2 := count(sum["total-failure-session-count"])
	if err1 != nil || err2 != nil {
		return fmt.Errorf("summary counts: %v %v", err1, err2)
	}
	_ = succ
	var detailed int64
	if fd, ok := p["failure-details"]; ok {
		arr, ok := fd.([]any)
		if !ok {
			return fmt.Errorf("failure-details: want an array")
		}
		for i, d := range arr {
			m, ok := d.(map[string]any)
			if !ok {
				return fmt.Errorf("failure-details[%d]: want an object", i)
			}
			if err := fields(m, "failure detail", []string{"result-type", "failed-session-count"},
				[]string{"sending-mta-ip", "receiving-mx-hostname", "receiving-mx-helo", "receiving-ip", "additional-information", "failure-reason-code"}); err != nil {
				return fmt.Errorf("failure-details[%d]: %w", i, err)
			}
			if rt, _ := m["result-type"].(string); !slices.Contains(resultTypes, rt) {
				return fmt.Errorf("failure-details[%d]: result-type %v is not one of RFC 8460 §4.3", i, m["result-type"])
			}
			n, err := count(m["failed-session-count"])
			if err != nil || n == 0 {
				return fmt.Errorf("failure-details[%d]: failed-session-count %v", i, m["failed-session-count"])
			}
			detailed += n
			for _, k := range []string{"sending-mta-ip", "receiving-mx-hostname", "receiving-mx-helo", "receiving-ip", "additional-information", "failure-reason-code"} {
				if x, ok := m[k]; ok {
					if _, ok := x.(string); !ok {
						return fmt.Errorf("failure-details[%d]: %s: want a string", i, k)
					}
				}
			}
		}
	}
	if detailed > fail {
		return fmt.Errorf("failure details count %d sessions, the summary %d failures", detailed, fail)
	}
	return nil
}

// fields checks that m has every required key and no key outside
// required and optional.
func fields(m map[string]any, what string, required, optional []string) error {
	for _, k := range required {
		if _, ok := m[k]; !ok {
			return fmt.Errorf("%s: %q missing", what, k)
		}
	}
	for k := range m {
		if !slices.Contains(required, k) && !slices.Contains(optional, k) {
			return fmt.Errorf("%s: %q is not a field of RFC 8460 §4.4", what, k)
		}
	}
	return nil
}

func rfc3339(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, fmt.Errorf("want a string")
	}
	return time.Parse(time.RFC3339, s)
}

func count(v any) (int64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("want a number, have %v", v)
	}
	i, err := n.Int64()
	if err != nil || i < 0 {
		return 0, fmt.Errorf("want a non-negative integer, have %v", v)
	}
	return i, nil
}

func strings(v any) error {
	arr, ok := v.([]any)
	if !ok {
		return fmt.Errorf("want an array of strings")
	}
	for _, x := range arr {
		if _, ok := x.(string); !ok {
			return fmt.Errorf("want an array of strings")
		}
	}
	return nil
}
