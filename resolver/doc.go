// Package resolver performs the DNSSEC-aware DNS lookups a DANE verdict
// needs (MX, A/AAAA, CNAME, TLSA) and reports, for each answer, its DNSSEC
// security state (secure, insecure, bogus, indeterminate) and the reason a
// lookup failed, including the upstream's Extended DNS Errors (RFC 8914).
//
// The package has two modes behind the same Lookup, Answer and
// QueryError: upstream mode (New) and embedded mode (NewEmbedded, see
// embedded.go), where libunbound validates in-process through cgo from
// built-in IANA root anchors. In both, a failure carries a short precise
// reason (BogusReason, QueryError.Reason).
//
// In upstream mode the package sends every query with DO=1 (EDNS0, UDP
// payload 1232), CD=0 and RD=1 to a DNSSEC-validating recursive resolver
// such as Unbound, and trusts that resolver's AD bit (RFC 7672 §2.1.1,
// RFC 4035 §3.2.3). It does not validate DNSSEC itself:
// it never looks at RRSIG, DNSKEY, DS or NSEC records and holds no trust
// anchor. Because the AD bit is only as good as the channel it travels
// over (RFC 6698 §4.1, RFC 4035 §4.9.3), New refuses an upstream that is
// not on loopback unless the operator marks it trusted.
//
// The package does not decide DANE applicability; in upstream mode it does
// not cache or iterate from the root. It resolves one name and type per
// call, follows the CNAME chain present in the answer, retries within bounds (UDP
// attempts, one TCP retry on truncation per RFC 7766, one SERVFAIL retry)
// and never waits beyond the caller's context deadline.
//
// In upstream mode the AD bit covers the whole reply, so a CNAME chain is
// reported secure only when every link and the final RRset are secure;
// an insecure link anywhere makes the whole Answer insecure (a stricter
// reading of RFC 7672 §2.1.3).
//
// A Resolver holds no mutable state after New and is safe for concurrent
// use.
package resolver
