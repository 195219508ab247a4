package mtasts

// DANEState is what DNSSEC and DANE established about a destination
// domain's MX hosts, as far as the precedence of DANE over MTA-STS needs
// to know. The caller (the engine) derives it from its own results.
type DANEState int

const (
	// DANEUnknown is the zero value: nothing was established. It is
	// treated as DANETemp, so that a forgotten field never lets MTA-STS
	// or cleartext in.
	DANEUnknown DANEState = iota
	// DANERequired: every MX host considered has a secure TLSA RRset.
	DANERequired
	// DANEPartial: some MX hosts have a secure TLSA RRset; for the others
	// DNSSEC proved that there is none.
	DANEPartial
	// DANEAbsent: the domain is signed and DNSSEC proved that none of its
	// MX hosts has a TLSA RRset (authenticated denial, RFC 7672 §2.2).
	DANEAbsent
	// DANEUnsigned: the domain's MX RRset (or its implicit MX) is
	// insecure, so DANE does not apply to the domain (RFC 7672 §2.2.1).
	DANEUnsigned
	// DANETemp: a lookup DANE needs failed without a DNSSEC cause
	// (SERVFAIL, timeout), so DANE could not be decided (RFC 7672
	// §2.1.2).
	DANETemp
	// DANEBogus: DNSSEC validation failed for a lookup DANE needs (RFC
	// 7672 §2.1.1).
	DANEBogus
)

var daneStateNames = [...]string{"unknown", "required", "partial", "absent-authenticated", "unsigned", "temp", "bogus"}

// String returns the state in words ("absent-authenticated").
func (s DANEState) String() string {
	if s >= 0 && int(s) < len(daneStateNames) {
		return daneStateNames[s]
	}
	return "invalid"
}

// STSState is what MTA-STS established for the domain: the mode of the
// policy in force (fetched, or cached and unexpired), or why there is
// none.
type STSState int

const (
	// STSAbsent is the zero value: the domain has no MTA-STS policy (no
	// record, several records or an invalid one, and nothing cached).
	STSAbsent STSState = iota
	// STSEnforce: a policy in mode enforce (RFC 8461 §5).
	STSEnforce
	// STSTesting: a policy in mode testing (RFC 8461 §5).
	STSTesting
	// STSNone: a policy in mode none (RFC 8461 §5).
	STSNone
	// STSFetchError: the policy could not be fetched and none is cached
	// (ReasonPolicyFetchFailed).
	STSFetchError
	// STSWebPKIInvalid: the policy host's certificate failed WebPKI
	// validation and no policy is cached (ReasonWebPKIInvalid).
	STSWebPKIInvalid
	// STSInvalid: the fetched policy is invalid and none is cached
	// (ReasonPolicyInvalid).
	STSInvalid
)

var stsStateNames = [...]string{"absent", "enforce", "testing", "none", "fetch-error", "webpki-invalid", "invalid"}

// String returns the state in words ("fetch-error").
func (s STSState) String() string {
	if s >= 0 && int(s) < len(stsStateNames) {
		return stsStateNames[s]
	}
	return "invalid"
}

// StateOf returns the STSState of a policy's mode: STSEnforce,
// STSTesting or STSNone, and STSAbsent for ModeUnspecified.
func StateOf(m Mode) STSState {
	switch m {
	case ModeEnforce:
		return STSEnforce
	case ModeTesting:
		return STSTesting
	case ModeNone:
		return STSNone
	}
	return STSAbsent
}

// Source says which mechanism decides the verdict for a domain. The
// values are meant to mirror the API's PolicySource.
type Source int

const (
	// SourceNone: neither; opportunistic TLS, cleartext allowed.
	SourceNone Source = iota
	// SourceDANE: DANE decides (RFC 7672).
	SourceDANE
	// SourceMTASTS: an MTA-STS policy decides (RFC 8461).
	SourceMTASTS
)

var sourceNames = [...]string{"NONE", "DANE", "MTA_STS"}

