// Package deliver sends one SMTP TLS report (RFC 8460) to one rua URI of
// a policy domain's TLSRPT record: a POST to an https: URI (RFC 8460
// §5.3.2), or a mail to a mailto: URI's addresses through a configured
// relay (RFC 8460 §5.3.1), DKIM-signed when a key is configured.
//
// tlsrpt.ParseRUA says which rua URIs are usable. Deliver sends the gzip-compressed
// JSON report it is given (tlsrpt.Report.Gzip) as it is. Every failure is
// an *Error that is either permanent (a bad URI or report, an SMTP 5xx
// reply, an HTTP 4xx other than 408 and 429: sending the same report again
// cannot succeed) or temporary (the network, an SMTP 4xx reply, an HTTP
// 5xx, 408 or 429: it may succeed later); IsPermanent tells them apart.
//
// It does not build, store or schedule reports, look up TLSRPT records,
// or retry (RFC 8460 §5.4 retries are the scheduler's, package
// tlsrpt/reporter). Mail goes only to the configured relay, never to the
// recipient domain's MX hosts, and the relay is trusted to deliver it.
package deliver
