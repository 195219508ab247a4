package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	danev1 "github.com/daned/daned/proto/dane/v1"
)

// report writes the response as a readable report for a mail admin.
func report(w io.Writer, r *danev1.ValidateResponse) {
	verdict := name(r.GetAction().String(), "ACTION_")
	if r.GetStatusCode() != "" {
		verdict += " " + r.GetStatusCode()
	}
	fmt.Fprintf(w, "%s: %s\n", r.GetDomain(), verdict)
	if r.GetStatusText() != "" {
		fmt.Fprintf(w, "  why:     %s\n", r.GetStatusText())
	}
	fmt.Fprintf(w, "  policy:  %s (%s)\n", name(r.GetPolicy().String(), "POLICY_"), policyWords(r.GetPolicy()))
	fmt.Fprintf(w, "  reason:  %s", name(r.GetReason().String(), "REASON_"))
	if r.GetTlsrptResultType() != "" {
		fmt.Fprintf(w, " (TLS-RPT result type %s)", r.GetTlsrptResultType())
	}
	fmt.Fprintln(w)
	mx := "MX RRset " + security(r.GetMxSecurity())
	if r.GetImplicitMx() {
		mx = "no MX records: the domain is its own mail host (RFC 5321 §5.1); " + mx
	}
	fmt.Fprintf(w, "  dns:     %s\n", mx)
	ttl := r.GetTtl().AsDuration().Round(time.Second)
	src := "fresh"
	if r.GetFromCache() {
		src = "from cache"
	}
	fmt.Fprintf(w, "  checked: %s (%s, reusable for %s)\n", r.GetCheckedAt().AsTime().UTC().Format(time.RFC3339), src, ttl)
	if r.GetPolicyOnly() {
		fmt.Fprintln(w, "  probes:  none (policy only)")
	}
	if r.GetPolicySource() != danev1.PolicySource_POLICY_SOURCE_UNSPECIFIED {
		fmt.Fprintf(w, "  decided: by %s: %s\n", sourceWords(r.GetPolicySource()), r.GetPolicySourceDetail())
	}
	if m := r.GetMtaSts(); m != nil {
		stsReport(w, m)
	}
	for _, h := range r.GetMxHosts() {
		fmt.Fprintln(w)
		hostReport(w, h)
	}
}

func hostReport(w io.Writer, h *danev1.MxHost) {
	mark := "FAIL"
	if h.GetUsableForDelivery() {
		mark = "ok"
	} else if h.GetReason() == danev1.Reason_REASON_NOT_CONSIDERED {
		mark = "skipped"
	}
	fmt.Fprintf(w, "  MX %d %s  [%s] %s\n", h.GetPreference(), h.GetName(), mark, name(h.GetHostPolicy().String(), "POLICY_"))
	if len(h.GetCnameChain()) > 0 {
		fmt.Fprintf(w, "    alias:     %s -> %s\n", h.GetName(), strings.Join(h.GetCnameChain(), " -> "))
	}
	fmt.Fprintf(w, "    addresses: %s\n", security(h.GetAddressSecurity()))
	if h.GetTlsaBaseDomain() != "" {
		fmt.Fprintf(w, "    TLSA:      _25._tcp.%s %s\n", h.GetTlsaBaseDomain(), security(h.GetTlsaSecurity()))
	}
	for i, t := range h.GetTlsa() {
		use := "usable"
		if !t.GetUsable() {
			use = "unusable: " + t.GetUnusableReason()
		}
		fmt.Fprintf(w, "      [%d] %d %d %d %s  %s\n", i, t.GetUsage(), t.GetSelector(), t.GetMatchingType(), abbrev(t.GetData(), 24), use)
	}
	if h.GetDetail() != "" {
		fmt.Fprintf(w, "    %s\n", h.GetDetail())
	}
	if f := h.GetMtaStsFailure(); f != danev1.Reason_REASON_UNSPECIFIED {
		verb := "refuses this host"
		if h.GetUsableForDelivery() {
			verb = "would refuse this host in mode enforce (testing: delivered anyway, to be reported)"
		}
		fmt.Fprintf(w, "    MTA-STS:   the policy %s: %s (TLS-RPT result type %s)\n", verb, name(f.String(), "REASON_"), h.GetMtaStsResultType())
	}
	for _, a := range h.GetAddresses() {
		addrReport(w, a, h.GetDetail())
	}
}

