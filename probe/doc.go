// Package probe opens an SMTP connection to one address and reports what it
// saw: the 220 banner, whether EHLO offered STARTTLS (RFC 3207), whether the
// TLS handshake completed, the negotiated version and cipher suite, and the
// certificate chain exactly as the server presented it.
//
// The probe sends the TLSA base domain as SNI (RFC 7672 §8.1, RFC 7671 §3)
// and accepts any chain: it never judges the chain. PKIX validation is
// deliberately off because DANE, not the Web PKI, decides (RFC 7672 §3);
// matching the chain against TLSA records is the job of package dane.
//
// Every step (connect, banner, EHLO, STARTTLS reply, handshake) runs under
// its own deadline, the whole probe under another, and the caller's context
// under a third; whichever comes first wins, so a probe never hangs on a
// tarpit, a slow drip or an endless reply. SMTP replies are read with
// bounded line length and line count (see ReadReply).
//
// What the package does not do: it does not resolve names, look up TLSA
// records, judge certificates, send mail, or retry. Probe does not consult a
// TargetPolicy either: the caller (the engine) must ask
// TargetPolicy.Permitted before probing an address that came from DNS, so
// that daned cannot be aimed at loopback, private or other internal
// networks.
package probe
