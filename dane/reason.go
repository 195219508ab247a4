package dane

// Reason says why a verdict, a host or an address is what it is. The
// values mirror the API's dane.v1.Reason one to one; each documents the
// enhanced status code (RFC 3463, Exchange Online's DANE codes) and the
// RFC 8460 result type it maps to. The MTA-STS reasons (RFC 8461) are
// here too, named as package mtasts names its own (see ReasonNamed), so
// that one enum says why for both mechanisms.
type Reason int

const (
	// ReasonUnspecified is the zero value: nothing was decided.
	ReasonUnspecified Reason = iota
	// ReasonOK: mail may be delivered.
	ReasonOK
	// ReasonDNSQueryFailed: a DNS query failed for a reason other than
	// DNSSEC (SERVFAIL, REFUSED, malformed reply). 4.4.312.
	ReasonDNSQueryFailed
	// ReasonDNSSECBogus: DNSSEC validation of an answer failed (RFC 7672
	// §2.1.1). 4.7.324, dnssec-invalid.
	ReasonDNSSECBogus
	// ReasonTLSALookupFailed: the TLSA lookup failed; any TLSA-related
	// failure makes the host unusable (RFC 7672 §2.1.2). 4.7.324,
	// dnssec-invalid.
	ReasonTLSALookupFailed
	// ReasonNoAddresses: the host has no A or AAAA records (RFC 7672
	// §2.2.2). 4.4.4.
	ReasonNoAddresses
	// ReasonConnectFailed: the TCP connection was refused or could not be
	// made. 4.4.1.
	ReasonConnectFailed
	// ReasonSTARTTLSNotOffered: STARTTLS was not offered or was refused
	// where TLS is mandatory (RFC 7672 §2.2). 4.7.321,
	// starttls-not-supported.
	ReasonSTARTTLSNotOffered
	// ReasonTLSHandshakeFailed: the TLS handshake failed where TLS is
	// mandatory. 4.7.321, starttls-not-supported.
	ReasonTLSHandshakeFailed
	// ReasonTLSANoMatch: no usable TLSA record matches the presented chain
	// (RFC 7672 §3). 4.7.323, tlsa-invalid.
	ReasonTLSANoMatch
	// ReasonCertNameMismatch: a DANE-TA(2) record matched but the server
	// certificate names none of the reference identifiers (RFC 7672
	// §3.2.2). 4.7.323, certificate-host-mismatch.
	ReasonCertNameMismatch
	// ReasonCertExpired: a certificate of a chain that matched a DANE-TA(2)
	// record has expired (RFC 7672 §3.1.2). 4.7.322, certificate-expired.
	ReasonCertExpired
	// ReasonCertNotYetValid: a certificate of a chain that matched a
	// DANE-TA(2) record is not yet valid. 4.7.323 (where Exchange Online
	// files it), certificate-not-trusted.
	ReasonCertNotYetValid
	// ReasonChainInvalid: a DANE-TA(2) record matched but the chain from it
	// to the server certificate does not verify. 4.7.323,
	// validation-failure.
	ReasonChainInvalid
	// ReasonTargetForbidden: the address lies in a range daned does not
	// connect to. 4.4.4.
	ReasonTargetForbidden
	// ReasonNullMX: the domain publishes a null MX (RFC 7505). 5.1.10.
	ReasonNullMX
	// ReasonNXDomain: the domain does not exist. 5.1.2.
	ReasonNXDomain
	// ReasonTimeout: a probe (4.4.1) or a DNS query (4.4.312) ran out of
	// time.
	ReasonTimeout
	// ReasonNotProbed: the address was not probed (policy-only request).
	ReasonNotProbed
	// ReasonSMTPError: the SMTP server answered with an error or broke the
	// protocol before TLS could be tried. 4.4.2.
	ReasonSMTPError
	// ReasonNotConsidered: the host was cut off by a limit on the MX hosts
	// considered.
	ReasonNotConsidered
	// ReasonCertNotTrusted: under an MTA-STS policy, the host's chain does
	// not validate against the WebPKI roots (unknown issuer, a certificate
	// not yet valid, no certificate; RFC 8461 §4.2). 4.7.5,
	// certificate-not-trusted.
	ReasonCertNotTrusted
	// ReasonMXNotInPolicy: the MX host name matches no mx pattern of the
	// domain's MTA-STS policy (RFC 8461 §4.1). 4.7.5, validation-failure.
	ReasonMXNotInPolicy
	// ReasonSTSPolicyFetchFailed: the domain's MTA-STS policy could not be
	// had: the TXT lookup failed or was bogus, the policy host was
	// unreachable or forbidden, or answered other than HTTP 200 text/plain
	// of at most 64 KiB without a redirect (RFC 8461 §3.3). Never a
	// reason to defer on its own (§5.1). sts-policy-fetch-error.
	ReasonSTSPolicyFetchFailed
	// ReasonSTSPolicyInvalid: the policy fetched is not a valid STSv1
	// policy (RFC 8461 §3.2). Never a reason to defer on its own.
	// sts-policy-invalid.
	ReasonSTSPolicyInvalid
	// ReasonSTSWebPKIInvalid: the policy host's certificate is not valid
	// for mta-sts.<domain> under the WebPKI (RFC 8461 §3.3). Never a
	// reason to defer on its own. sts-webpki-invalid.
	ReasonSTSWebPKIInvalid
)