// String returns the source's name as the API spells it, without the
// POLICY_SOURCE_ prefix.
func (s Source) String() string {
	if s >= 0 && int(s) < len(sourceNames) {
		return sourceNames[s]
	}
	return "UNKNOWN"
}

// Rule is what applies to one MX host.
type Rule int

const (
	// RuleUnusable: the host must not be used (a DANE failure, RFC 7672
	// §2.1.2); when no host is left the mail is deferred.
	RuleUnusable Rule = iota
	// RuleDANE: the host is judged by DANE only (RFC 7672 §2.2, §3).
	RuleDANE
	// RuleSTSEnforce: the host must match an mx pattern and present a
	// WebPKI-valid certificate over STARTTLS (RFC 8461 §4, §5); see
	// VerifyHost.
	RuleSTSEnforce
	// RuleSTSTesting: deliver as opportunistic TLS, and record what
	// RuleSTSEnforce would have refused for a TLS report (RFC 8461 §5).
	RuleSTSTesting
	// RuleOpportunistic: opportunistic TLS, cleartext allowed (RFC 7672
	// §2.2 outcome 3, RFC 3207).
	RuleOpportunistic
)

var ruleNames = [...]string{"unusable", "dane", "mta-sts-enforce", "mta-sts-testing", "opportunistic"}

// String returns the rule in words ("mta-sts-enforce").
func (r Rule) String() string {
	if r >= 0 && int(r) < len(ruleNames) {
		return ruleNames[r]
	}
	return "invalid"
}

// HostDANE is what DANE found for one MX host.
type HostDANE int

const (
	// HostTLSAUnknown is the zero value: nothing was established; treated
	// as HostTLSAFailed.
	HostTLSAUnknown HostDANE = iota
	// HostTLSASecure: the host has a secure TLSA RRset.
	HostTLSASecure
	// HostNoTLSA: the host has no secure TLSA RRset: DNSSEC proved there
	// is none, or the TLSA RRset or the host's addresses are insecure.
	HostNoTLSA
	// HostTLSAFailed: the host's TLSA lookup failed or was bogus.
	HostTLSAFailed
)

// Decision is the precedence of DANE and MTA-STS for one domain.
type Decision struct {
	// Source is the mechanism that decides the verdict.
	Source Source
	// Defer: DANE could not be decided (DANETemp, DANEBogus); no host is
	// usable, whatever MTA-STS says (RFC 8461 §2).
	Defer bool
	// NoTLSA is the rule for MX hosts without a secure TLSA RRset. Hosts
	// with one are always judged by DANE (see Host).
	NoTLSA Rule
	// Report is the MTA-STS failure to record for a TLS report when the
	// policy could not be had and MTA-STS would have applied
	// (ReasonPolicyFetchFailed, ReasonWebPKIInvalid, ReasonPolicyInvalid),
	// else ReasonNone.
	Report Reason
	// Why says it in a sentence an administrator understands, with the
	// RFC section.
	Why string
}

