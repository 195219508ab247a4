package web

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/mtasts"
)

// advice is what the receiving admin should do about one failure.
type advice struct {
	Reason     string // "TLSA_NO_MATCH"
	Code       string // "4.7.323"; "" when the reason has none
	ResultType string // RFC 8460 result type; "" when none
	Title      string // what failed, and where
	Steps      []step
}

// step is one thing to do; Record, when set, is text to publish or run,
// shown as code.
type step struct {
	Text   string
	Record string
}

// adviceCtx is what a piece of advice may quote.
type adviceCtx struct {
	res    *engine.Result
	host   *engine.Host    // the failing host; nil for a domain-level failure
	addr   *engine.Address // the host's first address that presented a chain; nil when none
	causes []dnssecCause   // the DNSSEC causes found for the failure
}

// sts reports whether the failing host was refused under an enforced
// MTA-STS policy rather than by DANE: the fix then lies in the WebPKI
// certificate or the policy, never in TLSA records.
func (c *adviceCtx) sts() bool {
	return c.host != nil && c.host.STSFailure != dane.ReasonUnspecified && c.host.STSFailure == c.host.Reason && len(c.host.TLSA) == 0
}

// stsOff is the way out when TLS cannot be fixed under MTA-STS.
func (c *adviceCtx) stsOff() step {
	return step{Text: "If it cannot be fixed soon, switch the MTA-STS policy at https://mta-sts." + c.domain() + "/.well-known/mta-sts.txt to mode testing (and change the id of the _mta-sts TXT record): senders then deliver and report the failure instead of deferring."}
}

// domain is the destination domain.
func (c *adviceCtx) domain() string { return c.res.Domain }

// hostName names the failing host, or the domain.
func (c *adviceCtx) hostName() string {
	if c.host != nil {
		return c.host.Name
	}
	return c.res.Domain
}

// tlsaName is where the host's TLSA records live (RFC 7672 §2.2.3).
func (c *adviceCtx) tlsaName() string {
	base := c.hostName()
	if c.host != nil && c.host.TLSABase != "" {
		base = c.host.TLSABase
	}
	return "_25._tcp." + base + "."
}

// dnssecSteps are the steps of the DNSSEC causes found, or a general
// step when none was named.
func (c *adviceCtx) dnssecSteps() []step {
	var out []step
	for _, cause := range c.causes {
		out = append(out, step{Text: cause.Fix})
	}
	if len(out) == 0 {
		out = append(out, step{Text: "Check the chain of trust from the root down to " + c.hostName() + ": the DS at each parent, the DNSKEYs and the signatures of each zone (dig +dnssec, or a DNSSEC debugger, shows which link breaks)."})
	}
	return out
}

// recordSteps propose the TLSA records that match the certificate the
// host presents now: 3 1 1 of the leaf's key, and 2 1 1 of its issuer
// when the server sends one.
func (c *adviceCtx) recordSteps() []step {
	if c.addr == nil || len(c.addr.Chain) == 0 {
		return []step{{Text: "daned saw no certificate to compute a record from. Once the server presents its certificate, publish a DANE-EE record of its public key: 3 1 1 and the SHA-256 of its SubjectPublicKeyInfo (for example: openssl x509 -in cert.pem -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256)."}}
	}
	leaf := c.addr.Chain[0]
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	out := []step{{
		Text:   fmt.Sprintf("To match the certificate %s presents now (%s), publish this DANE-EE record: it pins the server's public key, so it stays valid across renewals that keep the key (RFC 7671 §5.1).", c.addr.IP, leaf.Subject.String()),
		Record: fmt.Sprintf("%s IN TLSA 3 1 1 %s", c.tlsaName(), hex.EncodeToString(sum[:])),
	}}
	if len(c.addr.Chain) > 1 {
		issuer := c.addr.Chain[1]
		isum := sha256.Sum256(issuer.RawSubjectPublicKeyInfo)
		out = append(out, step{
			Text:   fmt.Sprintf("Or, to trust the issuing CA (%s) instead of one key, publish this DANE-TA record, and keep the server sending the full chain: the leaf must then name %s (RFC 7672 §3.2).", issuer.Subject.String(), c.hostName()),
			Record: fmt.Sprintf("%s IN TLSA 2 1 1 %s", c.tlsaName(), hex.EncodeToString(isum[:])),
		})
	}
	if c.host != nil && len(c.host.TLSA) > 0 {
		out = append(out, step{Text: "Publish the new record next to the old ones, wait until the old RRset's TTL has passed, then remove the records that no longer match. Check again here before and after."})
	} else {
		out = append(out, step{Text: "Publish it in the signed zone, then check again here. From then on, publish the record of a new key or certificate before you deploy it."})
	}
	return out
}

