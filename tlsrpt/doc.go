// Package tlsrpt is SMTP TLS Reporting (RFC 8460) for a fleet: the
// sessions MTAs report (Session), the datagrams Postfix's TLSRPT library
// sends them in (ParseDatagram), their aggregation per period, policy
// domain and policy (Aggregator, durable in the state store), the JSON
// report of RFC 8460 §4.4 (Report), and the reporting policy a domain
// publishes at _smtp._tls (ParseRecord).
//
// It does not resolve names, fetch policies or deliver reports: the
// collector attaches each session's policy from the decision layer's
// verdict, package tlsrpt/deliver sends the reports, and package
// tlsrpt/reporter decides when.
package tlsrpt
