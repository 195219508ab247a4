package dane

// Policy is what a destination or one of its hosts demands of a sender. The
// values mirror the API's dane.v1.Policy.
type Policy int

const (
	// PolicyUnspecified: not determined (the lookups it rests on failed).
	PolicyUnspecified Policy = iota
	// PolicyDANERequired: a secure TLSA RRset with usable records; STARTTLS
	// and authentication are mandatory (RFC 7672 §2.2, outcome 1).
	PolicyDANERequired
	// PolicyTLSRequired: a secure TLSA RRset whose records are all
	// unusable; STARTTLS is mandatory, authentication is not (RFC 7672
	// §2.2, outcome 2; §3.1.3).
	PolicyTLSRequired
	// PolicyOpportunistic: no DANE; opportunistic TLS, cleartext allowed
	// (RFC 7672 §2.2, outcome 3).
	PolicyOpportunistic
	// PolicyNoMail: the domain accepts no mail (RFC 7505 null MX, or it
	// does not exist).
	PolicyNoMail
	// PolicyMTASTSRequired: no DANE, and the domain's MTA-STS policy in
	// mode enforce names the host: STARTTLS and a certificate chain valid
	// under the WebPKI for the host name are mandatory (RFC 8461 §4, §5).
	PolicyMTASTSRequired
)

var policyNames = [...]string{"UNSPECIFIED", "DANE_REQUIRED", "TLS_REQUIRED", "OPPORTUNISTIC", "NO_MAIL", "MTA_STS_REQUIRED"}

// String returns the policy's name as in the API, without the prefix.
func (p Policy) String() string {
	if p >= 0 && int(p) < len(policyNames) {
		return policyNames[p]
	}
	return "UNKNOWN"
}

// HostPolicy returns what a host demands, given whether its TLSA RRset is
// DNSSEC-secure and the assessed records (RFC 7672 §2.2): usable records
// make DANE mandatory; a secure RRset of only unusable records still makes
// TLS mandatory; anything else (insecure, or no records) is opportunistic.
func HostPolicy(secure bool, rrset []AssessedRecord) Policy {
	switch {
	case !secure || len(rrset) == 0:
		return PolicyOpportunistic
	case HasUsable(rrset):
		return PolicyDANERequired
	default:
		return PolicyTLSRequired
	}
}

// Action is what the caller should do with mail for a domain. The values
// mirror the API's dane.v1.Action.
type Action int

const (
	// ActionUnspecified: not decided.
	ActionUnspecified Action = iota
	// ActionDeliver: deliver through the usable hosts.
	ActionDeliver
	// ActionDefer: keep the mail and retry later (4.x.x).
	ActionDefer
	// ActionReject: bounce the mail (5.x.x).
	ActionReject
)

var actionNames = [...]string{"UNSPECIFIED", "DELIVER", "DEFER", "REJECT"}

// String returns the action's name as in the API, without the prefix.
func (a Action) String() string {
	if a >= 0 && int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "UNKNOWN"
}

// SMTPStatus is the enhanced status code (RFC 3463) of a failure, its
// short text and its RFC 8460 result type.
type SMTPStatus struct {
	Code   string // "4.7.323"
	Short  string // "tlsa-invalid"
	TLSRPT string // "tlsa-invalid"; "" when RFC 8460 has no result type for it
}

