package mtasts_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/daned/daned/mtasts"
)

func TestParsePolicy(t *testing.T) {
	for _, tt := range []struct {
		name    string
		text    string
		want    mtasts.Policy
		wantErr string // a substring of the error; "" means valid
	}{
		{
			name: "RFC 8461 §3.2 example, CRLF",
			text: "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n",
			want: mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"mail.example.com", "*.example.net", "backupmx.example.com"}, MaxAge: 604800 * time.Second},
		},
		{
			name: "LF, any order, no final newline",
			text: "max_age: 86400\nmx: mx.example.com\nmode: testing\nversion: STSv1",
			want: mtasts.Policy{Mode: mtasts.ModeTesting, MX: []string{"mx.example.com"}, MaxAge: 86400 * time.Second},
		},
		{
			name: "mixed line endings, tabs, blank lines, no space after ':'",
			text: "version:STSv1\r\n\nmode:\tenforce \t\n  \r\nmx:MX.Example.COM.\nmax_age:  0\n",
			want: mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"mx.example.com"}, MaxAge: 0},
		},
		{
			name: "mode none needs no mx",
			text: "version: STSv1\nmode: none\nmax_age: 86400\n",
			want: mtasts.Policy{Mode: mtasts.ModeNone, MaxAge: 86400 * time.Second},
		},
		{
			name: "unknown keys ignored, whatever their value",
			text: "version: STSv1\nmode: enforce\nx-note: anything, even ünïcode: here\nmx: a.example\nmax_age: 1\n",
			want: mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"a.example"}, MaxAge: time.Second},
		},
		{
			name: "first version, mode and max_age win",
			text: "version: STSv1\nmode: testing\nmode: enforce\nmx: a.example\nmax_age: 5\nmax_age: 6\nversion: STSv2\n",
			want: mtasts.Policy{Mode: mtasts.ModeTesting, MX: []string{"a.example"}, MaxAge: 5 * time.Second},
		},
		{
			name: "max_age capped at 31557600",
			text: "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 9999999999\n",
			want: mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"a.example"}, MaxAge: mtasts.MaxMaxAge},
		},
		{
			name: "max_age exactly the cap",
			text: "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557600\n",
			want: mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"a.example"}, MaxAge: 31557600 * time.Second},
		},
		{name: "empty", text: "", wantErr: "no \"version: STSv1\" line"},
		{name: "no version", text: "mode: enforce\nmx: a.example\nmax_age: 1\n", wantErr: "no \"version: STSv1\" line"},
		{name: "wrong version", text: "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n", wantErr: "line 1: version \"STSv2\", want STSv1"},
		{name: "version is case-sensitive", text: "version: stsv1\nmode: enforce\nmx: a.example\nmax_age: 1\n", wantErr: "want STSv1"},
		{name: "keys are case-sensitive", text: "Version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n", wantErr: "no \"version: STSv1\" line"},
		{name: "no mode", text: "version: STSv1\nmx: a.example\nmax_age: 1\n", wantErr: "no mode line"},
		{name: "bad mode", text: "version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1\n", wantErr: "line 2: mode \"Enforce\" is not enforce, testing or none"},
		{name: "no max_age", text: "version: STSv1\nmode: enforce\nmx: a.example\n", wantErr: "no max_age line"},
		{name: "negative max_age", text: "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n", wantErr: "not 1 to 10 digits"},
		{name: "11 digits", text: "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 00000000001\n", wantErr: "not 1 to 10 digits"},
		{name: "max_age with a unit", text: "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1d\n", wantErr: "not 1 to 10 digits"},
		{name: "enforce without mx", text: "version: STSv1\nmode: enforce\nmax_age: 1\n", wantErr: "mode enforce needs at least one mx line"},
		{name: "testing without mx", text: "version: STSv1\nmode: testing\nmax_age: 1\n", wantErr: "mode testing needs at least one mx line"},
		{name: "IPv4 mx", text: "version: STSv1\nmode: enforce\nmx: 192.0.2.1\nmax_age: 1\n", wantErr: "line 3: mx \"192.0.2.1\": an IP address"},
		{name: "IPv6 mx", text: "version: STSv1\nmode: enforce\nmx: 2001:db8::1\nmax_age: 1\n", wantErr: "an IP address"},
		{name: "bracketed mx", text: "version: STSv1\nmode: enforce\nmx: [192.0.2.1]\nmax_age: 1\n", wantErr: "an IP address"},
		{name: "wildcard inside", text: "version: STSv1\nmode: enforce\nmx: mail.*.example\nmax_age: 1\n", wantErr: "wildcard is allowed only as the whole left-most label"},
		{name: "partial wildcard label", text: "version: STSv1\nmode: enforce\nmx: mx*.example\nmax_age: 1\n", wantErr: "wildcard"},
		{name: "bare wildcard", text: "version: STSv1\nmode: enforce\nmx: *\nmax_age: 1\n", wantErr: "wildcard"},
		{name: "empty mx", text: "version: STSv1\nmode: enforce\nmx:\nmax_age: 1\n", wantErr: "empty mx pattern"},
		{name: "U-label mx", text: "version: STSv1\nmode: enforce\nmx: bücher.example\nmax_age: 1\n", wantErr: "use A-labels"},
		{name: "underscore mx", text: "version: STSv1\nmode: enforce\nmx: a_b.example\nmax_age: 1\n", wantErr: "only letters, digits and hyphens"},
		{name: "hyphen at a label's end", text: "version: STSv1\nmode: enforce\nmx: a-.example\nmax_age: 1\n", wantErr: "must start and end"},
		{name: "empty label", text: "version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 1\n", wantErr: "empty label"},
		{name: "label too long", text: "version: STSv1\nmode: enforce\nmx: " + strings.Repeat("a", 64) + ".example\nmax_age: 1\n", wantErr: "longer than 63"},
		{name: "line without colon", text: "version: STSv1\nmode enforce\n", wantErr: "line 2: \"mode enforce\" is not \"key: value\""},
		{name: "space before colon", text: "version : STSv1\n", wantErr: "line 1: invalid key \"version \""},
		{name: "comment line", text: "# note: x\nversion: STSv1\n", wantErr: "line 1: invalid key \"# note\""},
		{name: "bare CR inside a line", text: "version: STSv1\rmode: enforce\n", wantErr: "control character"},
		{name: "NUL", text: "version: STSv1\x00\n", wantErr: "control character"},
		{name: "not UTF-8", text: "version: STSv1\nx: \xff\n", wantErr: "not valid UTF-8"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mtasts.ParsePolicy(tt.text)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParsePolicy = %+v, want an error with %q", got, tt.wantErr)
				}
				if !errors.Is(err, mtasts.ErrInvalidPolicy) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %q, want ErrInvalidPolicy with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePolicy: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParsePolicy = %+v, want %+v", got, tt.want)
			}
			again, err := mtasts.ParsePolicy(got.Format())
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("round trip through Format: %+v, %v; want %+v", again, err, got)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	p := mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"mail.example.com", "*.example.net"}, MaxAge: 604800 * time.Second}
	want := "version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 604800\n"
	if got := p.Format(); got != want {
		t.Errorf("Format =\n%s\nwant\n%s", got, want)
	}
}

