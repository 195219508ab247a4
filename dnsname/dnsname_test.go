package dnsname_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/daned/daned/dnsname"
)

func TestNormalize(t *testing.T) {
	long63 := strings.Repeat("a", 63)
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr string // substring of the error; "" means success
	}{
		{name: "plain", in: "example.com", want: "example.com"},
		{name: "trailing dot", in: "example.com.", want: "example.com"},
		{name: "upper case", in: "MX.Example.COM", want: "mx.example.com"},
		{name: "U-label", in: "bücher.example", want: "xn--bcher-kva.example"},
		{name: "upper-case U-label", in: "BÜCHER.example", want: "xn--bcher-kva.example"},
		{name: "A-label kept", in: "xn--bcher-kva.example", want: "xn--bcher-kva.example"},
		{name: "63-octet label", in: long63 + ".example", want: long63 + ".example"},
		{name: "empty", in: "", wantErr: "empty"},
		{name: "only a dot", in: ".", wantErr: "empty label"},
		{name: "two trailing dots", in: "example.com..", wantErr: "empty label"},
		{name: "empty inner label", in: "a..example", wantErr: "empty label"},
		{name: "label over 63", in: long63 + "a.example", wantErr: "over the limit of 63"},
		{name: "name over 253", in: strings.Repeat(long63+".", 4) + "com", wantErr: "over the limit of 253"},
		{name: "huge input", in: strings.Repeat("a", 5000), wantErr: "longer than"},
		{name: "IPv4 literal", in: "192.0.2.1", wantErr: "IP address literal"},
		{name: "IPv4 literal with dot", in: "192.0.2.1.", wantErr: "IP address literal"},
		{name: "bracketed literal", in: "[192.0.2.1]", wantErr: "not an address"},
		{name: "IPv6 literal", in: "2001:db8::1", wantErr: "not an address"},
		{name: "numeric TLD", in: "1.2.3", wantErr: "all-numeric"},
		{name: "space", in: "exa mple.com", wantErr: "white space"},
		{name: "leading space", in: " example.com", wantErr: "white space"},
		{name: "control character", in: "example\x00.com", wantErr: "control character"},
		{name: "newline", in: "example.com\n", wantErr: "white space"},
		{name: "wildcard", in: "*.example.com", wantErr: "wildcard"},
		{name: "URL", in: "https://example.com", wantErr: "not an address or URL"},
		{name: "address", in: "user@example.com", wantErr: "not an address or URL"},
		{name: "underscore", in: "_25._tcp.example.com", wantErr: "IDNA"},
		{name: "invalid UTF-8", in: "ex\xffample.com", wantErr: "UTF-8"},
		{name: "leading hyphen", in: "-example.com", wantErr: "IDNA"},
		{name: "bad punycode", in: "xn--zz.example", wantErr: "IDNA"},

		// IDNA 2008 (RFC 5890-5893) in the UTS #46 non-transitional lookup
		// profile.
		{name: "sharp s is kept (non-transitional)", in: "faß.de", want: "xn--fa-hia.de"},
		{name: "sharp s A-label kept", in: "xn--fa-hia.de", want: "xn--fa-hia.de"},
		{name: "final sigma is kept (non-transitional)", in: "ς.gr", want: "xn--3xa.gr"},
		{name: "upper-case umlaut", in: "ÖBB.at", want: "xn--bb-eka.at"},
		{name: "decomposed umlaut is NFC-normalised", in: "Bu\u0308cher.example", want: "xn--bcher-kva.example"},
		{name: "full-width letters are mapped", in: "ｅｘａｍｐｌｅ.com", want: "example.com"},
		{name: "ideographic full stop separates labels", in: "bücher。example", want: "xn--bcher-kva.example"},
		{name: "Arabic label", in: "العربية.example", want: "xn--mgbcd4a2b0d2b.example"},
		{name: "Hebrew label ending in a digit", in: "א1.example", want: "xn--1-zhc.example"},
		{name: "Catalan middle dot between l and l", in: "col·lecció.cat", want: "xn--collecci-ioa91d.cat"},
		// Mixing Latin and Cyrillic is a registry policy question, not an
		// IDNA 2008 protocol rule: such names exist and must be resolvable.
		{name: "Latin and Cyrillic in one label", in: "pаypal.example", want: "xn--pypal-4ve.example"},
		{name: "emoji", in: "☕.example", wantErr: "DISALLOWED"},
		{name: "emoji A-label", in: "xn--ls8h.la", wantErr: "DISALLOWED"},
		{name: "symbol", in: "a♥b.example", wantErr: "DISALLOWED"},
		{name: "leading combining mark", in: "\u0301bücher.example", wantErr: "IDNA"},
		{name: "leading combining mark A-label", in: "xn--a-wbb.example", wantErr: "IDNA"},
		{name: "Latin and Hebrew in one label (Bidi rule)", in: "aא.example", wantErr: "IDNA"},
		{name: "Arabic-Indic digits with a Latin letter (Bidi rule)", in: "١٢٣a.example", wantErr: "IDNA"},
		{name: "zero width joiner outside its context", in: "a\u200db.example", wantErr: "IDNA"},
		{name: "middle dot outside l·l", in: "a·b.example", wantErr: "CONTEXTO"},
		{name: "hyphens in positions 3 and 4", in: "ab--c.example", wantErr: "IDNA"},
		{name: "trailing hyphen in an A-label", in: "xn--bcher-kva-.example", wantErr: "IDNA"},
		{name: "empty Punycode label (fuzz crasher)", in: "Xn--.A", wantErr: "empty label"},
		{name: "A-label of a disallowed code point", in: "xn--a-ecp.ru", wantErr: "IDNA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dnsname.Normalize(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Normalize(%q) error: %v", tt.in, err)
				}
				if got != tt.want {
					t.Fatalf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Normalize(%q) = %q, want an error containing %q", tt.in, got, tt.wantErr)
			}
			if !errors.Is(err, dnsname.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

// FuzzNormalize checks that any input either fails with ErrInvalid or
// yields a name that is already normal: lower-case ASCII within the
// length limits, and stable under a second Normalize.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"example.com", "bücher.example", "xn--bcher-kva.example.", "192.0.2.1", "*.x", "a..b", "\x00", strings.Repeat("a.", 130)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := dnsname.Normalize(in)
		if err != nil {
			if !errors.Is(err, dnsname.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if len(out) == 0 || len(out) > dnsname.MaxNameLength {
			t.Fatalf("Normalize(%q) = %q: bad length", in, out)
		}
		for i := 0; i < len(out); i++ {
			c := out[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
				t.Fatalf("Normalize(%q) = %q: byte %q is not LDH", in, out, c)
			}
		}
		again, err := dnsname.Normalize(out)
		if err != nil || again != out {
			t.Fatalf("Normalize(%q) = %q, then %q, %v", in, out, again, err)
		}
	})
}
