package engine

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/dns"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/probe"
)

// probeAll probes every address of a host in parallel and decides whether
// the host can take the mail: it can when any address can.
func (v *validation) probeAll(ctx context.Context, domain string, h *Host, addrs []netip.Addr) {
	h.Addresses = make([]Address, len(addrs))
	if v.opts.PolicyOnly {
		for i, ip := range addrs {
			h.Addresses[i] = Address{IP: ip, Reason: dane.ReasonNotProbed, Matched: -1,
				Detail: "not probed (policy-only request): the caller enforces the host policy"}
		}
		h.Reason, h.Usable = dane.ReasonOK, true
		return
	}
	h.probeErrs = make([]dane.Reason, len(addrs))
	var wg sync.WaitGroup
	for i, ip := range addrs {
		wg.Go(func() { h.Addresses[i], h.probeErrs[i] = v.probeOne(ctx, domain, h, ip) })
	}
	wg.Wait()

	var failed []dane.Outcome
	for _, a := range h.Addresses {
		if a.Reason == dane.ReasonOK {
			h.Reason, h.Usable = dane.ReasonOK, true
			h.Detail = v.hostOKDetail(h, a)
			return
		}
		failed = append(failed, dane.Outcome{Reason: a.Reason, Detail: a.Detail})
	}
	f, _ := dane.Pick(failed)
	h.fail(f.Reason, false, f.Detail)
}

func (v *validation) hostOKDetail(h *Host, a Address) string {
	switch {
	case a.Authenticated:
		return fmt.Sprintf("%s [%s] authenticated by TLSA record %s", h.Name, a.IP, recordText(h.TLSA[a.Matched].Record))
	case h.Policy == dane.PolicyTLSRequired:
		return fmt.Sprintf("%s [%s] completed STARTTLS; authentication is not required (no usable TLSA record)", h.Name, a.IP)
	}
	return h.Detail
}

// probeOne probes one address and judges it under the host's policy. It
// also returns why the probe failed, ReasonUnspecified when it did not,
// even where the host's policy forgives the failure (cleartext without
// DANE), so that an MTA-STS policy can still refuse it.
func (v *validation) probeOne(ctx context.Context, domain string, h *Host, ip netip.Addr) (Address, dane.Reason) {
	a := Address{IP: ip, Matched: -1}
	where := fmt.Sprintf("%s [%s]", h.Name, ip)
	if ok, why := v.e.cfg.Targets.Permitted(ip); !ok {
		a.Reason = dane.ReasonTargetForbidden
		a.Detail = fmt.Sprintf("%s not probed: the address is %s, which daned does not connect to (allow it with --probe-allow)", where, why)
		return a, dane.ReasonUnspecified
	}
	// The address's own slot first, so a probe waiting for a busy
	// receiver holds none of the global slots.
	release, ok := v.e.perAddr.acquire(ctx, ip)
	if !ok {
		a.Reason = dane.ReasonTimeout
		a.Detail = fmt.Sprintf("%s not probed: the validation ran out of time waiting for a probe slot for the address (at most %d probes at once per address)", where, v.e.perAddr.n)
		return a, dane.ReasonUnspecified
	}
	defer release()
	select {
	case v.e.slots <- struct{}{}:
		defer func() { <-v.e.slots }()
	case <-ctx.Done():
		a.Reason = dane.ReasonTimeout
		a.Detail = fmt.Sprintf("%s not probed: the validation ran out of time waiting for a probe slot", where)
		return a, dane.ReasonUnspecified
	}
	sni := h.Name
	if h.TLSABase != "" {
		sni = h.TLSABase // RFC 7672 §8.1: SNI is the TLSA base domain
	}
	r := v.traceProbe(ctx, h, ip.String(), sni, func(ctx context.Context) *probe.Result {
		if v.e.reusing != nil {
			// A probe result must not be reused past the TLSA RRset it
			// is judged against.
			return v.e.reusing.ProbeReusing(ctx, ip, sni, h.tlsaTTL, v.opts.FreshProbes)
		}
		return v.e.cfg.Prober.Probe(ctx, ip, sni)
	})
	a.STARTTLSOffered = r.STARTTLSOffered
	a.TLSVersion = r.TLSVersion
	a.CipherSuite = r.CipherSuite
	a.Chain = r.Chain
	a.Elapsed = r.Elapsed

	if r.Err != nil {
		reason := probeReason(r.Err)
		if h.Policy == dane.PolicyOpportunistic && (reason == dane.ReasonSTARTTLSNotOffered || reason == dane.ReasonTLSHandshakeFailed) {
			// RFC 7672 §2.2, outcome 3: without DANE, cleartext is allowed.
			a.Reason = dane.ReasonOK
			a.Detail = fmt.Sprintf("%s: %v; cleartext delivery is allowed (no DANE)", where, r.Err)
			return a, reason
		}
		a.Reason = reason
		a.Detail = fmt.Sprintf("%s: %v", where, r.Err)
		if h.Policy != dane.PolicyOpportunistic && (reason == dane.ReasonSTARTTLSNotOffered || reason == dane.ReasonTLSHandshakeFailed) {
			a.Detail += fmt.Sprintf(", but its secure TLSA RRset makes TLS mandatory (%s)", policyWords(h.Policy))
		}
		return a, reason
	}
	switch h.Policy {
	case dane.PolicyDANERequired:
		m := v.traceMatch(ctx, h, func() dane.Result {
			return dane.Verify(r.Chain, h.TLSA, dane.Options{ReferenceNames: h.ReferenceNames, Now: v.now})
		})
		a.Reason = m.Reason
		a.Matched = m.Matched
		a.Authenticated = m.Authenticated()
		if a.Authenticated {
			a.Detail = fmt.Sprintf("%s: authenticated by TLSA %s (%s)", where, recordText(h.TLSA[m.Matched].Record), m.Detail)
			if note := eeDateNote(h.TLSA[m.Matched].Record, r, v); note != "" {
				a.Detail += "; " + note
			}
		} else {
			a.Detail = failWords(m, where)
		}
	case dane.PolicyTLSRequired:
		a.Reason = dane.ReasonOK
		a.Detail = fmt.Sprintf("%s: %s established; not authenticated (no usable TLSA record, TLS only is required)", where, probe.VersionName(r.TLSVersion))
	default:
		a.Reason = dane.ReasonOK
		a.Detail = fmt.Sprintf("%s: %s established (opportunistic, not authenticated)", where, probe.VersionName(r.TLSVersion))
	}
	return a, dane.ReasonUnspecified
}

