// Package dane is the pure logic of SMTP DANE: which TLSA records count
// (RFC 6698 §2.1, RFC 7672 §3.1.3, RFC 7671 §9 digest agility), how a
// server's certificate chain is authenticated against them (DANE-EE and
// DANE-TA, RFC 7672 §3), what each MX host demands of a sender (RFC 7672
// §2.2), and the verdict for a destination with its enhanced status code
// and RFC 8460 result type.
//
// It does no I/O: no DNS, no network, no clock. Records arrive already
// resolved and DNSSEC-judged, chains already captured, and the time comes
// in as an argument, so every rule here is testable with fixed inputs.
package dane
