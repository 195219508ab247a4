package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/mtasts"
	"github.com/daned/daned/probe"
)

// PolicySource gives a domain's MTA-STS policy (RFC 8461 §3, §5.1):
// *manager.Manager, which discovers the _mta-sts TXT record through the
// engine's own resolver, fetches the policy over HTTPS, and keeps it for
// max_age. It never fails: what it could not find is in the result
// (Failure, Detail), with the cached policy standing in when there is one.
type PolicySource interface {
	Policy(ctx context.Context, domain string) mtasts.PolicyResult
}

// daneState is what DNSSEC and DANE established about the domain, as the
// precedence of DANE over MTA-STS (mtasts.Decide) needs it, read from the
// judged hosts: any host with a secure TLSA RRset makes it DANE's
// (DANERequired or DANEPartial); else any failed TLSA lookup makes it a
// DANE failure (DANEBogus or DANETemp); else DNSSEC proved there is no
// DANE (DANEAbsent, a secure MX RRset) or the domain is unsigned
// (DANEUnsigned). Hosts whose addresses could not be had never reached
// the TLSA step; they count for nothing (they are unusable anyway, RFC
// 7672 §2.1.2).
func daneState(res *Result) (mtasts.DANEState, *Host) {
	withTLSA, considered := 0, 0
	var failed *Host
	bogus := false
	for i := range res.Hosts {
		h := &res.Hosts[i]
		if h.Reason == dane.ReasonNotConsidered || (h.Policy == dane.PolicyUnspecified && h.TLSAState == DNSNotLooked) {
			continue // cut off, or its addresses failed before DANE was asked
		}
		considered++
		switch {
		case len(h.TLSA) > 0:
			withTLSA++
		case h.TLSAState == DNSBogus || h.TLSAState == DNSIndeterminate || h.TLSAState == DNSFailed:
			if failed == nil {
				failed = h
			}
			bogus = bogus || h.TLSAState != DNSFailed
		}
	}
	switch {
	case withTLSA > 0 && withTLSA == considered:
		return mtasts.DANERequired, nil
	case withTLSA > 0:
		return mtasts.DANEPartial, nil
	case failed != nil && bogus:
		return mtasts.DANEBogus, failed
	case failed != nil:
		return mtasts.DANETemp, failed
	case res.MXState == DNSSecure:
		return mtasts.DANEAbsent, nil
	}
	return mtasts.DANEUnsigned, nil
}

// precedence decides which mechanism speaks for the domain once DANE has
// judged its hosts (RFC 8461 §2, RFC 7672 §2.2; mtasts.Decide): DANE when
// any host has a secure TLSA RRset or a TLSA lookup failed, and then the
// DANE verdict stands as it is, MTA-STS unasked; else the domain's
// MTA-STS policy, applied to every host, and the verdict decided again.
func (v *validation) precedence(ctx context.Context, res *Result) {
	d, failed := daneState(res)
	switch d {
	case mtasts.DANERequired, mtasts.DANEPartial:
		dec := mtasts.Decide(d, mtasts.STSAbsent)
		res.PolicySource, res.PolicySourceDetail = dec.Source, dec.Why
		return
	case mtasts.DANEBogus, mtasts.DANETemp:
		res.PolicySource = mtasts.SourceDANE
		what := "failed"
		if d == mtasts.DANEBogus {
			what = "failed DNSSEC validation"
		}
		res.PolicySourceDetail = fmt.Sprintf("the TLSA lookup for MX host %s %s: DANE decides (the host is unusable, RFC 7672 §2.1.2) and MTA-STS is not consulted, since it never stands in for a failing DANE validation (RFC 8461 §2)", failed.Name, what)
		return
	}
	if v.e.cfg.MTASTS == nil {
		res.PolicySource = mtasts.SourceNone
		res.PolicySourceDetail = "no MX host has a secure TLSA RRset, and daned does not consult MTA-STS (--mta-sts=false): opportunistic TLS (RFC 7672 §2.2)"
		return
	}
	pr := v.stsPolicy(ctx, res.Domain)
	res.MTASTS = &pr
	dec := mtasts.Decide(d, pr.State())
	res.PolicySource, res.PolicySourceDetail = dec.Source, dec.Why
	if pr.HasPolicy() && pr.FromCache && pr.Failure != mtasts.ReasonNone {
		res.PolicySourceDetail += fmt.Sprintf("; the policy could not be had afresh (%s), so the cached one, valid until %s, stands in (RFC 8461 §5.1)",
			pr.Failure.ResultType(), pr.Expires.UTC().Format(time.RFC3339))
	}
	if pr.Failure != mtasts.ReasonNone {
		// A policy that could not be had may be had soon: ask again then.
		v.observeDuration(v.e.cfg.FailureTTL)
	}
	if pr.HasPolicy() {
		// The verdict never outlives the policy it applies.
		v.observeDuration(max(pr.Expires.Sub(v.now), 0))
	}
	rule := dec.Host(mtasts.HostNoTLSA)
	if rule != mtasts.RuleSTSEnforce && rule != mtasts.RuleSTSTesting {
		return
	}
	for i := range res.Hosts {
		h := &res.Hosts[i]
		// Every host that reached the TLSA step has no secure TLSA RRset
		// here (daneState): it is opportunistic, and the policy binds it.
		if h.Reason == dane.ReasonNotConsidered || h.Policy != dane.PolicyOpportunistic {
			continue
		}
		v.applySTS(h, pr.Policy, rule == mtasts.RuleSTSEnforce)
	}
	v.decide(res)
}

