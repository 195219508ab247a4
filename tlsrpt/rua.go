package tlsrpt

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/daned/daned/dnsname"
)

// RUA is one usable rua URI of a TLSRPT record (RFC 8460 §3): an https:
// endpoint or the addresses of a mailto: URI.
type RUA struct {
	// URL is the https: endpoint; nil for mailto:.
	URL *url.URL
	// Addresses are the mailto: recipients as addr-specs
	// ("local@domain", the domain in lower case), from the URI's path and
	// its "to" header field (RFC 6068 §2), without duplicates; nil for
	// https:.
	Addresses []string
}

// ErrBadRUA wraps every reason a rua URI is refused.
var ErrBadRUA = errors.New("unusable rua URI")

// Limits on a rua URI: it comes from a stranger's DNS.
const (
	// MaxRUALength bounds the URI.
	MaxRUALength = 2048
	// MaxAddresses bounds the recipients of one mailto: URI, so that a
	// record cannot turn one report into mail to a crowd.
	MaxAddresses = 10
)

// ParseRUA returns the rua URI s if a report can be delivered to it: an
// https: URI with a host, or a mailto: URI (RFC 6068) with one or more
// ASCII addresses. Of a mailto: URI's header fields only "to" counts (it
// adds addresses); the others (subject, body, cc…) are ignored, since the
// report's headers are fixed. Anything else, http: included, is refused
// with an error wrapping ErrBadRUA.
//
// ParseRUA takes one URI: splitting a record's rua list at commas is
// package tlsrpt's business.
func ParseRUA(s string) (RUA, error) {
	bad := func(format string, a ...any) (RUA, error) {
		return RUA{}, fmt.Errorf("%w %q: %s", ErrBadRUA, short(s), fmt.Sprintf(format, a...))
	}
	if len(s) > MaxRUALength {
		return bad("longer than %d bytes", MaxRUALength)
	}
	// RFC 3986 §2: a URI is ASCII without spaces; non-ASCII addresses
	// are percent-encoded, and refused below.
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return bad("contains a space, a control character or a non-ASCII byte")
		}
	}
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok {
		return bad("no scheme; RFC 8460 §3 allows https: and mailto:")
	}
	switch strings.ToLower(scheme) {
	case "https":
		u, err := url.Parse(s)
		if err != nil {
			return bad("%v", err)
		}
		if u.Opaque != "" || u.Hostname() == "" {
			return bad("an https: URI needs a host")
		}
		u.Fragment, u.RawFragment = "", ""
		return checkLength(RUA{URL: u}, bad)
	case "mailto":
		addrs, err := parseMailto(rest)
		if err != nil {
			return bad("%v", err)
		}
		return checkLength(RUA{Addresses: addrs}, bad)
	case "http":
		return bad("RFC 8460 §3 allows https:, not http:")
	default:
		return bad("scheme %q; RFC 8460 §3 allows https: and mailto:", scheme)
	}
}

// checkLength returns r unless its String, which percent-encodes what
// the URI may have left bare (a "}" in a path, a "/" in an address),
// is longer than MaxRUALength: every URI ParseRUA accepts reads back from
// its String.
func checkLength(r RUA, bad func(string, ...any) (RUA, error)) (RUA, error) {
	if n := len(r.String()); n > MaxRUALength {
		return bad("%d bytes once percent-encoded, longer than %d", n, MaxRUALength)
	}
	return r, nil
}

// String returns the URI: the URL, or "mailto:" and the addresses,
// percent-encoded where RFC 6068 §2 wants it, which ParseRUA reads back
// to the same RUA.
func (r RUA) String() string {
	if r.URL != nil {
		return r.URL.String()
	}
	var b strings.Builder
	b.WriteString("mailto:")
	for i, a := range r.Addresses {
		if i > 0 {
			b.WriteByte(',')
		}
		for j := 0; j < len(a); j++ {
			c := a[j]
			if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~!$'*+@", c) >= 0 {
				b.WriteByte(c)
			} else {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		}
	}
	return b.String()
}

// parseMailto reads the part of a mailto: URI after the colon (RFC 6068
// §2): addresses separated by commas, then optionally "?" and header
// fields.
func parseMailto(rest string) ([]string, error) {
	rest, _, _ = strings.Cut(rest, "#")
	path, query, _ := strings.Cut(rest, "?")
	var raw []string
	if path != "" {
		raw = strings.Split(path, ",")
	}
	if query != "" {
		for _, field := range strings.Split(query, "&") {
			name, value, _ := strings.Cut(field, "=")
			name, err := url.QueryUnescape(name)
			if err != nil {
				return nil, fmt.Errorf("header field name: %v", err)
			}
			if !strings.EqualFold(name, "to") {
				continue
			}
			// RFC 6068 §2: "to" holds more addresses, and the same
			// percent-encoding as the path.
			if value != "" {
				raw = append(raw, strings.Split(value, ",")...)
			}
		}
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("a mailto: URI needs an address")
	}
	if len(raw) > MaxAddresses {
		return nil, fmt.Errorf("%d addresses, more than %d", len(raw), MaxAddresses)
	}
	var addrs []string
	for _, r := range raw {
		a, err := url.PathUnescape(r)
		if err != nil {
			return nil, fmt.Errorf("address %q: %v", r, err)
		}
		a, err = CheckAddress(a)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	return addrs, nil
}

// CheckAddress accepts an addr-spec whose local part is an RFC 5322
// dot-atom and whose domain is a host name, all ASCII, and returns it with
// the domain in lower case. Quoted local parts, address literals and
// internationalized addresses (which need SMTPUTF8) are refused: TLSRPT
// addresses are plain mailboxes.
func CheckAddress(a string) (string, error) {
	at := strings.LastIndexByte(a, '@')
	if at < 0 {
		return "", fmt.Errorf("address %q has no @", a)
	}
	local, domain := a[:at], a[at+1:]
	if local == "" || len(local) > 64 {
		return "", fmt.Errorf("address %q: the local part must have 1 to 64 characters", a)
	}
	for _, atom := range strings.Split(local, ".") {
		if atom == "" {
			return "", fmt.Errorf("address %q: the local part has an empty dot-separated part", a)
		}
		for i := 0; i < len(atom); i++ {
			if !isAtext(atom[i]) {
				return "", fmt.Errorf("address %q: %q is not allowed in a local part", a, atom[i])
			}
		}
	}
	for i := 0; i < len(domain); i++ {
		if domain[i] >= 0x7f {
			return "", fmt.Errorf("address %q: the domain must be ASCII (A-labels)", a)
		}
	}
	d, err := dnsname.Normalize(domain)
	if err != nil {
		return "", fmt.Errorf("address %q: %v", a, err)
	}
	if !strings.Contains(d, ".") {
		return "", fmt.Errorf("address %q: the domain %q has a single label", a, d)
	}
	return local + "@" + d, nil
}

// isAtext reports whether b is atext (RFC 5322 §3.2.3).
func isAtext(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", b) >= 0
}
