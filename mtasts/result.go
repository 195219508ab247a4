package mtasts

import "time"

// PolicyResult is the MTA-STS policy that applies to a domain now, or
// why there is none, as a policy source (package mtasts/manager) finds
// it and the engine weighs it with Decide:
//
//   - A policy applies (HasPolicy): RecordID, Policy, Text, FetchedAt and
//     Expires describe it. FromCache says it was not fetched for this
//     answer. A Failure with a policy means discovery or the fetch failed
//     and the cached, unexpired policy stands in (RFC 8461 §5.1).
//   - No policy and no Failure: the domain publishes none (no TXT record,
//     several, or an invalid one; Detail says which).
//   - No policy and a Failure: discovery or the fetch failed and nothing
//     is cached; deliver as without a policy and report the failure
//     (RFC 8460 sts-* result types).
type PolicyResult struct {
	// Domain is the policy domain, lower-case A-labels.
	Domain string
	// RecordID is the id of the TXT record the policy was fetched under.
	RecordID string
	// Policy is the policy: mode, mx patterns, max_age. Its Mode is
	// ModeUnspecified when no policy applies.
	Policy Policy
	// Text is the policy body as served.
	Text string
	// FetchedAt is when the policy was fetched; it may be used until
	// Expires (FetchedAt + max_age).
	FetchedAt, Expires time.Time
	// FromCache: the policy was cached, not fetched for this answer.
	FromCache bool
	// Failure is why discovery or the fetch failed, or ReasonNone:
	// ReasonPolicyFetchFailed (also for a failed or bogus TXT lookup),
	// ReasonWebPKIInvalid or ReasonPolicyInvalid.
	Failure Reason
	// Detail explains the result in words an administrator understands;
	// empty for a plain success.
	Detail string
}

// HasPolicy reports whether a policy applies.
func (r PolicyResult) HasPolicy() bool { return r.Policy.Mode != ModeUnspecified }

// State is the result as Decide wants it: the mode of the policy that
// applies, else the failure, else STSAbsent.
func (r PolicyResult) State() STSState {
	if r.HasPolicy() {
		return StateOf(r.Policy.Mode)
	}
	switch r.Failure {
	case ReasonPolicyFetchFailed:
		return STSFetchError
	case ReasonWebPKIInvalid:
		return STSWebPKIInvalid
	case ReasonPolicyInvalid:
		return STSInvalid
	}
	return STSAbsent
}