// addrReport writes one address; its detail is left out when the host's
// detail already says it.
func addrReport(w io.Writer, a *danev1.AddressResult, hostDetail string) {
	mark := "FAIL " + name(a.GetReason().String(), "REASON_")
	switch a.GetReason() {
	case danev1.Reason_REASON_OK:
		mark = "ok"
	case danev1.Reason_REASON_NOT_PROBED:
		mark = "not probed"
	}
	fmt.Fprintf(w, "    - %s: %s", a.GetIp(), mark)
	if a.GetElapsed() != nil && a.GetReason() != danev1.Reason_REASON_NOT_PROBED {
		fmt.Fprintf(w, " (%s)", a.GetElapsed().AsDuration().Round(time.Millisecond))
	}
	fmt.Fprintln(w)
	var tls []string
	if a.GetStarttlsOffered() {
		tls = append(tls, "STARTTLS offered")
	}
	if a.GetTlsVersion() != "" {
		tls = append(tls, a.GetTlsVersion(), a.GetCipherSuite())
	}
	if len(tls) > 0 {
		fmt.Fprintf(w, "        %s\n", strings.Join(tls, ", "))
	}
	for i, c := range a.GetChain() {
		role := "leaf"
		if i > 0 {
			role = fmt.Sprintf("ca[%d]", i)
		}
		fmt.Fprintf(w, "        %s: %s (issuer %s), valid %s to %s\n", role, c.GetSubject(), c.GetIssuer(),
			c.GetNotBefore().AsTime().UTC().Format("2006-01-02"), c.GetNotAfter().AsTime().UTC().Format("2006-01-02"))
		if len(c.GetDnsNames()) > 0 {
			fmt.Fprintf(w, "            names %s\n", strings.Join(c.GetDnsNames(), ", "))
		}
		fmt.Fprintf(w, "            sha256 %s, spki sha256 %s\n", abbrev(c.GetSha256(), 16), abbrev(c.GetSpkiSha256(), 16))
	}
	if a.MatchedTlsaIndex != nil {
		fmt.Fprintf(w, "        matched TLSA record [%d]\n", a.GetMatchedTlsaIndex())
	}
	if a.GetDetail() != "" && a.GetDetail() != hostDetail {
		fmt.Fprintf(w, "        %s\n", a.GetDetail())
	}
}

func name(s, prefix string) string { return strings.TrimPrefix(s, prefix) }

func security(s danev1.DnsSecurity) string {
	return strings.ToLower(strings.ReplaceAll(name(s.String(), "DNS_SECURITY_"), "_", " "))
}

func policyWords(p danev1.Policy) string {
	switch p {
	case danev1.Policy_POLICY_DANE_REQUIRED:
		return "STARTTLS and DANE authentication are mandatory"
	case danev1.Policy_POLICY_TLS_REQUIRED:
		return "STARTTLS is mandatory, authentication is not"
	case danev1.Policy_POLICY_OPPORTUNISTIC:
		return "no DANE: opportunistic TLS, cleartext allowed"
	case danev1.Policy_POLICY_NO_MAIL:
		return "the domain accepts no mail"
	case danev1.Policy_POLICY_MTA_STS_REQUIRED:
		return "MTA-STS enforce: STARTTLS and a WebPKI-valid certificate naming the host are mandatory"
	}
	return "could not be determined"
}

func sourceWords(s danev1.PolicySource) string {
	switch s {
	case danev1.PolicySource_POLICY_SOURCE_DANE:
		return "DANE"
	case danev1.PolicySource_POLICY_SOURCE_MTA_STS:
		return "MTA-STS"
	}
	return "neither DANE nor MTA-STS"
}

// stsReport explains what was found of the domain's MTA-STS policy (RFC
// 8461): the policy and where it came from, or why there is none and what
// that means for the mail.
func stsReport(w io.Writer, m *danev1.MtaSts) {
	mode := strings.ToLower(name(m.GetMode().String(), "MTA_STS_MODE_"))
	if m.GetMode() == danev1.MtaStsMode_MTA_STS_MODE_UNSPECIFIED {
		switch {
		case m.GetFailure() != danev1.Reason_REASON_UNSPECIFIED:
			fmt.Fprintf(w, "  mta-sts: the policy could not be had (%s, TLS-RPT result type %s): %s\n", name(m.GetFailure().String(), "REASON_"), m.GetTlsrptResultType(), m.GetDetail())
			fmt.Fprintln(w, "           none is cached, so mail goes as if the domain had no policy (RFC 8461 §5.1); daned asks again in 5 minutes at the earliest")
		default:
			fmt.Fprintf(w, "  mta-sts: no policy: %s\n", m.GetDetail())
		}
		return
	}
	from := "fetched"
	if m.GetFromCache() {
		from = "cached, fetched"
	}
	fmt.Fprintf(w, "  mta-sts: mode %s, record id %s, %s %s, valid until %s (max_age %s)\n", mode, m.GetRecordId(), from,
		m.GetFetchedAt().AsTime().UTC().Format(time.RFC3339), m.GetExpiresAt().AsTime().UTC().Format(time.RFC3339), m.GetMaxAge().AsDuration())
	if len(m.GetMxPatterns()) > 0 {
		fmt.Fprintf(w, "           mx patterns: %s\n", strings.Join(m.GetMxPatterns(), ", "))
	}
	switch m.GetMode() {
	case danev1.MtaStsMode_MTA_STS_MODE_ENFORCE:
		fmt.Fprintln(w, "           only MX hosts matching a pattern, over STARTTLS with a certificate valid under the WebPKI for the host name, may take the mail; otherwise it waits")
	case danev1.MtaStsMode_MTA_STS_MODE_TESTING:
		fmt.Fprintln(w, "           testing: mail is delivered as without a policy; hosts that would fail are reported")
	case danev1.MtaStsMode_MTA_STS_MODE_NONE:
		fmt.Fprintln(w, "           none: the domain withdrew its policy; mail goes as without one")
	}
	if m.GetFailure() != danev1.Reason_REASON_UNSPECIFIED {
		fmt.Fprintf(w, "           getting it afresh failed (%s): %s\n", m.GetTlsrptResultType(), m.GetDetail())
	}
}

func abbrev(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
