package state

import (
	"errors"
	"strings"
	"time"
)

// STSPolicy is a cached MTA-STS policy of one domain (RFC 8461 §5.1).
type STSPolicy struct {
	// Domain is the policy domain, lower-case, no trailing dot. It is the
	// key.
	Domain string `json:"domain"`
	// ID is the id of the TXT record the policy was fetched under.
	ID string `json:"id"`
	// Text is the policy body exactly as served.
	Text string `json:"text"`
	// Mode, MX and MaxAge are the parsed policy ("enforce", the
	// patterns, max_age), so that a reader need not parse Text again.
	Mode   string        `json:"mode"`
	MX     []string      `json:"mx,omitempty"`
	MaxAge time.Duration `json:"max_age_ns"`
	// FetchedAt is when the policy was fetched; Expires is FetchedAt plus
	// MaxAge, after which it must not be used.
	FetchedAt time.Time `json:"fetched_at"`
	Expires   time.Time `json:"expires"`
}

var stsPolicies = bucket[STSPolicy]{name: stsBucket}

func domainKey(d string) string {
	return strings.ToLower(strings.TrimSuffix(d, "."))
}

// PutSTSPolicy stores p under p.Domain, replacing what was there. It
// returns once the write is on disk.
func (s *Store) PutSTSPolicy(p STSPolicy) error {
	p.Domain = domainKey(p.Domain)
	p.FetchedAt, p.Expires = p.FetchedAt.UTC(), p.Expires.UTC()
	return stsPolicies.put(s, p.Domain, p)
}

// STSPolicy returns the stored policy of domain, and whether there is
// one.
func (s *Store) STSPolicy(domain string) (STSPolicy, bool, error) {
	p, err := stsPolicies.get(s, domainKey(domain))
	if errors.Is(err, errNotFound) {
		return STSPolicy{}, false, nil
	}
	if err != nil {
		return STSPolicy{}, false, err
	}
	return p, true, nil
}

// DeleteSTSPolicy removes the stored policy of domain, if any.
func (s *Store) DeleteSTSPolicy(domain string) error {
	return stsPolicies.delete(s, domainKey(domain))
}

// STSPolicies returns every stored policy, in domain order. Entries that
// cannot be decoded are skipped and named in the error, which comes with
// the others.
func (s *Store) STSPolicies() ([]STSPolicy, error) {
	var all []STSPolicy
	err := stsPolicies.each(s, func(_ string, p STSPolicy) { all = append(all, p) })
	return all, err
}
