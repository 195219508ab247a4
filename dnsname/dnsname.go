// Package dnsname turns a destination domain as a user or MTA typed it
// into the canonical form daned resolves and caches: lower-case A-labels,
// no trailing dot. It is the one place where domain input is validated;
// everything it rejects is a caller error (gRPC InvalidArgument), never a
// verdict.
//
// It does not resolve anything and does not judge whether a domain
// exists.
package dnsname

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// ErrInvalid is wrapped by every error Normalize returns.
var ErrInvalid = errors.New("invalid domain")

// Limits of RFC 1035 §2.3.4, counted on the A-label form without the
// trailing dot.
const (
	MaxNameLength  = 253
	MaxLabelLength = 63
)

// profile is IDNA 2008 (RFC 5891) in the UTS #46 lookup profile:
// U-labels are mapped (case folded) and converted to A-labels, A-labels
// are checked, STD3 rules (letters, digits, hyphens) apply. Processing is
// non-transitional, as IDNA 2008 requires: "faß" stays "faß"
// (xn--fa-hia) instead of becoming "fass" as under IDNA 2003. It is set
// explicitly because idna.Lookup was transitional in older x/net
// releases.
//
// UTS #46 still accepts code points that IDNA 2008 disallows (symbols
// such as emoji, which UTS #46 marks NV8); checkIDNA2008 rejects those.
var profile = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.BidiRule(),
	idna.ValidateLabels(true),
	idna.StrictDomainName(true),
	idna.VerifyDNSLength(false), // lengths are checked below, with clearer messages
)

func invalid(input, format string, args ...any) error {
	return fmt.Errorf("%w %q: %s", ErrInvalid, input, fmt.Sprintf(format, args...))
}

// Normalize validates a domain name and returns it as lower-case A-labels
// without a trailing dot. It accepts U-labels and A-labels in any case,
// with or without one trailing dot, and rejects empty names, IP literals,
// wildcards, spaces and control characters, labels over 63 octets and
// names over 253 octets, and anything IDNA 2008 refuses.
func Normalize(input string) (string, error) {
	if input == "" {
		return "", invalid(input, "empty")
	}
	if len(input) > 4*MaxNameLength {
		// Bound the work on hostile input before any conversion.
		return "", invalid(input[:32]+"…", "longer than %d octets", MaxNameLength)
	}
	if !utf8.ValidString(input) {
		return "", invalid(input, "not valid UTF-8")
	}
	for _, r := range input {
		switch {
		case unicode.IsSpace(r):
			return "", invalid(input, "contains white space")
		case unicode.IsControl(r):
			return "", invalid(input, "contains a control character")
		case r == '*':
			return "", invalid(input, "wildcards are not destinations")
		case r == '[' || r == ']' || r == ':' || r == '/' || r == '@':
			return "", invalid(input, "contains %q: a domain is a host name, not an address or URL", r)
		}
	}
	name := strings.TrimSuffix(input, ".")
	if name == "" || strings.HasSuffix(name, ".") {
		return "", invalid(input, "empty label")
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return "", invalid(input, "an IP address literal has no DANE (RFC 7672 §2.2)")
	}
	for _, l := range strings.Split(name, ".") {
		if l == "" {
			return "", invalid(input, "empty label")
		}
	}
	ascii, err := profile.ToASCII(name)
	if err != nil {
		return "", invalid(input, "not a valid IDNA 2008 name: %v", err)
	}
	ascii = strings.ToLower(ascii)
	for _, l := range strings.Split(ascii, ".") {
		if l == "" {
			// "xn--" decodes to nothing and the profile drops it.
			return "", invalid(input, "empty label")
		}
	}
	if err := checkIDNA2008(ascii); err != nil {
		return "", invalid(input, "not a valid IDNA 2008 name: %v", err)
	}
	if len(ascii) > MaxNameLength {
		return "", invalid(input, "%d octets, over the limit of %d", len(ascii), MaxNameLength)
	}
	for _, l := range strings.Split(ascii, ".") {
		if len(l) > MaxLabelLength {
			return "", invalid(input, "label %q is %d octets, over the limit of %d", l[:16]+"…", len(l), MaxLabelLength)
		}
	}
	if isNumericTLD(ascii) {
		return "", invalid(input, "an all-numeric top-level label is not a domain (an address?)")
	}
	return ascii, nil
}

// isNumericTLD reports whether the last label is all digits: no TLD is,
// and such input is a mistyped address (RFC 3696 §2).
func isNumericTLD(name string) bool {
	last := name[strings.LastIndexByte(name, '.')+1:]
	for _, r := range last {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
