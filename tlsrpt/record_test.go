package tlsrpt_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/daned/daned/tlsrpt"
)

func TestParseRecord(t *testing.T) {
	tests := []struct {
		name    string
		txts    []string
		rua     []string
		skipped int
		none    bool
	}{
		{name: "RFC 8460 §3 example, mailto", txts: []string{"v=TLSRPTv1;rua=mailto:reports@example.com"}, rua: []string{"mailto:reports@example.com"}},
		{name: "https", txts: []string{"v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt"}, rua: []string{"https://reporting.example.com/v1/tlsrpt"}},
		{name: "both, with spaces and an extension", txts: []string{"v=TLSRPTv1; ext=1; rua=mailto:a@example.com, https://r.example.com/x"},
			rua: []string{"mailto:a@example.com", "https://r.example.com/x"}},
		{name: "other TXT records ignored", txts: []string{"google-site-verification=x", "v=TLSRPTv1;rua=mailto:a@example.com"}, rua: []string{"mailto:a@example.com"}},
		{name: "bad entries skipped, good kept", txts: []string{"v=TLSRPTv1;rua=http://insecure.example.com,ftp://x,mailto:,mailto:ok@example.com"},
			rua: []string{"mailto:ok@example.com"}, skipped: 3},
		{name: "a rua without a scheme", txts: []string{"v=TLSRPTv1;rua=reports@example.com"}, none: true, skipped: 1},
		{name: "two records: none applies", txts: []string{"v=TLSRPTv1;rua=mailto:a@example.com", "v=TLSRPTv1;rua=mailto:b@example.com"}, none: true},
		{name: "no record", txts: []string{"v=spf1 -all"}, none: true},
		{name: "no rua", txts: []string{"v=TLSRPTv1;"}, none: true},
		{name: "version must come first", txts: []string{"rua=mailto:a@example.com; v=TLSRPTv1"}, none: true},
		{name: "a prefix of the version is not the version", txts: []string{"v=TLSRPTv10;rua=mailto:a@example.com"}, none: true},
		{name: "two addresses in one mailto", txts: []string{"v=TLSRPTv1;rua=mailto:a@example.com%2Cb@example.com"}, none: true, skipped: 1},
		{name: "mailto with query", txts: []string{"v=TLSRPTv1;rua=mailto:a@example.com?subject=x"}, rua: []string{"mailto:a@example.com?subject=x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := tlsrpt.ParseRecord(tt.txts)
			if tt.none {
				if !errors.Is(err, tlsrpt.ErrNoRecord) {
					t.Fatalf("err = %v, want ErrNoRecord", err)
				}
			} else if err != nil || !slices.Equal(rec.RUA, tt.rua) {
				t.Fatalf("rua %q, %v; want %q", rec.RUA, err, tt.rua)
			}
			if len(rec.Skipped) != tt.skipped {
				t.Errorf("skipped %q, want %d", rec.Skipped, tt.skipped)
			}
		})
	}
}

func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{"v=TLSRPTv1;rua=mailto:a@example.com", "v=TLSRPTv1; rua=https://r.example.com/x,mailto:b@example.com?x=y",
		"v=TLSRPTv1;rua=mailto:%zz", "v=TLSRPTv1;rua=https://[::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rec, err := tlsrpt.ParseRecord([]string{s})
		if err == nil && len(rec.RUA) == 0 {
			t.Fatal("a record without rua was accepted")
		}
		for _, u := range rec.RUA {
			if tlsrpt.CheckRUA(u) != nil {
				t.Fatalf("an accepted rua %q does not check", u)
			}
		}
	})
}