// adviceFor holds the steps for each reason a verdict, host or address
// can have. TestEveryReasonHasWordsAndAdvice fails when one is missing.
var adviceFor = map[dane.Reason]func(c *adviceCtx) []step{
	dane.ReasonDNSQueryFailed: func(c *adviceCtx) []step {
		return []step{
			{Text: "A DNS query for " + c.hostName() + " failed without a DNSSEC cause (SERVFAIL, REFUSED or a malformed reply). Check that every authoritative server of the zone answers, over UDP and TCP, with the same data."},
			{Text: "Many checkers show such a failure as \"no TLSA record\"; it is not: senders defer the mail (4.4.312) until the query succeeds."},
		}
	},
	dane.ReasonDNSSECBogus: func(c *adviceCtx) []step {
		return append(c.dnssecSteps(), step{Text: "Until DNSSEC validates again, DANE senders defer every message (4.7.324). Removing the DS at the parent also ends the failure, but turns DANE off: prefer fixing the signatures."})
	},
	dane.ReasonTLSALookupFailed: func(c *adviceCtx) []step {
		if len(c.causes) > 0 {
			return append(c.dnssecSteps(), step{Text: "The TLSA query for " + c.tlsaName() + " must get a validated answer: the records, or a proven NODATA or NXDOMAIN. Any failure makes the host unusable (RFC 7672 §2.1.2)."})
		}
		return []step{
			{Text: "The TLSA query for " + c.tlsaName() + " failed or timed out. Make sure every authoritative server of that zone answers TLSA queries: with the records, or with NOERROR and no records (NODATA) when there are none. Some old servers, load balancers and firewalls drop or refuse query types they do not know."},
			{Text: "This is not the same as \"no TLSA record\": a sender cannot tell an attack from a fault, so it must not use the host (RFC 7672 §2.1.2)."},
		}
	},
	dane.ReasonNoAddresses: func(c *adviceCtx) []step {
		return []step{{Text: "Publish A (and AAAA) records for " + c.hostName() + ", or remove it from the MX records of " + c.domain() + "."}}
	},
	dane.ReasonConnectFailed: func(c *adviceCtx) []step {
		return []step{{Text: "Nothing accepted a connection to port 25 of " + c.hostName() + ". Check that the mail server runs and that firewalls let port 25 in from the Internet, on every address the host's A and AAAA records list."}}
	},
	dane.ReasonSTARTTLSNotOffered: func(c *adviceCtx) []step {
		out := []step{{Text: "Check that port 25 of " + c.hostName() + " offers STARTTLS on every address: the EHLO reply must list STARTTLS, and the STARTTLS command must get 220. Look for a load balancer, a filtering appliance or a firewall's SMTP inspection that strips it."}}
		if c.sts() {
			return append(out, c.stsOff())
		}
		return append(out, step{Text: "If TLS cannot be offered, remove the TLSA records at " + c.tlsaName() + ": they make TLS mandatory. Wait for their TTL before you turn TLS off."})
	},
	dane.ReasonTLSHandshakeFailed: func(c *adviceCtx) []step {
		out := []step{{Text: "The TLS handshake with " + c.hostName() + " failed after STARTTLS. Check that the server has a certificate and its key configured, supports TLS 1.2 or 1.3 with current cipher suites, and that nothing between the server and the Internet breaks the handshake."}}
		if c.sts() {
			return append(out, c.stsOff())
		}
		return append(out, step{Text: "If TLS cannot be fixed soon, remove the TLSA records at " + c.tlsaName() + ", which make TLS mandatory, and wait for their TTL."})
	},
	dane.ReasonTLSANoMatch: func(c *adviceCtx) []step {
		return c.recordSteps()
	},
	dane.ReasonCertNameMismatch: func(c *adviceCtx) []step {
		if c.sts() {
			return []step{{Text: "The domain's MTA-STS policy requires a certificate that names the MX host (RFC 8461 §4.2). Install a certificate from a public CA whose DNS names include " + c.hostName() + " (a wildcard covering it will do)."}, c.stsOff()}
		}
		names := c.hostName()
		if c.host != nil && len(c.host.ReferenceNames) > 0 {
			names = strings.Join(c.host.ReferenceNames, ", ")
		}
		return append([]step{{Text: "A DANE-TA record matched, but the server certificate names none of " + names + " (RFC 7672 §3.2.2). Install a certificate that names the MX host, or pin the server's own key with a DANE-EE record, which does not check names:"}},
			c.recordSteps()...)
	},
	dane.ReasonCertExpired: func(c *adviceCtx) []step {
		if c.sts() {
			return []step{{Text: "Renew the expired certificate of " + c.hostName() + " from a public CA, and automate the renewal (ACME) so that it does not lapse again."}, c.stsOff()}
		}
		return []step{
			{Text: "Renew the expired certificate of " + c.hostName() + " (the detail names which certificate of the chain)."},
			{Text: "Publish the TLSA record of the new certificate first, next to the current ones, and install the certificate only after the TLSA RRset's TTL has passed: senders that cached the old records would otherwise defer your mail. Reusing the key keeps a 3 1 1 record valid."},
		}
	},
	dane.ReasonCertNotYetValid: func(c *adviceCtx) []step {
		if c.sts() {
			return []step{{Text: "The certificate of " + c.hostName() + " is not valid yet. Check the clock of the host and the certificate's notBefore date, and install a certificate valid now."}}
		}
		return []step{{Text: "A certificate of the chain of " + c.hostName() + " is not valid yet. Check the clock of the host that issued it and the certificate's notBefore date; install a certificate valid now, or pin the server's key with a DANE-EE record (3 1 1), which ignores validity dates."}}
	},
	dane.ReasonChainInvalid: func(c *adviceCtx) []step {
		return append([]step{{Text: "A DANE-TA record matched a certificate of the chain, but the chain from it to the server certificate does not verify. Make sure the server sends its intermediate certificates in order, leaf first, and that the record names the CA that really issued them."}},
			c.recordSteps()...)
	},
	dane.ReasonTargetForbidden: func(c *adviceCtx) []step {
		return []step{{Text: "The MX host " + c.hostName() + " resolves to an address in a private, loopback or reserved range, which daned (like any sender on the Internet) does not connect to. Publish the host's public addresses in its A and AAAA records."}}
	},
	dane.ReasonNullMX: func(c *adviceCtx) []step {
		return []step{{Text: c.domain() + " says it accepts no mail (MX 0 \".\", RFC 7505). If it should receive mail, replace the null MX with the MX records of your mail servers."}}
	},
	dane.ReasonNXDomain: func(c *adviceCtx) []step {
		return []step{{Text: c.domain() + " does not exist in the DNS. Check the spelling, and that the domain is registered and delegated to name servers that serve it."}}
	},
	dane.ReasonTimeout: func(c *adviceCtx) []step {
		return []step{{Text: "A name server or the mail server of " + c.hostName() + " did not answer in time. Check that the authoritative servers answer promptly over UDP and TCP, and that port 25 answers with its banner within seconds."}}
	},
	dane.ReasonNotProbed: func(c *adviceCtx) []step {
		return []step{{Text: "Nothing to fix: this check consulted the DNS only. Run a full check to probe the hosts."}}
	},
	dane.ReasonSMTPError: func(c *adviceCtx) []step {
		return []step{{Text: "The mail server of " + c.hostName() + " answered with an error, or broke the SMTP protocol, before STARTTLS. Check its banner and EHLO reply, and that it accepts connections from any address on the Internet."}}
	},
	dane.ReasonNotConsidered: func(c *adviceCtx) []step {
		return []step{{Text: "daned considers a limited number of MX hosts, as senders do. Publish fewer MX hosts, or give the hosts that matter the better preferences."}}
	},
	dane.ReasonCertNotTrusted: func(c *adviceCtx) []step {
		return []step{{Text: "The domain's MTA-STS policy requires a certificate a public CA vouches for. Install a certificate for " + c.hostName() + " from a public CA and make the server send the whole chain (leaf and intermediates)."}}
	},
	dane.ReasonMXNotInPolicy: func(c *adviceCtx) []step {
		return []step{{Text: "Add an mx: line naming " + c.hostName() + " (or a wildcard covering it) to the MTA-STS policy at https://mta-sts." + c.domain() + "/.well-known/mta-sts.txt, then change the id of the _mta-sts TXT record so that senders fetch it again. Or remove the host from the MX records."}}
	},
	dane.ReasonSTSPolicyFetchFailed: func(c *adviceCtx) []step {
		return []step{{Text: "Serve the policy at https://mta-sts." + c.domain() + "/.well-known/mta-sts.txt: HTTP 200, Content-Type text/plain, at most 64 KiB, without a redirect. A failed fetch never defers mail on its own, but senders cannot protect it either."}}
	},
	dane.ReasonSTSPolicyInvalid: func(c *adviceCtx) []step {
		return []step{{Text: "Fix the policy's syntax (RFC 8461 §3.2): \"version: STSv1\", \"mode: enforce|testing|none\", one \"mx:\" line per host pattern and \"max_age:\" in seconds, one per line."}}
	},
	dane.ReasonSTSWebPKIInvalid: func(c *adviceCtx) []step {
		return []step{{Text: "The HTTPS server of mta-sts." + c.domain() + " must present a certificate from a public CA, valid now and naming mta-sts." + c.domain() + "."}}
	},
}

