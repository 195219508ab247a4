// Package socketmap is daned's Postfix front door: a socketmap_table(5)
// server that answers smtp_tls_policy_maps lookups
// (socketmap:inet:HOST:PORT:QUERY, or socketmap:unix:PATH:QUERY for a
// chrooted Postfix) from policy-only validations, so that a Postfix fleet
// uses daned without code.
//
// The protocol: each request is one netstring "<name> <key>" of at most
// MaxQuery bytes; each reply one netstring "OK <data>", "NOTFOUND ",
// "TEMP <reason>", "TIMEOUT <reason>" or "PERM <reason>" of at most
// MaxReply bytes. Requests may be pipelined on a connection and are
// answered in order. Names: QUERY, and QUERYwithTLSRPT for Postfix 3.10
// and later (MTA-STS replies then carry TLSRPT attributes); any other is
// "PERM unknown map name".
//
// The key rule (what Postfix sends, and what it gets):
//
//   - "example.com", a destination domain: a policy-only validation
//     (DNS only: Postfix makes the TLS connection and enforces the
//     policy itself), answered as PolicyReply documents: OK dane-only, OK
//     dane, OK secure … (MTA-STS), NOTFOUND, or TEMP with the enhanced
//     status code of a verdict that defers.
//   - ".example.com", a parent-domain lookup, which Postfix makes only
//     after the domain itself got NOTFOUND: NOTFOUND at once, no DNS.
//   - "[host]", "[host]:port", "host:port" (explicit next hops, which
//     Postfix asks once and without an MX lookup) and a UNIX-domain path:
//     NOTFOUND at once, no DNS. Postfix's own dane level still
//     authenticates such a host from its TLSA records.
//   - anything that is not a domain (white space, control characters,
//     an IP address, a name IDNA 2008 refuses): PERM with the reason.
//     Postfix logs it and defers the mail: the next hop is misconfigured.
//   - NXDOMAIN and null MX (RFC 7505): NOTFOUND. Postfix reaches the same
//     permanent failure from its own DNS lookups and bounces; TEMP would
//     keep the mail queued for days.
//
// The server never closes a connection that is owed a reply, keeps idle
// connections at least IdleTimeout (Postfix closes them first), bounds a
// request's reading once its first byte arrived (slowloris), the number
// of connections and the pipeline of each, and refuses oversize requests
// before allocating for them.
//
// It holds no DANE logic and no cache: verdicts come from a Validator
// (the engine, or the decision layer with its verdict cache), MTA-STS
// policies from an STSSource.
package socketmap