func TestParseMode(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want mtasts.Mode
	}{
		{"enforce", mtasts.ModeEnforce},
		{"testing", mtasts.ModeTesting},
		{"none", mtasts.ModeNone},
		{"ENFORCE", mtasts.ModeUnspecified},
		{"", mtasts.ModeUnspecified},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := mtasts.ParseMode(tt.in)
			if got != tt.want || (err == nil) != (tt.want != mtasts.ModeUnspecified) {
				t.Fatalf("ParseMode(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			if err == nil && got.String() != tt.in {
				t.Errorf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

func TestMatchMX(t *testing.T) {
	for _, tt := range []struct {
		name          string
		pattern, host string
		want          bool
	}{
		{"exact", "mail.example.com", "mail.example.com", true},
		{"case-insensitive", "Mail.Example.COM", "MAIL.example.com", true},
		{"trailing dot on the host", "mail.example.com", "mail.example.com.", true},
		{"trailing dot on the pattern", "mail.example.com.", "mail.example.com", true},
		{"different host", "mail.example.com", "mx.example.com", false},
		{"suffix is not a match", "example.com", "mail.example.com", false},
		{"wildcard, one label", "*.example.net", "mx1.example.net", true},
		{"wildcard, case and dot", "*.example.net", "MX1.Example.NET.", true},
		{"wildcard does not match the parent", "*.example.net", "example.net", false},
		{"wildcard matches one label only", "*.example.net", "a.b.example.net", false},
		{"wildcard needs a label", "*.example.net", ".example.net", false},
		{"wildcard on a label boundary", "*.example.net", "mxexample.net", false},
		{"literal star host", "*.example.net", "*.example.net", false},
		{"inner wildcard never matches", "mx.*.example", "mx.a.example", false},
		{"bare star", "*", "example", false},
		{"empty host", "example.com", "", false},
		{"empty pattern", "", "example.com", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := mtasts.MatchMX(tt.pattern, tt.host); got != tt.want {
				t.Errorf("MatchMX(%q, %q) = %v, want %v", tt.pattern, tt.host, got, tt.want)
			}
		})
	}
	p := mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"mail.example.com", "*.example.net"}}
	if !p.MatchMX("b.example.net") || !p.MatchMX("mail.example.com") || p.MatchMX("example.net") {
		t.Error("Policy.MatchMX does not try every pattern")
	}
}

func TestReasonNames(t *testing.T) {
	for _, tt := range []struct {
		r          mtasts.Reason
		name, rrpt string
	}{
		{mtasts.ReasonNone, "NONE", ""},
		{mtasts.ReasonMXNotInPolicy, "MX_NOT_IN_POLICY", "validation-failure"},
		{mtasts.ReasonCertNotTrusted, "CERT_NOT_TRUSTED", "certificate-not-trusted"},
		{mtasts.ReasonCertNameMismatch, "CERT_NAME_MISMATCH", "certificate-host-mismatch"},
		{mtasts.ReasonCertExpired, "CERT_EXPIRED", "certificate-expired"},
		{mtasts.ReasonPolicyFetchFailed, "STS_POLICY_FETCH_FAILED", "sts-policy-fetch-error"},
		{mtasts.ReasonPolicyInvalid, "STS_POLICY_INVALID", "sts-policy-invalid"},
		{mtasts.ReasonWebPKIInvalid, "STS_WEBPKI_INVALID", "sts-webpki-invalid"},
		{mtasts.Reason(99), "UNKNOWN", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.r.String() != tt.name || tt.r.ResultType() != tt.rrpt {
				t.Errorf("%d: %q, %q; want %q, %q", tt.r, tt.r.String(), tt.r.ResultType(), tt.name, tt.rrpt)
			}
		})
	}
}
