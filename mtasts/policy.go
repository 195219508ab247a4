package mtasts

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrInvalidPolicy is wrapped by every error ParsePolicy returns.
var ErrInvalidPolicy = errors.New("invalid MTA-STS policy")

// MaxPolicySize is the largest policy body a sender accepts, in bytes
// (RFC 8461 §3.3: 64 KiB). ParsePolicy itself does not enforce it; the
// fetch does, before parsing.
const MaxPolicySize = 64 << 10

// MaxMaxAge is the largest max_age a policy may have, about a year (RFC
// 8461 §3.2: 31557600 seconds). Larger values are capped to it.
const MaxMaxAge = 31557600 * time.Second

// Mode is a policy's mode (RFC 8461 §5).
type Mode int

const (
	// ModeUnspecified is the zero value: no policy.
	ModeUnspecified Mode = iota
	// ModeEnforce: deliver only to MX hosts that match a pattern and
	// present a WebPKI-valid certificate over STARTTLS; else defer.
	ModeEnforce
	// ModeTesting: deliver as without a policy, and report the hosts that
	// would have failed (RFC 8460).
	ModeTesting
	// ModeNone: the domain withdrew its policy; treat it as having none.
	ModeNone
)

var modeNames = [...]string{"", "enforce", "testing", "none"}

// String returns the mode as a policy spells it ("enforce"), or "" for
// ModeUnspecified.
func (m Mode) String() string {
	if m >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return "unknown"
}

// ParseMode parses a mode as a policy spells it: "enforce", "testing" or
// "none", case-sensitive (RFC 8461 §3.2).
func ParseMode(s string) (Mode, error) {
	for m := ModeEnforce; m <= ModeNone; m++ {
		if s == modeNames[m] {
			return m, nil
		}
	}
	return ModeUnspecified, fmt.Errorf("mode %q is not enforce, testing or none (case-sensitive)", clip(s))
}

// Policy is a parsed MTA-STS policy (RFC 8461 §3.2).
type Policy struct {
	Mode Mode
	// MX holds the MX host patterns in the order given, lower-case and
	// without a trailing dot: "mail.example.com" or "*.example.net". It
	// may be empty only when Mode is ModeNone.
	MX []string
	// MaxAge is how long a sender may cache the policy after fetching it:
	// whole seconds, at most MaxMaxAge.
	MaxAge time.Duration
}

// ParsePolicy parses the body of a policy file (RFC 8461 §3.2):
//
//	version: STSv1
//	mode: enforce
//	mx: mail.example.com
//	mx: *.example.net
//	max_age: 604800
//
// Lines end in LF or CRLF. Each is "key: value" with optional spaces or
// tabs around the value; blank lines are skipped. Keys and values are
// case-sensitive. version, mode and max_age are required, and at least
// one mx unless the mode is none; when version, mode or max_age appear
// more than once the first is used, every mx counts. Unknown keys are
// ignored. max_age is 1 to 10 digits; values over MaxMaxAge are capped.
// An mx pattern is a host name in A-labels, optionally starting with "*."
// as its whole left-most label; IP addresses are refused. Errors wrap
// ErrInvalidPolicy and name the line.
func ParsePolicy(text string) (Policy, error) {
	if !utf8.ValidString(text) {
		return Policy{}, invalidPolicy(0, "not valid UTF-8")
	}
	var (
		p                     Policy
		version, mode, maxAge bool
	)
	lines := strings.Split(text, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1] // the final line ending
	}
	for i, line := range lines {
		n := i + 1
		line = strings.TrimSuffix(line, "\r")
		for _, r := range line {
			if r < 0x20 && r != '\t' || r == 0x7f {
				return Policy{}, invalidPolicy(n, fmt.Sprintf("control character %U", r))
			}
		}
		line = trimWSP(line)
		if line == "" {
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			return Policy{}, invalidPolicy(n, fmt.Sprintf("%q is not \"key: value\"", clip(line)))
		}
		if !validFieldName(key) {
			return Policy{}, invalidPolicy(n, fmt.Sprintf("invalid key %q", clip(key)))
		}
		value = trimWSP(value)
		switch key {
		case "version":
			if version {
				continue
			}
			if value != "STSv1" {
				return Policy{}, invalidPolicy(n, fmt.Sprintf("version %q, want STSv1", clip(value)))
			}
			version = true
		case "mode":
			if mode {
				continue
			}
			m, err := ParseMode(value)
			if err != nil {
				return Policy{}, invalidPolicy(n, err.Error())
			}
			p.Mode, mode = m, true
		case "max_age":
			if maxAge {
				continue
			}
			d, err := parseMaxAge(value)
			if err != nil {
				return Policy{}, invalidPolicy(n, err.Error())
			}
			p.MaxAge, maxAge = d, true
		case "mx":
			pattern, err := ParsePattern(value)
			if err != nil {
				return Policy{}, invalidPolicy(n, err.Error())
			}
			p.MX = append(p.MX, pattern)
		default:
			// Unknown keys are ignored (RFC 8461 §3.2), values unchecked.
		}
	}
	switch {
	case !version:
		return Policy{}, invalidPolicy(0, "no \"version: STSv1\" line")
	case !mode:
		return Policy{}, invalidPolicy(0, "no mode line")
	case !maxAge:
		return Policy{}, invalidPolicy(0, "no max_age line")
	case len(p.MX) == 0 && p.Mode != ModeNone:
		return Policy{}, invalidPolicy(0, fmt.Sprintf("mode %s needs at least one mx line", p.Mode))
	}
	return p, nil
}