// failWords puts a failed match into words a mail admin understands,
// naming the host and address.
func failWords(m dane.Result, where string) string {
	format := map[dane.Reason]string{
		dane.ReasonTLSANoMatch:      "no TLSA record matches the certificate of %s",
		dane.ReasonCertNameMismatch: "the certificate of %s does not name the host",
		dane.ReasonCertExpired:      "a certificate of the DANE-TA chain of %s has expired",
		dane.ReasonCertNotYetValid:  "a certificate of the DANE-TA chain of %s is not yet valid",
		dane.ReasonChainInvalid:     "the chain of %s does not verify from the DANE-TA trust anchor",
	}[m.Reason]
	if format == "" {
		format = "authentication of %s failed"
	}
	s := fmt.Sprintf(format, where)
	if m.Detail != "" {
		s += ": " + m.Detail
	}
	return s
}

func policyWords(p dane.Policy) string {
	if p == dane.PolicyTLSRequired {
		return "RFC 7672 §2.2, TLS required"
	}
	return "RFC 7672 §2.2, DANE required"
}

// eeDateNote notes a DANE-EE leaf outside its validity dates: it still
// authenticates (RFC 7672 §3.1.1), but the admin should know.
func eeDateNote(rec dane.Record, r *probe.Result, v *validation) string {
	if rec.Usage != dane.UsageDANEEE || len(r.Chain) == 0 {
		return ""
	}
	leaf := r.Chain[0]
	switch {
	case v.now.After(leaf.NotAfter):
		return fmt.Sprintf("note: the certificate expired %s, which DANE-EE ignores (RFC 7672 §3.1.1)", leaf.NotAfter.UTC().Format("2006-01-02"))
	case v.now.Before(leaf.NotBefore):
		return fmt.Sprintf("note: the certificate is valid only from %s, which DANE-EE ignores (RFC 7672 §3.1.1)", leaf.NotBefore.UTC().Format("2006-01-02"))
	}
	return ""
}

// probeReason maps a probe failure to a reason.
func probeReason(err error) dane.Reason {
	switch {
	case errors.Is(err, probe.ErrTimeout):
		return dane.ReasonTimeout
	case errors.Is(err, probe.ErrConnect):
		return dane.ReasonConnectFailed
	case errors.Is(err, probe.ErrNoSTARTTLS), errors.Is(err, probe.ErrSTARTTLSRefused):
		return dane.ReasonSTARTTLSNotOffered
	case errors.Is(err, probe.ErrHandshake):
		return dane.ReasonTLSHandshakeFailed
	}
	return dane.ReasonSMTPError
}

// recordText renders a record as in a zone file, abbreviating long data.
func recordText(r dane.Record) string {
	h := hex.EncodeToString(r.Data)
	if len(h) > 16 {
		h = h[:16] + "…"
	}
	return fmt.Sprintf("%d %d %d %s", r.Usage, r.Selector, r.MatchingType, h)
}

// TLSVersionName and CipherSuiteName name negotiated parameters; "" when
// there was no TLS.
func TLSVersionName(v uint16) string {
	if v == 0 {
		return ""
	}
	return probe.VersionName(v)
}

// CipherSuiteName names a negotiated cipher suite; "" when there was no
// TLS.
func CipherSuiteName(c uint16) string {
	if c == 0 {
		return ""
	}
	return tls.CipherSuiteName(c)
}

func trimDot(s string) string { return strings.ToLower(strings.TrimSuffix(s, ".")) }

func trimDots(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = trimDot(s)
	}
	return out
}

// sortMX orders MX records by preference, keeping the answer's order among
// equals (RFC 5321 §5.1 would randomise; a stable order keeps verdicts
// reproducible, and the caller may shuffle equals).
func sortMX(mxs []*dns.MX) {
	slices.SortStableFunc(mxs, func(a, b *dns.MX) int { return int(a.Preference) - int(b.Preference) })
}