// observeDuration lowers the verdict's TTL to d.
func (v *validation) observeDuration(d time.Duration) {
	v.mu.Lock()
	v.ttl = min(v.ttl, d)
	v.mu.Unlock()
}

// applySTS judges one MX host under an MTA-STS policy in mode enforce or
// testing (RFC 8461 §4, §5): its name must match an mx pattern, and each
// probed address must have completed STARTTLS with a chain valid under
// the WebPKI for the host name (mtasts.VerifyHost). Under enforce a
// refused address is unusable, and so is the host when no address
// passes; under testing nothing changes but the record of what enforce
// would have refused (Host.STSFailure, for a TLS report).
func (v *validation) applySTS(h *Host, p mtasts.Policy, enforce bool) {
	if enforce {
		h.Policy = dane.PolicyMTASTSRequired
	}
	patterns := strings.Join(p.MX, ", ")
	if !p.MatchMX(h.Name) {
		h.STSFailure = dane.ReasonMXNotInPolicy
		detail := fmt.Sprintf("MX host %s matches none of the MTA-STS policy's mx patterns (%s) (RFC 8461 §4.1)", h.Name, patterns)
		if !enforce {
			h.Detail = fmt.Sprintf("%s; MTA-STS in mode testing would refuse it: %s", h.Detail, detail)
			return
		}
		h.fail(dane.ReasonMXNotInPolicy, false, detail+"; mail must not go through it (mode enforce, RFC 8461 §5)")
		h.stsRefused = true
		for i := range h.Addresses {
			a := &h.Addresses[i]
			if a.Reason == dane.ReasonOK {
				a.Reason = dane.ReasonMXNotInPolicy
				a.Detail = fmt.Sprintf("%s [%s]: not usable: the MTA-STS policy does not name the host", h.Name, a.IP)
			}
		}
		return
	}
	if v.opts.PolicyOnly {
		if enforce {
			h.Detail = fmt.Sprintf("MX host %s matches the MTA-STS policy (mx %s): STARTTLS with a certificate chain valid under the WebPKI for %s is mandatory (RFC 8461 §4, mode enforce); not probed: the caller checks the chain", h.Name, patterns, h.Name)
		} else {
			h.Detail = fmt.Sprintf("%s; MX host %s matches the MTA-STS policy (mx %s), in mode testing", h.Detail, h.Name, patterns)
		}
		return
	}
	var refused []dane.Outcome
	passed := -1
	for i := range h.Addresses {
		a := &h.Addresses[i]
		if a.Reason != dane.ReasonOK {
			continue // not reached: a connectivity failure, not MTA-STS's
		}
		r, detail := v.stsAddress(h, i, p)
		if r == dane.ReasonOK {
			a.Detail = detail
			if passed < 0 {
				passed = i
			}
			continue
		}
		refused = append(refused, dane.Outcome{Reason: r, Detail: detail, MTASTS: true})
		if enforce {
			a.Reason, a.Detail = r, detail
		} else {
			a.Detail = fmt.Sprintf("%s; MTA-STS in mode testing would refuse it: %s", a.Detail, detail)
		}
	}
	if passed >= 0 {
		h.Detail = h.Addresses[passed].Detail
		if !enforce {
			h.Detail = fmt.Sprintf("%s (MTA-STS mode testing)", h.Detail)
		}
		return
	}
	if len(refused) == 0 {
		return // no address answered: the host's connectivity failure stands
	}
	f, _ := dane.Pick(refused)
	h.STSFailure = f.Reason
	if !enforce {
		h.Detail = fmt.Sprintf("%s; MTA-STS in mode testing would refuse it: %s", h.Detail, f.Detail)
		return
	}
	h.fail(f.Reason, false, f.Detail)
	h.stsRefused = true
}

// stsAddress judges one address that answered, under an MTA-STS policy:
// STARTTLS must have succeeded and the chain must be valid under the
// WebPKI for the host name (RFC 8461 §4.2).
func (v *validation) stsAddress(h *Host, i int, p mtasts.Policy) (dane.Reason, string) {
	a := &h.Addresses[i]
	where := fmt.Sprintf("%s [%s]", h.Name, a.IP)
	if a.TLSVersion == 0 {
		r := dane.ReasonSTARTTLSNotOffered
		if i < len(h.probeErrs) && h.probeErrs[i] != dane.ReasonUnspecified {
			r = h.probeErrs[i]
		}
		what := "did not offer STARTTLS"
		if r == dane.ReasonTLSHandshakeFailed {
			what = "offered STARTTLS but the TLS handshake failed"
		}
		return r, fmt.Sprintf("%s %s, but the MTA-STS policy makes TLS mandatory (RFC 8461 §5)", where, what)
	}
	err := mtasts.VerifyHost(a.Chain, v.e.roots, h.Name, p.MX, v.now)
	if err == nil {
		return dane.ReasonOK, fmt.Sprintf("%s: %s established; the certificate is valid under the WebPKI for %s, which the MTA-STS policy names (RFC 8461 §4)", where, probe.VersionName(a.TLSVersion), h.Name)
	}
	var he *mtasts.HostError
	if !errors.As(err, &he) {
		return dane.ReasonCertNotTrusted, fmt.Sprintf("%s: %v", where, err)
	}
	return dane.ReasonNamed(he.Reason.String()), fmt.Sprintf("%s: %s (RFC 8461 §4.2)", where, he.Detail)
}
