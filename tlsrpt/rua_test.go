package tlsrpt_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/daned/daned/tlsrpt"
)

// longMailto is ten distinct addresses: as a mailto: URI, 1,186 bytes as
// written and 2,466 once their "{" are percent-encoded.
var longMailto = func() string {
	var addrs []string
	for c := 'a'; c < 'a'+tlsrpt.MaxAddresses; c++ {
		addrs = append(addrs, strings.Repeat("{", 64)+"@"+strings.Repeat(string(c), 40)+".example.net")
	}
	return strings.Join(addrs, ",")
}()

var ruaTests = []struct {
	name  string
	in    string
	url   string   // the https: URL, "" for none
	addrs []string // the mailto: addresses
	err   string   // part of the error, "" for none
}{
	{name: "https", in: "https://reports.example.net/v1/tlsrpt", url: "https://reports.example.net/v1/tlsrpt"},
	{name: "https with port and query", in: "HTTPS://Reports.example.net:8443/tlsrpt?k=v", url: "https://Reports.example.net:8443/tlsrpt?k=v"},
	{name: "https without its fragment", in: "https://reports.example.net/x#frag", url: "https://reports.example.net/x"},
	{name: "mailto", in: "mailto:tlsrpt@example.net", addrs: []string{"tlsrpt@example.net"}},
	{name: "mailto scheme and domain in any case", in: "MAILTO:TLSRPT@Example.NET", addrs: []string{"TLSRPT@example.net"}},
	{name: "mailto several", in: "mailto:a@example.net,b@example.org", addrs: []string{"a@example.net", "b@example.org"}},
	{name: "mailto header fields ignored", in: "mailto:a@example.net?subject=hi&body=there&cc=c@example.com", addrs: []string{"a@example.net"}},
	{name: "mailto to field adds", in: "mailto:a@example.net?To=b@example.net,c@example.net", addrs: []string{"a@example.net", "b@example.net", "c@example.net"}},
	{name: "mailto only a to field", in: "mailto:?to=a@example.net", addrs: []string{"a@example.net"}},
	{name: "mailto percent-encoded", in: "mailto:tls%2Brpt@example.net", addrs: []string{"tls+rpt@example.net"}},
	{name: "mailto duplicates", in: "mailto:a@example.net,a@EXAMPLE.net", addrs: []string{"a@example.net"}},
	{name: "mailto trailing dot", in: "mailto:a@example.net.", addrs: []string{"a@example.net"}},
	{name: "mailto fragment", in: "mailto:a@example.net#x", addrs: []string{"a@example.net"}},

	{name: "http", in: "http://reports.example.net/", err: "not http:"},
	{name: "other scheme", in: "ftp://reports.example.net/", err: `scheme "ftp"`},
	{name: "no scheme", in: "tlsrpt@example.net", err: "no scheme"},
	{name: "empty", in: "", err: "no scheme"},
	{name: "https without host", in: "https:///path", err: "needs a host"},
	{name: "https opaque", in: "https:reports.example.net", err: "needs a host"},
	{name: "https bad port", in: "https://reports.example.net:x/", err: "invalid port"},
	{name: "space", in: "mailto:a@example.net ", err: "space"},
	{name: "control", in: "mailto:a@example.net\r\nRCPT TO:<b@example.net>", err: "control"},
	{name: "non-ASCII", in: "mailto:ä@example.net", err: "non-ASCII"},
	{name: "encoded non-ASCII", in: "mailto:%C3%A4@example.net", err: "not allowed"},
	{name: "encoded CRLF", in: "mailto:a@example.net%0D%0ARCPT", err: "white space"},
	{name: "mailto without address", in: "mailto:", err: "needs an address"},
	{name: "mailto no at", in: "mailto:tlsrpt", err: "has no @"},
	{name: "mailto empty local part", in: "mailto:@example.net", err: "1 to 64"},
	{name: "mailto empty address", in: "mailto:a@example.net,,b@example.net", err: "has no @"},
	{name: "mailto quoted local part", in: `mailto:%22a%20b%22@example.net`, err: "not allowed"},
	{name: "mailto angle brackets", in: "mailto:%3Ca@example.net%3E", err: "not allowed"},
	{name: "mailto double dot", in: "mailto:a..b@example.net", err: "empty dot-separated"},
	{name: "mailto address literal", in: "mailto:a@[192.0.2.1]", err: "a@[192.0.2.1]"},
	{name: "mailto IP domain", in: "mailto:a@192.0.2.1", err: "192.0.2.1"},
	{name: "mailto single label", in: "mailto:a@localhost", err: "single label"},
	{name: "mailto bad escape", in: "mailto:a%zz@example.net", err: "invalid URL escape"},
	{name: "mailto too many", in: "mailto:" + strings.Repeat("a@example.net,", 10) + "b@example.net", err: "11 addresses"},
	{name: "too long", in: "https://example.net/" + strings.Repeat("x", tlsrpt.MaxRUALength), err: "longer than"},
	{name: "too long once percent-encoded", in: "https://example.net/" + strings.Repeat("}", 1000), err: "once percent-encoded"},
	{name: "mailto too long once percent-encoded", in: "mailto:" + longMailto, err: "once percent-encoded"},
	{name: "just short enough once percent-encoded", in: "https://example.net/" + strings.Repeat("}", (tlsrpt.MaxRUALength-20)/3),
		url: "https://example.net/" + strings.Repeat("%7D", (tlsrpt.MaxRUALength-20)/3)},
}