// stepsFor returns the steps for a reason.
func stepsFor(r dane.Reason, c *adviceCtx) []step {
	if f, ok := adviceFor[r]; ok {
		return f(c)
	}
	return []step{{Text: "Read the detail above: it says what failed."}}
}

// adviceOf collects the advice for a result: one item per failing host
// (or the domain's own failure), the MTA-STS failures, and, when nothing
// failed, how to make delivery safer.
func adviceOf(res *engine.Result, causes []dnssecCause) []advice {
	var out []advice
	seen := map[string]bool{}
	add := func(r dane.Reason, sts bool, title string, c *adviceCtx, first ...step) {
		key := r.String() + "\x00" + title
		if seen[key] {
			return
		}
		seen[key] = true
		st := dane.StatusOf(r, false)
		if sts {
			st = dane.StatusOfSTS(r, false)
		}
		a := advice{Reason: r.String(), Code: st.Code, ResultType: st.TLSRPT, Title: title, Steps: append(first, stepsFor(r, c)...)}
		if len(first) > 0 {
			a.Code = "" // reported, not deferred: no code applies
		}
		out = append(out, a)
	}
	if len(res.Hosts) == 0 && res.Verdict.Reason != dane.ReasonOK && res.Verdict.Reason != dane.ReasonUnspecified {
		add(res.Verdict.Reason, false, res.Domain+": "+reasonText(res.Verdict.Reason), &adviceCtx{res: res, causes: causes})
	}
	for i := range res.Hosts {
		h := &res.Hosts[i]
		c := &adviceCtx{res: res, host: h, addr: chainAddr(h), causes: causesFor(causes, h)}
		if !h.Usable && h.Reason != dane.ReasonOK && h.Reason != dane.ReasonUnspecified {
			add(h.Reason, h.STSFailure == h.Reason, h.Name+": "+reasonText(h.Reason), c)
		}
		if h.STSFailure != dane.ReasonUnspecified && (h.Usable || h.STSFailure != h.Reason) {
			add(h.STSFailure, true, h.Name+" (MTA-STS, mode testing): "+reasonText(h.STSFailure), c,
				step{Text: "The policy is in mode testing: senders deliver all the same and report this failure to the domain's TLS-RPT address. Fix it before you switch the policy to mode enforce, or mail will defer."})
		}
	}
	if p := res.MTASTS; p != nil && p.Failure != mtasts.ReasonNone {
		r := dane.ReasonNamed(p.Failure.String())
		add(r, true, "MTA-STS policy of "+res.Domain+": "+reasonText(r), &adviceCtx{res: res})
	}
	if len(out) == 0 {
		out = append(out, improve(res)...)
	}
	// The failure the verdict names comes first: it is what senders
	// report, and what the admin was sent here about.
	slices.SortStableFunc(out, func(a, b advice) int {
		return cmpBool(b.Reason == res.Verdict.Reason.String()) - cmpBool(a.Reason == res.Verdict.Reason.String())
	})
	return out
}