// StatusOf returns the status of a failure reason. inDNS tells whether the
// failure happened in a DNS lookup, which decides the code of
// ReasonTimeout (4.4.312 for DNS, 4.4.1 for a probe). ReasonOK and the
// non-failures return the zero SMTPStatus. The codes follow Exchange Online's
// published DANE set where it has one, and RFC 3463 subjects elsewhere.
func StatusOf(r Reason, inDNS bool) SMTPStatus {
	switch r {
	case ReasonDNSQueryFailed:
		return SMTPStatus{"4.4.312", "dns-query-failed", ""}
	case ReasonDNSSECBogus, ReasonTLSALookupFailed:
		return SMTPStatus{"4.7.324", "dnssec-invalid", "dnssec-invalid"}
	case ReasonNoAddresses, ReasonTargetForbidden:
		return SMTPStatus{"4.4.4", "no-usable-address", ""}
	case ReasonConnectFailed:
		return SMTPStatus{"4.4.1", "connection-failed", ""}
	case ReasonSTARTTLSNotOffered, ReasonTLSHandshakeFailed:
		return SMTPStatus{"4.7.321", "starttls-not-supported", "starttls-not-supported"}
	case ReasonTLSANoMatch:
		return SMTPStatus{"4.7.323", "tlsa-invalid", "tlsa-invalid"}
	case ReasonCertNameMismatch:
		return SMTPStatus{"4.7.323", "tlsa-invalid", "certificate-host-mismatch"}
	case ReasonCertExpired:
		return SMTPStatus{"4.7.322", "certificate-expired", "certificate-expired"}
	case ReasonCertNotYetValid:
		return SMTPStatus{"4.7.323", "tlsa-invalid", "certificate-not-trusted"}
	case ReasonChainInvalid:
		return SMTPStatus{"4.7.323", "tlsa-invalid", "validation-failure"}
	case ReasonNullMX:
		return SMTPStatus{"5.1.10", "null-mx", ""}
	case ReasonNXDomain:
		return SMTPStatus{"5.1.2", "domain-not-found", ""}
	case ReasonTimeout:
		if inDNS {
			return SMTPStatus{"4.4.312", "dns-query-failed", ""}
		}
		return SMTPStatus{"4.4.1", "connection-timed-out", ""}
	case ReasonSMTPError:
		return SMTPStatus{"4.4.2", "smtp-error", ""}
	case ReasonCertNotTrusted:
		return SMTPStatus{"4.7.5", "certificate-not-trusted", "certificate-not-trusted"}
	case ReasonMXNotInPolicy:
		return SMTPStatus{"4.7.5", "mx-not-in-policy", "validation-failure"}
	case ReasonSTSPolicyFetchFailed:
		return SMTPStatus{"", "sts-policy-fetch-error", "sts-policy-fetch-error"}
	case ReasonSTSPolicyInvalid:
		return SMTPStatus{"", "sts-policy-invalid", "sts-policy-invalid"}
	case ReasonSTSWebPKIInvalid:
		return SMTPStatus{"", "sts-webpki-invalid", "sts-webpki-invalid"}
	}
	return SMTPStatus{}
}

// StatusOfSTS is StatusOf for a host refused under an MTA-STS policy
// (RFC 8461 §4): the certificate failures get 4.7.5 (RFC 3463,
// cryptographic failure) with their RFC 8460 result type as short text,
// rather than the DANE codes Exchange Online gives them, which would send
// an admin looking for TLSA records the domain does not have. The MTA-STS
// policy failures have no code: they never defer mail on their own (RFC
// 8461 §5.1). Every other reason is as StatusOf says.
func StatusOfSTS(r Reason, inDNS bool) SMTPStatus {
	switch r {
	case ReasonCertNameMismatch:
		return SMTPStatus{"4.7.5", "certificate-host-mismatch", "certificate-host-mismatch"}
	case ReasonCertExpired:
		return SMTPStatus{"4.7.5", "certificate-expired", "certificate-expired"}
	case ReasonCertNotYetValid:
		return SMTPStatus{"4.7.5", "certificate-not-trusted", "certificate-not-trusted"}
	}
	return StatusOf(r, inDNS)
}

// IsDANEFailure reports whether a reason is a DNSSEC, DANE or MTA-STS
// failure, as opposed to a connectivity or plain DNS failure. A verdict
// names such a failure in preference to a connectivity one: it is what
// the admin of the destination must fix.
func IsDANEFailure(r Reason) bool {
	switch r {
	case ReasonDNSSECBogus, ReasonTLSALookupFailed, ReasonSTARTTLSNotOffered,
		ReasonTLSHandshakeFailed, ReasonTLSANoMatch, ReasonCertNameMismatch,
		ReasonCertExpired, ReasonCertNotYetValid, ReasonChainInvalid,
		ReasonCertNotTrusted, ReasonMXNotInPolicy:
		return true
	}
	return false
}

