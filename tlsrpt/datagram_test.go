package tlsrpt_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/daned/daned/tlsrpt"
)

var update = flag.Bool("update", false, "rewrite tlsrpt/testdata/datagram/*.golden from this run")

// arrival is the fixed arrival time of every parsed datagram.
var arrival = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func datagramFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "datagram", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 40 {
		t.Fatalf("found only %d datagrams in testdata/datagram", len(files))
	}
	return files
}

// render is what a golden file holds: the parsed datagram as indented
// JSON, or the error and whether it is ErrMalformed.
func render(t *testing.T, d tlsrpt.Datagram, err error) []byte {
	t.Helper()
	if err != nil {
		kind := "invalid"
		if errors.Is(err, tlsrpt.ErrMalformed) {
			kind = "malformed"
		}
		return fmt.Appendf(nil, "error (%s): %v\n", kind, err)
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func TestParseDatagramGolden(t *testing.T) {
	for _, file := range datagramFiles(t) {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			d, err := tlsrpt.ParseDatagram(in, arrival)
			if err != nil && !errors.Is(err, tlsrpt.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			wantErr := strings.HasPrefix(name, "malformed-") || strings.HasPrefix(name, "invalid-")
			if (err != nil) != wantErr {
				t.Errorf("ParseDatagram error = %v; the file name says error: %v", err, wantErr)
			}
			if strings.HasPrefix(name, "malformed-") != errors.Is(err, tlsrpt.ErrMalformed) {
				t.Errorf("ParseDatagram error = %v; the file name says malformed: %v", err, strings.HasPrefix(name, "malformed-"))
			}
			got := render(t, d, err)
			golden := strings.TrimSuffix(file, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("ParseDatagram(%s) =\n%s\nwant (%s)\n%s", file, got, golden, want)
			}
		})
	}
}

// datagram is a Postfix failure report with the failure code and policy
// type given.
func datagram(policyType, code int) []byte {
	return fmt.Appendf(nil, `{"dpv": "1","d": "example.com","pr": "v=TLSRPTv1; rua=mailto:tlsrpt@example.com",`+
		`"policies":[{"policy-type":%d,"policy-domain": "mx1.example.com","failure-details":[{"c":%d,"r": "192.0.2.1"}],"t":1,"f":1}]}`,
		policyType, code)
}

// TestParseDatagramCodes pins the code mappings of tlsrpt-reporter
// (TLSRPTReportd.render_report), apart from the golden files.
func TestParseDatagramCodes(t *testing.T) {
	results := []struct {
		name string
		code int
		want tlsrpt.ResultType
	}{
		{name: "201", code: 201, want: tlsrpt.ResultSTARTTLSNotSupported},
		{name: "202", code: 202, want: tlsrpt.ResultCertificateHostMismatch},
		{name: "203", code: 203, want: tlsrpt.ResultCertificateNotTrusted},
		{name: "204", code: 204, want: tlsrpt.ResultCertificateExpired},
		{name: "205", code: 205, want: tlsrpt.ResultValidationFailure},
		{name: "301", code: 301, want: tlsrpt.ResultSTSPolicyFetchError},
		{name: "302", code: 302, want: tlsrpt.ResultSTSPolicyInvalid},
		{name: "303", code: 303, want: tlsrpt.ResultSTSWebPKIInvalid},
		{name: "304", code: 304, want: tlsrpt.ResultTLSAInvalid},
		{name: "305", code: 305, want: tlsrpt.ResultDNSSECInvalid},
		{name: "306", code: 306, want: tlsrpt.ResultDANERequired},
		{name: "0", code: 0},
		{name: "200", code: 200},
		{name: "206", code: 206},
		{name: "307", code: 307},
		{name: "901 (the library's own)", code: 901},
		{name: "negative", code: -201},
	}
	seen := map[tlsrpt.ResultType]bool{}
	for _, tt := range results {
		t.Run("result "+tt.name, func(t *testing.T) {
			d, err := tlsrpt.ParseDatagram(datagram(1, tt.code), arrival)
			if tt.want == "" {
				if !errors.Is(err, tlsrpt.ErrInvalid) || errors.Is(err, tlsrpt.ErrMalformed) {
					t.Fatalf("code %d: error %v, want ErrInvalid and not ErrMalformed", tt.code, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Sessions) != 1 || d.Sessions[0].Result != tt.want || d.Sessions[0].Success {
				t.Fatalf("code %d: sessions %+v, want one failure %s", tt.code, d.Sessions, tt.want)
			}
			seen[tt.want] = true
		})
	}
	if len(seen) != len(tlsrpt.ResultTypes) {
		t.Errorf("the codes map to %d of the %d result types", len(seen), len(tlsrpt.ResultTypes))
	}

	types := []struct {
		name string
		typ  int
		want tlsrpt.PolicyType
	}{
		{name: "1", typ: 1, want: tlsrpt.PolicyTLSA},
		{name: "2", typ: 2, want: tlsrpt.PolicySTS},
		{name: "9", typ: 9, want: tlsrpt.PolicyNone},
		{name: "0", typ: 0},
		{name: "3", typ: 3},
	}
	for _, tt := range types {
		t.Run("policy type "+tt.name, func(t *testing.T) {
			d, err := tlsrpt.ParseDatagram(datagram(tt.typ, 205), arrival)
			if tt.want == "" {
				if !errors.Is(err, tlsrpt.ErrInvalid) {
					t.Fatalf("policy type %d: error %v, want ErrInvalid", tt.typ, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := d.Sessions[0].Policy.Type; got != tt.want {
				t.Fatalf("policy type %d parsed as %q, want %q", tt.typ, got, tt.want)
			}
		})
	}
}

func TestParseDatagramLimits(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", "datagram", "success-tlsa.json"))
	if err != nil {
		t.Fatal(err)
	}
	padded := append(bytes.Repeat([]byte(" "), tlsrpt.MaxDatagram-len(good)), good...)
	tests := []struct {
		name      string
		in        []byte
		now       time.Time
		wantErr   error
		wantCount int
	}{
		{name: "at the limit", in: padded, now: arrival, wantCount: 1},
		{name: "one byte over", in: append([]byte(" "), padded...), now: arrival, wantErr: tlsrpt.ErrMalformed},
		{name: "empty", in: nil, now: arrival, wantErr: tlsrpt.ErrMalformed},
		{name: "null", in: []byte("null"), now: arrival, wantErr: tlsrpt.ErrMalformed},
		{name: "no arrival time", in: good, wantErr: errors.New("any")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := tlsrpt.ParseDatagram(tt.in, tt.now)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatal(err)
			case tt.wantErr != nil && err == nil:
				t.Fatalf("ParseDatagram = %+v, want an error", d)
			case tt.wantErr != nil && tt.wantErr.Error() != "any" && !errors.Is(err, tt.wantErr):
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if len(d.Sessions) != tt.wantCount {
				t.Fatalf("%d sessions, want %d", len(d.Sessions), tt.wantCount)
			}
		})
	}
}

// FuzzParseDatagram checks that any input is refused with ErrInvalid or
// parsed into sessions that pass Check, and never panics.
func FuzzParseDatagram(f *testing.F) {
	for _, file := range datagramFiles(f) {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := tlsrpt.ParseDatagram(b, arrival)
		if err != nil {
			if !errors.Is(err, tlsrpt.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			if len(d.Sessions) != 0 || d.Domain != "" {
				t.Fatalf("an error with a datagram: %+v", d)
			}
			return
		}
		if len(d.Sessions) == 0 {
			t.Fatal("no error and no sessions")
		}
		if d.Domain == "" || d.Domain != strings.ToLower(d.Domain) || strings.HasSuffix(d.Domain, ".") {
			t.Fatalf("domain %q is not normalized", d.Domain)
		}
		for _, s := range d.Sessions {
			if err := s.Check(); err != nil {
				t.Fatalf("session %+v: %v", s, err)
			}
			if !s.Time.Equal(arrival) {
				t.Fatalf("session time %v, want the arrival %v", s.Time, arrival)
			}
			if p := s.Policy.Domain; p != strings.ToLower(p) || strings.HasSuffix(p, ".") {
				t.Fatalf("policy domain %q is not normalized", p)
			}
		}
	})
}

func BenchmarkParseDatagram(b *testing.B) {
	in, err := os.ReadFile(filepath.Join("testdata", "datagram", "failure-certificate-host-mismatch.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tlsrpt.ParseDatagram(in, arrival); err != nil {
			b.Fatal(err)
		}
	}
}