func invalidPolicy(line int, why string) error {
	if line == 0 {
		return fmt.Errorf("%w: %s", ErrInvalidPolicy, why)
	}
	return fmt.Errorf("%w: line %d: %s", ErrInvalidPolicy, line, why)
}

// parseMaxAge: 1*10(DIGIT), capped at MaxMaxAge (RFC 8461 §3.2).
func parseMaxAge(s string) (time.Duration, error) {
	if s == "" || len(s) > 10 {
		return 0, fmt.Errorf("max_age %q is not 1 to 10 digits", clip(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("max_age %q is not 1 to 10 digits", clip(s))
		}
	}
	secs, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("max_age %q: %v", s, err)
	}
	if secs > uint64(MaxMaxAge/time.Second) {
		return MaxMaxAge, nil
	}
	return time.Duration(secs) * time.Second, nil
}

// Format returns the policy as a policy file with LF line endings, in
// the order version, mode, mx, max_age. ParsePolicy(p.Format()) returns p
// for every p ParsePolicy returned.
func (p Policy) Format() string {
	var b strings.Builder
	b.WriteString("version: STSv1\nmode: ")
	b.WriteString(p.Mode.String())
	b.WriteString("\n")
	for _, mx := range p.MX {
		b.WriteString("mx: ")
		b.WriteString(mx)
		b.WriteString("\n")
	}
	b.WriteString("max_age: ")
	b.WriteString(strconv.FormatInt(int64(p.MaxAge/time.Second), 10))
	b.WriteString("\n")
	return b.String()
}

// MatchMX reports whether host matches one of the policy's mx patterns
// (RFC 8461 §4.1; see MatchMX).
func (p Policy) MatchMX(host string) bool {
	for _, pattern := range p.MX {
		if MatchMX(pattern, host) {
			return true
		}
	}
	return false
}

// Limits of RFC 1035 §2.3.4.
const (
	maxNameLength  = 253
	maxLabelLength = 63
)

// ParsePattern validates an mx pattern (RFC 8461 §3.2: ["*."] Domain, the
// Domain of RFC 5321 §4.1.2) and returns it lower-case without a trailing
// dot. A wildcard is allowed only as the whole left-most label; labels are
// letters, digits and inner hyphens (A-labels for internationalized names,
// RFC 8461 §3.2); IP addresses are refused.
func ParsePattern(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty mx pattern")
	}
	lower := asciiLower(strings.TrimSuffix(s, "."))
	name, wildcard := strings.CutPrefix(lower, "*.")
	if strings.Contains(name, "*") || lower == "*" {
		return "", fmt.Errorf("mx %q: a wildcard is allowed only as the whole left-most label \"*.\"", clip(s))
	}
	if _, err := netip.ParseAddr(name); err == nil || strings.HasPrefix(name, "[") {
		return "", fmt.Errorf("mx %q: an IP address, not a host name", clip(s))
	}
	if name == "" {
		return "", fmt.Errorf("mx %q: no host name", clip(s))
	}
	if len(name) > maxNameLength {
		return "", fmt.Errorf("mx %q: longer than %d octets", clip(s), maxNameLength)
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if err := checkLabel(l); err != nil {
			return "", fmt.Errorf("mx %q: %v", clip(s), err)
		}
	}
	if allDigits(labels[len(labels)-1]) {
		return "", fmt.Errorf("mx %q: an all-numeric top-level label is an address, not a host name", clip(s))
	}
	if wildcard {
		return "*." + name, nil
	}
	return name, nil
}

// checkLabel: Let-dig [Ldh-str] (RFC 5321 §4.1.2), at most 63 octets.
func checkLabel(l string) error {
	switch {
	case l == "":
		return errors.New("empty label")
	case len(l) > maxLabelLength:
		return fmt.Errorf("label %q… is longer than %d octets", l[:16], maxLabelLength)
	case !isAlnum(l[0]) || !isAlnum(l[len(l)-1]):
		if !utf8.ValidString(l) || hasNonASCII(l) {
			return fmt.Errorf("label %q is not ASCII: use A-labels (xn--)", clip(l))
		}
		return fmt.Errorf("label %q must start and end with a letter or digit", clip(l))
	}
	for i := 1; i < len(l)-1; i++ {
		if c := l[i]; !isAlnum(c) && c != '-' {
			if c >= 0x80 {
				return fmt.Errorf("label %q is not ASCII: use A-labels (xn--)", clip(l))
			}
			return fmt.Errorf("label %q holds %q: only letters, digits and hyphens", clip(l), c)
		}
	}
	return nil
}

func hasNonASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// asciiLower folds A-Z only: host names are compared in A-labels, where
// Unicode case folding must not apply.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// MatchMX reports whether an MX host name matches an mx pattern (RFC 8461
// §4.1): equal names, or, for a pattern "*.example.com", a host with
// exactly one more label on the left ("mail.example.com", but neither
// "example.com" nor "a.b.example.com"). Comparison is ASCII
// case-insensitive and ignores one trailing dot on either side.
func MatchMX(pattern, host string) bool {
	pattern = asciiLower(strings.TrimSuffix(pattern, "."))
	host = asciiLower(strings.TrimSuffix(host, "."))
	if host == "" || pattern == "" || strings.Contains(host, "*") {
		return false
	}
	if suffix, ok := strings.CutPrefix(pattern, "*"); ok {
		if !strings.HasPrefix(suffix, ".") || len(suffix) < 2 || strings.Contains(suffix, "*") {
			return false
		}
		label, ok := strings.CutSuffix(host, suffix)
		return ok && label != "" && !strings.Contains(label, ".")
	}
	return !strings.Contains(pattern, "*") && host == pattern
}
