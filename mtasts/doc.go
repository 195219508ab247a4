// Package mtasts is the pure logic of SMTP MTA Strict Transport Security
// (RFC 8461) as daned applies it beside DANE:
//
//   - discovery: the TXT record at _mta-sts.<domain> (§3.1), ParseRecord
//     and Discover;
//   - the policy file (§3.2), ParsePolicy and Policy.Format;
//   - MX host patterns (§4.1), MatchMX and Policy.MatchMX;
//   - the WebPKI check an MX host under an enforced policy must pass
//     (§4.2), VerifyHost;
//   - the precedence of DANE over MTA-STS (RFC 8461 §2, RFC 7672), Decide;
//   - the reasons a policy or a host fails, with their RFC 8460 result
//     types (Reason);
//   - what a policy source found for a domain (PolicyResult).
//
// It does no I/O: no DNS, no HTTPS, no clock, no storage. TXT strings and
// policy text arrive already fetched, chains already captured, and the
// time comes in as an argument. Fetching a policy over HTTPS is package
// mtasts/fetch; caching it, refreshing it and surviving restarts is
// package mtasts/manager; the store under the state directory is package
// state.
package mtasts
