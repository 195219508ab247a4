package manager

import (
	"slices"

	"github.com/daned/daned/mtasts"
)

// Result is the MTA-STS policy that applies to a domain, or why there is
// none: mtasts.PolicyResult, so that the engine's policy source
// interface, which speaks only package mtasts, is the Manager's Policy
// method as it is.
type Result = mtasts.PolicyResult

// clone gives each caller of a shared resolution its own MX slice.
func clone(r Result) Result {
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