func cmpBool(b bool) int {
	if b {
		return 1
	}
	return 0
}

// improve is the advice for a domain that delivers: how to protect its
// mail better, or that nothing needs doing.
func improve(res *engine.Result) []advice {
	if res.Verdict.Action != dane.ActionDeliver {
		return nil
	}
	a := advice{Reason: "OK", Title: "Nothing to fix"}
	if res.PolicyOnly {
		a.Steps = []step{{Text: "This check consulted the DNS only; run a full check to probe the hosts."}}
		return []advice{a}
	}
	if res.MXState != engine.DNSSecure && res.Verdict.Policy != dane.PolicyMTASTSRequired {
		a.Title = "Mail is delivered, but without DANE"
		a.Steps = []step{{Text: "The MX records of " + res.Domain + " are not DNSSEC-signed, so senders cannot use DANE. Sign the zone and publish its DS at the registrar, then publish TLSA records for the MX hosts."}}
		return []advice{a}
	}
	var protect, tidy []step
	for i := range res.Hosts {
		h := &res.Hosts[i]
		c := &adviceCtx{res: res, host: h, addr: chainAddr(h)}
		switch h.Policy {
		case dane.PolicyOpportunistic:
			if h.AddressState != engine.DNSSecure {
				protect = append(protect, step{Text: h.Name + " lies in an unsigned zone: senders cannot look up its TLSA records. Sign that zone, or use a host name in a signed zone."})
				continue
			}
			protect = append(protect, step{Text: h.Name + " has no TLSA records: mail to it may be sent in cleartext or to an impostor."})
			protect = append(protect, c.recordSteps()...)
		case dane.PolicyTLSRequired:
			protect = append(protect, step{Text: h.Name + " publishes TLSA records, but none is usable for SMTP (see the table): senders insist on TLS but cannot authenticate the server. Replace them with a usable record."})
			protect = append(protect, c.recordSteps()...)
		case dane.PolicyDANERequired:
			var bad []string
			for _, t := range h.TLSA {
				if !t.Usable {
					bad = append(bad, fmt.Sprintf("%d %d %d", t.Usage, t.Selector, t.MatchingType))
				}
			}
			if len(bad) > 0 {
				tidy = append(tidy, step{Text: fmt.Sprintf("%d of the TLSA records of %s are unusable and ignored by senders (%s; the table says why). Remove them, so that the RRset says what you mean.", len(bad), h.Name, strings.Join(bad, ", "))})
			}
		}
	}
	switch {
	case len(protect) > 0:
		a.Title = "Mail is delivered, but not every host is protected by DANE"
		a.Steps = append(protect, tidy...)
	case len(tidy) > 0:
		a.Title = "Nothing urgent: tidy the TLSA records"
		a.Steps = tidy
	case res.Verdict.Policy == dane.PolicyDANERequired:
		a.Steps = []step{{Text: "Every host is authenticated with DANE. Keep it so: publish the TLSA record of a new certificate or key before you deploy it, and monitor your DNSSEC signatures and TLS-RPT reports."}}
	default:
		a.Steps = []step{{Text: "Nothing needs doing."}}
	}
	return []advice{a}
}

// chainAddr is the host's first address that presented a certificate.
func chainAddr(h *engine.Host) *engine.Address {
	for i := range h.Addresses {
		if len(h.Addresses[i].Chain) > 0 {
			return &h.Addresses[i]
		}
	}
	return nil
}

// causesFor are the DNSSEC causes that concern a host: those read from its
// own detail or its addresses'.
func causesFor(causes []dnssecCause, h *engine.Host) []dnssecCause {
	var out []dnssecCause
	for _, c := range causes {
		if c.Detail == h.Detail || strings.Contains(c.Detail, h.Name) {
			out = append(out, c)
		}
	}
	return out
}
