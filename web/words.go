package web

import (
	"github.com/daned/daned/dane"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/mtasts"
)

// reasonWords says each reason in a sentence a mail admin understands.
// TestEveryReasonHasWordsAndAdvice fails when a reason is missing.
var reasonWords = map[dane.Reason]string{
	dane.ReasonOK:                   "every check passed",
	dane.ReasonDNSQueryFailed:       "a DNS query failed for a reason other than DNSSEC (SERVFAIL, REFUSED or a malformed reply)",
	dane.ReasonDNSSECBogus:          "DNSSEC validation failed: the answer's signatures do not verify from the root down",
	dane.ReasonTLSALookupFailed:     "the TLSA lookup failed, so the host must not be used",
	dane.ReasonNoAddresses:          "the MX host has no usable A or AAAA records",
	dane.ReasonConnectFailed:        "the connection to port 25 failed",
	dane.ReasonSTARTTLSNotOffered:   "the server does not offer STARTTLS, or refuses it, although TLS is mandatory",
	dane.ReasonTLSHandshakeFailed:   "the TLS handshake failed although TLS is mandatory",
	dane.ReasonTLSANoMatch:          "no usable TLSA record matches the server's certificate or its chain",
	dane.ReasonCertNameMismatch:     "the certificate does not name the host",
	dane.ReasonCertExpired:          "a certificate of the chain has expired",
	dane.ReasonCertNotYetValid:      "a certificate of the chain is not yet valid",
	dane.ReasonChainInvalid:         "the chain from the trust anchor to the server certificate does not verify",
	dane.ReasonTargetForbidden:      "the address lies in a range daned never connects to (private, loopback or reserved)",
	dane.ReasonNullMX:               "the domain publishes a null MX: it accepts no mail",
	dane.ReasonNXDomain:             "the domain does not exist",
	dane.ReasonTimeout:              "a DNS query or the connection ran out of time",
	dane.ReasonNotProbed:            "the address was not probed (DNS-only check)",
	dane.ReasonSMTPError:            "the mail server answered with an error, or broke the protocol, before TLS could be tried",
	dane.ReasonNotConsidered:        "the host was beyond the limit of MX hosts daned considers",
	dane.ReasonCertNotTrusted:       "the chain does not validate against the WebPKI roots",
	dane.ReasonMXNotInPolicy:        "the MX host is not named by the domain's MTA-STS policy",
	dane.ReasonSTSPolicyFetchFailed: "the MTA-STS policy could not be fetched",
	dane.ReasonSTSPolicyInvalid:     "the MTA-STS policy is not a valid STSv1 policy",
	dane.ReasonSTSWebPKIInvalid:     "the MTA-STS policy host's certificate is not valid for mta-sts.<domain>",
}

// reasonText is reasonWords with a fallback for a reason added later.
func reasonText(r dane.Reason) string {
	if s, ok := reasonWords[r]; ok {
		return s
	}
	return r.String()
}

// policyWords says what a policy demands of a sender.
func policyWords(p dane.Policy) string {
	switch p {
	case dane.PolicyDANERequired:
		return "DANE required: STARTTLS and a certificate matching the TLSA records are mandatory"
	case dane.PolicyTLSRequired:
		return "TLS required: the TLSA records are all unusable, so STARTTLS is mandatory but not authenticated"
	case dane.PolicyOpportunistic:
		return "opportunistic: no DANE, TLS is used when offered and cleartext is allowed"
	case dane.PolicyNoMail:
		return "no mail: the domain accepts none"
	case dane.PolicyMTASTSRequired:
		return "MTA-STS required: STARTTLS and a WebPKI-valid certificate naming the host are mandatory"
	}
	return "not determined: the lookups it rests on failed"
}

// actionWords names an action and says what a sender does.
func actionWords(a dane.Action) (word, sentence string) {
	switch a {
	case dane.ActionDeliver:
		return "Deliver", "Senders that check DANE and MTA-STS deliver mail to this domain."
	case dane.ActionDefer:
		return "Defer", "Senders that check DANE keep mail to this domain in their queue and retry later; after some days it bounces."
	case dane.ActionReject:
		return "Reject", "Senders bounce mail to this domain at once."
	}
	return "Undecided", "No verdict was reached."
}

// tone is how a step or a state is marked: a CSS class, an icon and a
// word, so that colour is never the only signal.
type tone struct {
	Class string // "pass", "warn", "fail", "none"
	Icon  string // "✓", "!", "✗", "–"
	Word  string // "pass", "warning", "fail", "not checked"
}

var (
	tonePass = tone{"pass", "✓", "pass"}
	toneWarn = tone{"warn", "!", "warning"}
	toneFail = tone{"fail", "✗", "fail"}
	toneNone = tone{"none", "–", "not checked"}
)

// stateTone marks a DNSSEC state: secure passes, insecure warns (no DANE
// without DNSSEC), bogus, indeterminate and failed lookups fail.
func stateTone(s engine.DNSState) tone {
	switch s {
	case engine.DNSSecure:
		return tonePass
	case engine.DNSInsecure:
		return toneWarn
	case engine.DNSBogus, engine.DNSIndeterminate, engine.DNSFailed:
		return toneFail
	}
	return toneNone
}

// stateWord says a DNSSEC state in a few words.
func stateWord(s engine.DNSState) string {
	switch s {
	case engine.DNSSecure:
		return "secure (DNSSEC)"
	case engine.DNSInsecure:
		return "insecure (unsigned)"
	case engine.DNSBogus:
		return "bogus (DNSSEC failed)"
	case engine.DNSIndeterminate:
		return "indeterminate (treated as bogus)"
	case engine.DNSFailed:
		return "lookup failed"
	}
	return "not looked up"
}

// sourceWords says which mechanism decided.
func sourceWords(s mtasts.Source) string {
	switch s {
	case mtasts.SourceDANE:
		return "DANE"
	case mtasts.SourceMTASTS:
		return "MTA-STS"
	}
	return "neither DANE nor MTA-STS"
}

// usageWords names TLSA fields (RFC 7218).
func usageWords(u uint8) string {
	switch u {
	case dane.UsagePKIXTA:
		return "PKIX-TA(0)"
	case dane.UsagePKIXEE:
		return "PKIX-EE(1)"
	case dane.UsageDANETA:
		return "DANE-TA(2)"
	case dane.UsageDANEEE:
		return "DANE-EE(3)"
	}
	return "unknown usage"
}

func selectorWords(s uint8) string {
	switch s {
	case dane.SelectorCert:
		return "Cert(0)"
	case dane.SelectorSPKI:
		return "SPKI(1)"
	}
	return "unknown selector"
}

func matchingWords(m uint8) string {
	switch m {
	case dane.MatchFull:
		return "Full(0)"
	case dane.MatchSHA256:
		return "SHA2-256(1)"
	case dane.MatchSHA512:
		return "SHA2-512(2)"
	}
	return "unknown matching type"
}
