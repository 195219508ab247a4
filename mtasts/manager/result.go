package manager

import (
	"slices"
	"time"

	"github.com/daned/daned/mtasts"
)

// Result is the MTA-STS policy that applies to a domain, or why there is
// none.
//
//   - A policy applies (HasPolicy): RecordID, Policy, Text, FetchedAt and
//     Expires describe it. FromCache says it was not fetched by this
//     call. A Failure with a policy means discovery or the fetch failed
//     and the cached, unexpired policy stands in (RFC 8461 §5.1).
//   - No policy and no Failure: the domain publishes none (no TXT record,
//     several, or an invalid one; Detail says which), or Policy was not
//     asked for.
//   - No policy and a Failure: discovery or the fetch failed and nothing
//     is cached; deliver as without a policy and report the failure
//     (RFC 8460 sts-* result types).
type Result struct {
	// Domain is the policy domain, lower-case A-labels.
	Domain string
	// RecordID is the id of the TXT record the policy was fetched under.
	RecordID string
	// Policy is the policy: mode, mx patterns, max_age. Its Mode is
	// mtasts.ModeUnspecified when no policy applies.
	Policy mtasts.Policy
	// Text is the policy body as served.
	Text string
	// FetchedAt is when the policy was fetched; it may be used until
	// Expires (FetchedAt + max_age).
	FetchedAt, Expires time.Time
	// FromCache: the policy was cached, not fetched by this call.
	FromCache bool
	// Failure is why discovery or the fetch failed, or mtasts.ReasonNone:
	// ReasonPolicyFetchFailed (also for a failed or bogus TXT lookup),
	// ReasonWebPKIInvalid or ReasonPolicyInvalid.
	Failure mtasts.Reason
	// Detail explains the result in words an administrator understands;
	// empty for a plain success.
	Detail string
}

// HasPolicy reports whether a policy applies.
func (r Result) HasPolicy() bool { return r.Policy.Mode != mtasts.ModeUnspecified }

// State is the result as mtasts.Decide wants it: the mode of the policy
// that applies, else the failure, else STSAbsent.
func (r Result) State() mtasts.STSState {
	if r.HasPolicy() {
		return mtasts.StateOf(r.Policy.Mode)
	}
	switch r.Failure {
	case mtasts.ReasonPolicyFetchFailed:
		return mtasts.STSFetchError
	case mtasts.ReasonWebPKIInvalid:
		return mtasts.STSWebPKIInvalid
	case mtasts.ReasonPolicyInvalid:
		return mtasts.STSInvalid
	}
	return mtasts.STSAbsent
}

// clone gives each caller of a shared resolution its own MX slice.
func (r Result) clone() Result {
	r.Policy.MX = slices.Clone(r.Policy.MX)
	return r
}

func fresh(d string, e *entry) Result {
	return Result{Domain: d, RecordID: e.id, Policy: e.policy, Text: e.text, FetchedAt: e.fetchedAt, Expires: e.expires}
}

func fromCache(d string, e *entry, reason mtasts.Reason, detail string) Result {
	r := fresh(d, e)
	r.FromCache, r.Failure, r.Detail = true, reason, detail
	return r
}
