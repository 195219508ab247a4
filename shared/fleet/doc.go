// Package fleet keeps in the shared store (Redis, --redis) what daned
// replicas share besides verdicts: the MTA-STS policies one replica
// fetched (Policies, the second level of mtasts/manager) and the TLS-RPT
// counts from which one replica reports for all (Reports, the Fleet of
// tlsrpt/reporter).
//
// Every value it writes is sealed (an HMAC bound to its key and field,
// with an absolute expiry) and every key expires; a value that does not
// open is ignored and counted, never used. Every call is bounded by its
// own deadline, and a failure is returned, not retried: the callers work
// alone meanwhile. It uses no KEYS or SCAN: each period's keys are named
// from a set.
//
// It does not decide what to share or when (the manager and the
// reporter do), and it does not connect to Redis or hold the secret (the
// shared store does).
package fleet
