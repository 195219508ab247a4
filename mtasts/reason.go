package mtasts

// Reason says why MTA-STS made a policy unavailable or a host unusable.
// The values are meant to map one to one onto the API's dane.v1.Reason;
// each documents its RFC 8460 result type.
type Reason int

const (
	// ReasonNone: no failure.
	ReasonNone Reason = iota
	// ReasonMXNotInPolicy: the MX host name matches no mx pattern of an
	// enforced policy, so the host is not usable (RFC 8461 §4.1, §5).
	// RFC 8460 validation-failure.
	ReasonMXNotInPolicy
	// ReasonCertNotTrusted: the host's chain does not validate against
	// the WebPKI roots, or a certificate in it is not yet valid (RFC 8461
	// §4.2). RFC 8460 certificate-not-trusted.
	ReasonCertNotTrusted
	// ReasonCertNameMismatch: the chain validates but the certificate does
	// not name the MX host (RFC 8461 §4.2, RFC 6125). RFC 8460
	// certificate-host-mismatch.
	ReasonCertNameMismatch
	// ReasonCertExpired: a certificate of the chain has expired (RFC 8461
	// §4.2). RFC 8460 certificate-expired.
	ReasonCertExpired
	// ReasonPolicyFetchFailed: the policy could not be retrieved: the TXT
	// lookup failed, the policy host is unreachable or forbidden, HTTP
	// answered other than 200 text/plain, the body is too large, or the
	// deadline passed (RFC 8461 §3.3). RFC 8460 sts-policy-fetch-error.
	ReasonPolicyFetchFailed
	// ReasonPolicyInvalid: the policy was retrieved but is not a valid
	// STSv1 policy (RFC 8461 §3.2). RFC 8460 sts-policy-invalid.
	ReasonPolicyInvalid
	// ReasonWebPKIInvalid: the policy host's certificate did not validate
	// against the WebPKI roots for mta-sts.<domain> (RFC 8461 §3.3). RFC
	// 8460 sts-webpki-invalid.
	ReasonWebPKIInvalid
)

var reasonNames = [...]string{
	ReasonNone:              "NONE",
	ReasonMXNotInPolicy:     "MX_NOT_IN_POLICY",
	ReasonCertNotTrusted:    "CERT_NOT_TRUSTED",
	ReasonCertNameMismatch:  "CERT_NAME_MISMATCH",
	ReasonCertExpired:       "CERT_EXPIRED",
	ReasonPolicyFetchFailed: "STS_POLICY_FETCH_FAILED",
	ReasonPolicyInvalid:     "STS_POLICY_INVALID",
	ReasonWebPKIInvalid:     "STS_WEBPKI_INVALID",
}

var resultTypes = [...]string{
	ReasonNone:              "",
	ReasonMXNotInPolicy:     "validation-failure",
	ReasonCertNotTrusted:    "certificate-not-trusted",
	ReasonCertNameMismatch:  "certificate-host-mismatch",
	ReasonCertExpired:       "certificate-expired",
	ReasonPolicyFetchFailed: "sts-policy-fetch-error",
	ReasonPolicyInvalid:     "sts-policy-invalid",
	ReasonWebPKIInvalid:     "sts-webpki-invalid",
}

// String returns the reason's name as the API spells it, without the
// REASON_ prefix: "MX_NOT_IN_POLICY".
func (r Reason) String() string {
	if r >= 0 && int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "UNKNOWN"
}

// ResultType returns the RFC 8460 §4.3 result type a TLS report files the
// failure under ("sts-policy-fetch-error"), or "" for ReasonNone.
func (r Reason) ResultType() string {
	if r >= 0 && int(r) < len(resultTypes) {
		return resultTypes[r]
	}
	return ""
}