// Outcome is what the verdict needs to know of one part (an MX host, or an
// address of a host).
type Outcome struct {
	Policy Policy // the host's policy (PolicyUnspecified when unknown)
	Usable bool   // mail may go through it
	Reason Reason // ReasonOK, or why it is not usable
	InDNS  bool   // the failure happened in a DNS lookup
	Detail string // safe to show; names the host, address and record
	// MTASTS: the failure is MTA-STS's (the host was refused under an
	// enforced policy), so its status is StatusOfSTS's.
	MTASTS bool
}

// Pick returns the failure that speaks for a set of failed parts, given in
// preference order: the first DANE or DNSSEC failure, else the first
// failure. It returns false when the set is empty.
func Pick(parts []Outcome) (Outcome, bool) {
	for _, p := range parts {
		if IsDANEFailure(p.Reason) {
			return p, true
		}
	}
	if len(parts) == 0 {
		return Outcome{}, false
	}
	return parts[0], true
}

// Verdict is the answer for a whole destination domain.
type Verdict struct {
	Policy Policy
	Action Action
	Reason Reason
	Status SMTPStatus // zero on DELIVER
	Text   string     // "<short>: <detail>"; "" on DELIVER
}

// Fail returns the verdict for a failure that ends the validation of a
// domain before any host is judged (the MX lookup failed, the domain does
// not exist, null MX). NXDOMAIN and null MX are permanent (REJECT), every
// other failure temporary (DEFER).
func Fail(r Reason, inDNS bool, detail string) Verdict {
	v := Verdict{Action: ActionDefer, Reason: r, Status: StatusOf(r, inDNS)}
	if r == ReasonNXDomain || r == ReasonNullMX {
		v.Action, v.Policy = ActionReject, PolicyNoMail
	}
	v.Text = v.Status.Short + ": " + detail
	return v
}

// strength orders host policies by what they demand, most first.
func strength(p Policy) int {
	switch p {
	case PolicyDANERequired:
		return 5
	case PolicyMTASTSRequired:
		return 4
	case PolicyTLSRequired:
		return 3
	case PolicyOpportunistic:
		return 2
	case PolicyNoMail:
		return 1
	}
	return 0
}

// Decide returns the verdict of a domain from its hosts, given in MX
// preference order. Mail is delivered when any host is usable: each
// host's own policy binds the sender (RFC 7672 §2.2.1: hosts keep their
// order, and a host with TLSA never pre-empts a better host without).
// Mail is deferred only when no host is usable, with the reason of the
// failure that speaks for them all (see Pick).
//
// The domain's policy is the weakest policy among the hosts whose policy
// is known: DANE_REQUIRED only when every such host demands DANE,
// MTA_STS_REQUIRED only when every such host is under an enforced MTA-STS
// policy. When mxSecure is false the MX RRset is insecure and the domain
// is never reported as DANE_REQUIRED or TLS_REQUIRED (RFC 7672 §2.2.1),
// whatever its hosts do; MTA-STS needs no DNSSEC, so MTA_STS_REQUIRED
// stands.
func Decide(mxSecure bool, hosts []Outcome) Verdict {
	var v Verdict
	var failed []Outcome
	for _, h := range hosts {
		if h.Policy != PolicyUnspecified && (v.Policy == PolicyUnspecified || strength(h.Policy) < strength(v.Policy)) {
			v.Policy = h.Policy
		}
		if h.Usable {
			v.Action = ActionDeliver
		} else {
			failed = append(failed, h)
		}
	}
	if !mxSecure && (v.Policy == PolicyDANERequired || v.Policy == PolicyTLSRequired) {
		v.Policy = PolicyOpportunistic
	}
	if v.Action == ActionDeliver {
		v.Reason = ReasonOK
		return v
	}
	f, ok := Pick(failed)
	if !ok {
		f = Outcome{Reason: ReasonNoAddresses, Detail: "no MX host to deliver to"}
	}
	fv := Fail(f.Reason, f.InDNS, f.Detail)
	if f.MTASTS {
		fv.Status = StatusOfSTS(f.Reason, f.InDNS)
		fv.Text = fv.Status.Short + ": " + f.Detail
	}
	v.Action, v.Reason, v.Status, v.Text = fv.Action, fv.Reason, fv.Status, fv.Text
	return v
}
