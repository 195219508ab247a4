package mtasts

import (
	"errors"
	"fmt"
	"strings"
)

// Discovery errors (RFC 8461 §3.1). Each means "no policy is available"
// for a domain that has no cached policy; a cached, unexpired policy still
// applies (§5.1). They are distinguished only for the detail shown to an
// administrator.
var (
	// ErrNoRecord: no TXT record at _mta-sts.<domain> starts with v=STSv1.
	ErrNoRecord = errors.New("no v=STSv1 TXT record")
	// ErrSeveralRecords: more than one TXT record starts with v=STSv1.
	ErrSeveralRecords = errors.New("several v=STSv1 TXT records")
	// ErrInvalidRecord: the one v=STSv1 record is not valid STSv1 syntax.
	ErrInvalidRecord = errors.New("invalid v=STSv1 TXT record")
)

// Record is a parsed MTA-STS TXT record (RFC 8461 §3.1).
type Record struct {
	// ID identifies the policy instance: 1 to 32 letters and digits. A
	// new value tells senders to fetch the policy again.
	ID string
}

// maxIDLength bounds the id field (RFC 8461 §3.1: 1*32(ALPHA / DIGIT)).
const maxIDLength = 32

// isSTSRecord reports whether a TXT record claims to be an MTA-STS record:
// it starts with "v=STSv1" and the version is not merely a prefix of a
// longer word ("v=STSv10"). Other records share the name and are ignored
// (RFC 8461 §3.1).
func isSTSRecord(txt string) bool {
	const v = "v=STSv1"
	if !strings.HasPrefix(txt, v) {
		return false
	}
	rest := txt[len(v):]
	return rest == "" || rest[0] == ';' || rest[0] == ' ' || rest[0] == '\t'
}

// Discover picks the MTA-STS record out of the TXT records found at
// _mta-sts.<domain>, each given as its character-strings concatenated
// (RFC 8461 §3.1). Records that do not start with v=STSv1 are ignored.
// Exactly one record must remain and it must be valid; otherwise the
// error wraps ErrNoRecord, ErrSeveralRecords or ErrInvalidRecord, and the
// domain has no available policy.
func Discover(txts []string) (Record, error) {
	var sts []string
	for _, t := range txts {
		if isSTSRecord(t) {
			sts = append(sts, t)
		}
	}
	switch len(sts) {
	case 0:
		if len(txts) == 0 {
			return Record{}, fmt.Errorf("%w: no TXT record at all", ErrNoRecord)
		}
		return Record{}, fmt.Errorf("%w: %d TXT records, none starts with v=STSv1", ErrNoRecord, len(txts))
	case 1:
		return ParseRecord(sts[0])
	default:
		return Record{}, fmt.Errorf("%w: %d records start with v=STSv1; RFC 8461 §3.1 treats that as no policy", ErrSeveralRecords, len(sts))
	}
}

// ParseRecord parses one MTA-STS TXT record (RFC 8461 §3.1):
//
//	v=STSv1; id=20160831085700Z
//
// The version must come first; fields are separated by ";" with optional
// spaces or tabs around it and a trailing ";" is allowed. The id field is
// required; unknown fields are checked for syntax and ignored; when a
// field appears more than once the first is used (RFC 8461 §3.2). Names
// and the version are case-sensitive. Errors wrap ErrInvalidRecord.
func ParseRecord(txt string) (Record, error) {
	if !isSTSRecord(txt) {
		return Record{}, invalidRecord(txt, "does not start with v=STSv1")
	}
	parts := strings.Split(txt[len("v=STSv1"):], ";")
	if trimWSP(parts[0]) != "" {
		return Record{}, invalidRecord(txt, "text after v=STSv1 before the first ';'")
	}
	if len(parts) < 2 {
		return Record{}, invalidRecord(txt, "no id field")
	}
	var rec Record
	seen := map[string]bool{}
	for i, part := range parts[1:] {
		field := trimWSP(part)
		if field == "" {
			if i == len(parts)-2 {
				break // a trailing ';'
			}
			return Record{}, invalidRecord(txt, "empty field between ';'")
		}
		name, value, ok := strings.Cut(field, "=")
		if !ok {
			return Record{}, invalidRecord(txt, fmt.Sprintf("field %q has no '='", clip(field)))
		}
		if !validFieldName(name) {
			return Record{}, invalidRecord(txt, fmt.Sprintf("invalid field name %q", clip(name)))
		}
		first := !seen[name]
		seen[name] = true
		switch {
		case name == "id":
			if !validID(value) {
				return Record{}, invalidRecord(txt, fmt.Sprintf("id %q is not 1 to %d letters and digits", clip(value), maxIDLength))
			}
			if first {
				rec.ID = value
			}
		case !validExtValue(value):
			return Record{}, invalidRecord(txt, fmt.Sprintf("field %s has an invalid value %q", name, clip(value)))
		}
	}
	if rec.ID == "" {
		return Record{}, invalidRecord(txt, "no id field")
	}
	return rec, nil
}

func invalidRecord(txt, why string) error {
	return fmt.Errorf("%w %q: %s", ErrInvalidRecord, clip(txt), why)
}

// validID: 1*32(ALPHA / DIGIT).
func validID(s string) bool {
	if len(s) == 0 || len(s) > maxIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

// validFieldName is the sts-ext-name and sts-policy-ext-name of RFC 8461
// §3.1 and §3.2: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".").
func validFieldName(s string) bool {
	if len(s) == 0 || len(s) > 32 || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// validExtValue is sts-ext-value (RFC 8461 §3.1): printable ASCII other
// than "=", ";" and space.
func validExtValue(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '=' || c == ';' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// trimWSP removes spaces and tabs (WSP, RFC 5234) at both ends.
func trimWSP(s string) string {
	return strings.Trim(s, " \t")
}

// clip bounds text from the network quoted in an error.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