var reasonNames = [...]string{
	ReasonUnspecified:        "UNSPECIFIED",
	ReasonOK:                 "OK",
	ReasonDNSQueryFailed:     "DNS_QUERY_FAILED",
	ReasonDNSSECBogus:        "DNSSEC_BOGUS",
	ReasonTLSALookupFailed:   "TLSA_LOOKUP_FAILED",
	ReasonNoAddresses:        "NO_ADDRESSES",
	ReasonConnectFailed:      "CONNECT_FAILED",
	ReasonSTARTTLSNotOffered: "STARTTLS_NOT_OFFERED",
	ReasonTLSHandshakeFailed: "TLS_HANDSHAKE_FAILED",
	ReasonTLSANoMatch:        "TLSA_NO_MATCH",
	ReasonCertNameMismatch:   "CERT_NAME_MISMATCH",
	ReasonCertExpired:        "CERT_EXPIRED",
	ReasonCertNotYetValid:    "CERT_NOT_YET_VALID",
	ReasonChainInvalid:       "CHAIN_INVALID",
	ReasonTargetForbidden:    "TARGET_FORBIDDEN",
	ReasonNullMX:             "NULL_MX",
	ReasonNXDomain:           "NXDOMAIN",
	ReasonTimeout:            "TIMEOUT",
	ReasonNotProbed:          "NOT_PROBED",
	ReasonSMTPError:          "SMTP_ERROR",
	ReasonNotConsidered:      "NOT_CONSIDERED",

	ReasonCertNotTrusted:       "CERT_NOT_TRUSTED",
	ReasonMXNotInPolicy:        "MX_NOT_IN_POLICY",
	ReasonSTSPolicyFetchFailed: "STS_POLICY_FETCH_FAILED",
	ReasonSTSPolicyInvalid:     "STS_POLICY_INVALID",
	ReasonSTSWebPKIInvalid:     "STS_WEBPKI_INVALID",
}

// String returns the reason's name as in the API, without the REASON_
// prefix.
func (r Reason) String() string {
	if r >= 0 && int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "UNKNOWN"
}

// ReasonNamed returns the reason whose String is name ("MX_NOT_IN_POLICY"),
// or ReasonUnspecified. It maps package mtasts's reasons, which spell
// their names the same way, onto this enum without either package
// importing the other.
func ReasonNamed(name string) Reason {
	for r, n := range reasonNames {
		if n == name {
			return Reason(r)
		}
	}
	return ReasonUnspecified
}