// Decide applies the precedence of DANE over MTA-STS (RFC 8461 §2, RFC
// 7672 §2.2):
//
//   - DANE failures (DANETemp, DANEBogus, and DANEUnknown) defer the
//     domain: MTA-STS never rescues a failing DANE validation (RFC 8461
//     §2), and a TLSA lookup failure makes hosts unusable (RFC 7672
//     §2.1.2).
//   - A domain with DANE (DANERequired, DANEPartial) is decided by DANE
//     alone; its hosts without TLSA get opportunistic TLS as RFC 7672
//     §2.2 says, and MTA-STS is not consulted.
//   - Only when DNSSEC proved the domain has no DANE (DANEAbsent) or the
//     domain is unsigned (DANEUnsigned) does MTA-STS apply: enforce and
//     testing as RFC 8461 §5 says; mode none, no policy and a policy that
//     could not be had all mean opportunistic TLS, the last three with
//     the failure to report (RFC 8460 sts-* result types).
//
// Whatever the decision, an MX host with a secure TLSA RRset is judged by
// DANE only (Decision.Host).
func Decide(d DANEState, s STSState) Decision {
	switch d {
	case DANERequired:
		return Decision{Source: SourceDANE, NoTLSA: RuleOpportunistic,
			Why: "every MX host has a secure TLSA RRset: DANE decides and MTA-STS is not consulted (RFC 8461 §2, RFC 7672 §2.2)"}
	case DANEPartial:
		return Decision{Source: SourceDANE, NoTLSA: RuleOpportunistic,
			Why: "some MX hosts have a secure TLSA RRset: DANE decides; hosts without one get opportunistic TLS (RFC 7672 §2.2) and MTA-STS is not consulted (RFC 8461 §2)"}
	case DANEAbsent, DANEUnsigned:
		noDANE := "DNSSEC proved that no MX host has a TLSA RRset"
		if d == DANEUnsigned {
			noDANE = "the domain is not DNSSEC-signed, so it has no DANE"
		}
		switch s {
		case STSEnforce:
			return Decision{Source: SourceMTASTS, NoTLSA: RuleSTSEnforce,
				Why: noDANE + "; its MTA-STS policy in mode enforce applies: only MX hosts matching the policy, over STARTTLS with a WebPKI-valid certificate (RFC 8461 §5)"}
		case STSTesting:
			return Decision{Source: SourceMTASTS, NoTLSA: RuleSTSTesting,
				Why: noDANE + "; its MTA-STS policy is in mode testing: deliver, and report hosts that would fail (RFC 8461 §5)"}
		case STSNone:
			return Decision{Source: SourceNone, NoTLSA: RuleOpportunistic,
				Why: noDANE + "; its MTA-STS policy is in mode none, which is no policy: opportunistic TLS (RFC 8461 §5)"}
		case STSFetchError:
			return Decision{Source: SourceNone, NoTLSA: RuleOpportunistic, Report: ReasonPolicyFetchFailed,
				Why: noDANE + "; its MTA-STS policy could not be fetched and none is cached: opportunistic TLS (RFC 8461 §5.1)"}
		case STSWebPKIInvalid:
			return Decision{Source: SourceNone, NoTLSA: RuleOpportunistic, Report: ReasonWebPKIInvalid,
				Why: noDANE + "; its MTA-STS policy host failed WebPKI validation and no policy is cached: opportunistic TLS (RFC 8461 §3.3, §5.1)"}
		case STSInvalid:
			return Decision{Source: SourceNone, NoTLSA: RuleOpportunistic, Report: ReasonPolicyInvalid,
				Why: noDANE + "; its MTA-STS policy is invalid and none is cached: opportunistic TLS (RFC 8461 §3.2, §5.1)"}
		default:
			return Decision{Source: SourceNone, NoTLSA: RuleOpportunistic,
				Why: noDANE + " and it publishes no MTA-STS policy: opportunistic TLS (RFC 7672 §2.2, RFC 8461 §3.1)"}
		}
	case DANEBogus:
		return Decision{Source: SourceDANE, Defer: true, NoTLSA: RuleUnusable,
			Why: "DNSSEC validation failed: defer; MTA-STS never overrides a failing DANE validation (RFC 7672 §2.1.1, RFC 8461 §2)"}
	default: // DANETemp, DANEUnknown
		return Decision{Source: SourceDANE, Defer: true, NoTLSA: RuleUnusable,
			Why: "a DNS lookup DANE needs failed: defer; MTA-STS never stands in for an undecided DANE (RFC 7672 §2.1.2, RFC 8461 §2)"}
	}
}

// Host returns the rule for one MX host: unusable when the decision
// defers or the host's TLSA lookup failed (RFC 7672 §2.1.2; never
// rescued by MTA-STS), DANE when the host has a secure TLSA RRset (even
// under an MTA-STS policy: RFC 8461 §2), else NoTLSA.
func (d Decision) Host(h HostDANE) Rule {
	switch {
	case d.Defer:
		return RuleUnusable
	case h == HostTLSASecure:
		return RuleDANE
	case h == HostNoTLSA:
		return d.NoTLSA
	default: // HostTLSAFailed, HostTLSAUnknown
		return RuleUnusable
	}
}