func TestParseRUA(t *testing.T) {
	for _, tt := range ruaTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tlsrpt.ParseRUA(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, tlsrpt.ErrBadRUA) {
					t.Fatalf("ParseRUA(%q) = %+v, %v; want an ErrBadRUA error with %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRUA(%q): %v", tt.in, err)
			}
			gotURL := ""
			if got.URL != nil {
				gotURL = got.URL.String()
			}
			if gotURL != tt.url || !slices.Equal(got.Addresses, tt.addrs) {
				t.Errorf("ParseRUA(%q) = URL %q, addresses %q; want %q, %q", tt.in, gotURL, got.Addresses, tt.url, tt.addrs)
			}
		})
	}
}

// FuzzParseRUA: rua URIs come from a stranger's DNS. ParseRUA must not
// panic, and what it accepts must be sane and survive String.
func FuzzParseRUA(f *testing.F) {
	for _, tt := range ruaTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := tlsrpt.ParseRUA(s)
		if err != nil {
			if !errors.Is(err, tlsrpt.ErrBadRUA) {
				t.Fatalf("ParseRUA(%q): error %v does not wrap ErrBadRUA", s, err)
			}
			return
		}
		if (r.URL == nil) == (len(r.Addresses) == 0) {
			t.Fatalf("ParseRUA(%q) = %+v: want a URL or addresses", s, r)
		}
		if r.URL != nil && (r.URL.Scheme != "https" || r.URL.Hostname() == "") {
			t.Fatalf("ParseRUA(%q): URL %v", s, r.URL)
		}
		if len(r.Addresses) > tlsrpt.MaxAddresses {
			t.Fatalf("ParseRUA(%q): %d addresses", s, len(r.Addresses))
		}
		for _, a := range r.Addresses {
			if strings.Count(a, "@") != 1 || strings.ContainsAny(a, " \t\r\n<>,") {
				t.Fatalf("ParseRUA(%q): address %q", s, a)
			}
		}
		again, err := tlsrpt.ParseRUA(r.String())
		if err != nil {
			t.Fatalf("ParseRUA(%q).String() = %q does not parse: %v", s, r.String(), err)
		}
		if again.String() != r.String() || !slices.Equal(again.Addresses, r.Addresses) {
			t.Fatalf("ParseRUA(%q) = %q, read back as %q", s, r.String(), again.String())
		}
	})
}
