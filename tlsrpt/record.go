package tlsrpt

import (
	"errors"
	"fmt"
	"strings"
)

// Record is a domain's reporting policy: the TXT record at
// _smtp._tls.<domain> (RFC 8460 §3).
type Record struct {
	// RUA are the usable report addresses, in the record's order:
	// "mailto:" with one address, or "https:" URLs.
	RUA []string
	// Skipped are the rua entries that were not usable, each with why.
	Skipped []string
}

// ErrNoRecord means the domain publishes no usable reporting policy: no
// TXT record starting "v=TLSRPTv1", or more than one (RFC 8460 §3: then
// none applies), or one with no usable rua.
var ErrNoRecord = errors.New("tlsrpt: no TLSRPT record")

// RecordName is the name of a policy domain's TLSRPT TXT record.
func RecordName(domain string) string {
	return "_smtp._tls." + strings.TrimSuffix(domain, ".") + "."
}

// ParseRecord returns the reporting policy among the TXT records (each
// record's strings already joined) found at a domain's RecordName. Other
// TXT records are ignored (RFC 8460 §3); two TLSRPT records make none.
// Unusable rua entries are listed in Skipped, never a reason to fail.
func ParseRecord(txts []string) (Record, error) {
	var found []string
	for _, t := range txts {
		if t == "v=TLSRPTv1" || strings.HasPrefix(t, "v=TLSRPTv1;") || strings.HasPrefix(t, "v=TLSRPTv1 ") {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 0:
		return Record{}, fmt.Errorf("%w: none of %d TXT records starts with v=TLSRPTv1", ErrNoRecord, len(txts))
	case 1:
	default:
		return Record{}, fmt.Errorf("%w: %d records start with v=TLSRPTv1 (RFC 8460 §3: none applies)", ErrNoRecord, len(found))
	}
	var rec Record
	var sawRUA bool
	for _, field := range strings.Split(found[0], ";")[1:] {
		name, value, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok || strings.TrimSpace(name) != "rua" {
			continue // extensions (RFC 8460 §3: ignored), or an empty field
		}
		if sawRUA {
			rec.Skipped = append(rec.Skipped, "a second rua field: ignored")
			continue
		}
		sawRUA = true
		for _, u := range strings.Split(value, ",") {
			u = strings.TrimSpace(u)
			if u == "" {
				continue
			}
			if err := CheckRUA(u); err != nil {
				rec.Skipped = append(rec.Skipped, err.Error())
				continue
			}
			rec.RUA = append(rec.RUA, u)
		}
	}
	if len(rec.RUA) == 0 {
		return rec, fmt.Errorf("%w: the record has no usable rua (%s)", ErrNoRecord, strings.Join(rec.Skipped, "; "))
	}
	return rec, nil
}

// CheckRUA returns why a rua entry cannot be used, or nil (ParseRUA).
func CheckRUA(rua string) error {
	_, err := ParseRUA(rua)
	return err
}
