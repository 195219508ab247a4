// Package daneclient is the Go client of daned, the SMTP DANE (RFC 7672)
// verdict service, and the pieces a Go MTA needs to act on its answers.
//
//   - Dial connects to daned (TLS by default, mTLS with WithTLS, plaintext
//     for loopback with WithInsecure) with a per-call timeout and retries
//     with exponential backoff on Unavailable only: every other status is
//     an answer, and a verdict is never an error.
//   - Validate and Policy ask for a domain's verdict, with and without
//     STARTTLS probes; VerifyPeer has daned authenticate a chain the MTA
//     received on its own connection.
//   - TLSConfig, HostTLSConfig and HostTLSConfigFor return a *tls.Config
//     that enforces an MX host's policy on the MTA's own connection,
//     locally with the checks daned's VerifyPeer makes (no round trip per
//     connection): dane.CheckPeer for DANE, and for a host under an
//     enforced MTA-STS policy (RFC 8461) mtasts.VerifyHost, the mx
//     pattern and a WebPKI chain for the host name. A Go MTA gets DANE and
//     MTA-STS by changing the line that builds its tls.Config.
//   - Invalidate drops what daned has cached about a domain.
//   - WithDomainRouting sends every call about one domain to one of
//     several replicas (gRPC ring hash on DomainHeader, which every
//     per-domain call carries).
//   - NextAttempt and FinalCode implement Exchange Online's retry
//     schedule for deferred mail.
//
// Results are the API's own messages (package danev1), documented field
// by field in proto/dane/v1/dane.proto; this package adds no wrapper
// types, so nothing is lost or renamed between the wire and the caller.
//
// It does not resolve DNS or speak SMTP: daned does the DNSSEC work, and
// the caller owns its SMTP session.
package daneclient
