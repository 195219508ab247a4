// Package dane is the pure logic of SMTP DANE: whether DANE applies to an
// MX host and where its TLSA records are looked for (Applies,
// TLSABaseCandidates; RFC 7672 §2.2.1–3, RFC 7671 §7), which TLSA records
// count (ParseRecord, Assess; RFC 6698 §2.1, RFC 7672 §3.1.3, RFC 7671 §9
// digest agility), how a server's certificate chain is authenticated
// against them (Verify, with the DANE-TA ReferenceNames; DANE-EE and
// DANE-TA, RFC 7672 §3), what each MX host demands of a sender and of a
// connection to it (HostPolicy, CheckPeer; RFC 7672 §2.2), and the
// verdict for a destination with its enhanced status code and RFC 8460
// result type.
//
// It does no I/O: no DNS, no network, no clock. Records arrive already
// resolved and DNSSEC-judged, chains already captured, and the time comes
// in as an argument, so every rule here is testable with fixed inputs.
package dane
