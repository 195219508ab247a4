package web

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/idna"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/flight"
	"github.com/daned/daned/mtasts"
	"github.com/daned/daned/tlsrpt"
)

// report is the page's view of one verdict. Every string in it is text:
// the templates escape it, and nothing from the DNS or a certificate is
// ever rendered as markup.
type report struct {
	Domain     string
	Unicode    string // the domain in Unicode when it has A-labels; "" otherwise
	URL        string // the page's stable address, /check?domain=<domain>
	Action     string // "Deliver"
	ActionSay  string // what senders do
	Tone       tone
	Code       string // "4.7.323"; "" on deliver
	Short      string // "tlsa-invalid"
	TLSRPT     string // RFC 8460 result type; "" when none
	Reason     string // "TLSA_NO_MATCH"
	ReasonSay  string
	Text       string // the verdict's text
	Policy     string // words
	Source     string // "DANE"
	SourceWhy  string
	MXState    string
	MXTone     tone
	Implicit   bool
	PolicyOnly bool

	CheckedAt string // "2026-11-30 06:40:12 UTC"
	Age       string // "12s ago"
	Origin    string // "checked for this request", "from the cache", ...
	FromCache bool
	Remaining string // what is left of the verdict's lifetime

	Path   *pathView
	Hosts  []hostView
	DNSSEC []dnssecCause
	STS    *stsView
	Report *tlsrptView
	Advice []advice
}

type hostView struct {
	ID         string // anchor
	Index      int
	Name       string
	Preference uint16
	Tone       tone
	Usable     bool
	Verdict    string // "usable" or the failure in words
	Code       string
	ResultType string
	Reason     string
	Detail     string
	Policy     string
	MXState    stateView
	AddrState  stateView
	TLSAState  stateView
	CNAME      []string
	TLSAName   string
	RefNames   []string
	STSFailure string
	TLSA       []tlsaView
	Addresses  []addrView
}

type stateView struct {
	Word string
	Tone tone
}

type tlsaView struct {
	Index     int
	Fields    string // "3 1 1"
	Words     string // "DANE-EE(3) SPKI(1) SHA2-256(1)"
	Data      string // hex
	Short     string // the first bytes of a long Data, in hex; "" when Data is short
	Usable    bool
	Why       string
	MatchedBy []string // addresses this record authenticated
}

type addrView struct {
	IP            string
	Tone          tone
	Outcome       string
	Reason        string
	STARTTLS      string
	TLSVersion    string
	Cipher        string
	Authenticated bool
	Matched       string // the record that authenticated, or why none did
	Elapsed       string
	Detail        string
	Chain         []certView
}

type certView struct {
	Role      string // "server certificate", "issuer 1"
	Subject   string
	Issuer    string
	NotBefore string
	NotAfter  string
	Validity  string
	Tone      tone
	DNSNames  []string
	SPKI      string
	SHA256    string
}

type stsView struct {
	Tone       tone
	Summary    string
	Mode       string
	RecordID   string
	MX         []string
	MaxAge     string
	FetchedAt  string
	Expires    string
	FromCache  bool
	Failure    string
	ResultType string
	Detail     string
	Text       string
}

type tlsrptView struct {
	Tone    tone
	Summary string
	Problem string // why no record applies, or why the lookup failed
	Name    string
	RUA     []string
	Skipped []string
}

// timeFormat is how the page writes instants: UTC, to the second.
const timeFormat = "2006-01-02 15:04:05 UTC"

// checkURL is the stable address of a domain's page.
func checkURL(domain string) string {
	return "/check?" + url.Values{"domain": {domain}}.Encode()
}

// newReport builds the view of a decision.
func newReport(res *engine.Result, src flight.Source, remaining time.Duration, now time.Time) *report {
	word, say := actionWords(res.Verdict.Action)
	rp := &report{
		Domain:     res.Domain,
		Unicode:    unicodeName(res.Domain),
		URL:        checkURL(res.Domain),
		Action:     word,
		ActionSay:  say,
		Code:       res.Verdict.Status.Code,
		Short:      res.Verdict.Status.Short,
		TLSRPT:     res.Verdict.Status.TLSRPT,
		Reason:     res.Verdict.Reason.String(),
		ReasonSay:  reasonText(res.Verdict.Reason),
		Text:       res.Verdict.Text,
		Policy:     policyWords(res.Verdict.Policy),
		Source:     sourceWords(res.PolicySource),
		SourceWhy:  res.PolicySourceDetail,
		MXState:    stateWord(res.MXState),
		MXTone:     stateTone(res.MXState),
		Implicit:   res.ImplicitMX,
		PolicyOnly: res.PolicyOnly,
		CheckedAt:  res.CheckedAt.UTC().Format(timeFormat),
		FromCache:  src == flight.Cached,
		Remaining:  roundDuration(remaining),
	}
	if n, usable := len(res.Hosts), usableHosts(res); res.Verdict.Action == dane.ActionDeliver && usable < n {
		rp.ReasonSay = fmt.Sprintf("%d of %d MX hosts usable: senders deliver through them and skip the others", usable, n)
	}
	switch res.Verdict.Action {
	case dane.ActionDeliver:
		rp.Tone = tonePass
	case dane.ActionDefer, dane.ActionReject:
		rp.Tone = toneFail
	default:
		rp.Tone = toneWarn
	}
	if age := now.Sub(res.CheckedAt); age >= time.Second {
		rp.Age = roundDuration(age) + " ago"
	} else {
		rp.Age = "just now"
	}
	switch src {
	case flight.Cached:
		rp.Origin = "from daned's cache: the verdict senders get now"
	case flight.Joined:
		rp.Origin = "checked now, shared with a concurrent request for the same domain"
	default:
		rp.Origin = "checked now, for this request"
	}
	rp.DNSSEC = causesOf(res)
	for i := range res.Hosts {
		rp.Hosts = append(rp.Hosts, newHostView(i, &res.Hosts[i], now))
	}
	rp.STS = newSTSView(res)
	rp.Advice = adviceOf(res, rp.DNSSEC)
	rp.Path = newPath(res)
	return rp
}

// unicodeName is an internationalised domain in Unicode, shown beside its
// A-labels (never instead of them: the A-labels are what the DNS and the
// link hold); "" when the name has no A-label or does not convert.
func unicodeName(domain string) string {
	if !strings.Contains(domain, "xn--") {
		return ""
	}
	u, err := idna.Display.ToUnicode(domain)
	if err != nil || u == domain {
		return ""
	}
	return u
}

// usableHosts counts the hosts mail may go through.
func usableHosts(res *engine.Result) int {
	n := 0
	for _, h := range res.Hosts {
		if h.Usable {
			n++
		}
	}
	return n
}

// causesOf reads the DNSSEC causes of a result: from the verdict when the
// domain itself failed validation, and from each host whose lookups did.
func causesOf(res *engine.Result) []dnssecCause {
	var out []dnssecCause
	seen := map[string]bool{}
	add := func(detail string) {
		if detail == "" || seen[detail] {
			return
		}
		seen[detail] = true
		out = append(out, parseDNSSECCause(detail))
	}
	bogus := func(s engine.DNSState) bool { return s == engine.DNSBogus || s == engine.DNSIndeterminate }
	if bogus(res.MXState) || (len(res.Hosts) == 0 && res.Verdict.Reason == dane.ReasonDNSSECBogus) {
		add(strings.TrimPrefix(res.Verdict.Text, res.Verdict.Status.Short+": "))
	}
	for _, h := range res.Hosts {
		if bogus(h.MXState) || bogus(h.AddressState) || bogus(h.TLSAState) || h.Reason == dane.ReasonDNSSECBogus {
			add(h.Detail)
		}
	}
	return out
}

func newHostView(i int, h *engine.Host, now time.Time) hostView {
	hv := hostView{
		ID:         "host-" + strconv.Itoa(i+1),
		Index:      i + 1,
		Name:       h.Name,
		Preference: h.Preference,
		Usable:     h.Usable,
		Reason:     h.Reason.String(),
		Detail:     h.Detail,
		Policy:     policyWords(h.Policy),
		MXState:    stateView{stateWord(h.MXState), stateTone(h.MXState)},
		AddrState:  stateView{stateWord(h.AddressState), stateTone(h.AddressState)},
		TLSAState:  stateView{stateWord(h.TLSAState), stateTone(h.TLSAState)},
		CNAME:      h.CNAMEChain,
		RefNames:   h.ReferenceNames,
	}
	if h.TLSABase != "" {
		hv.TLSAName = "_25._tcp." + h.TLSABase
	}
	if h.TLSAState == engine.DNSSecure && len(h.TLSA) == 0 {
		hv.TLSAState.Word = "secure: no TLSA records (proven absent)"
	}
	if h.Usable {
		hv.Tone, hv.Verdict = tonePass, "usable"
		if h.Policy == dane.PolicyOpportunistic {
			hv.Tone = toneWarn
			hv.Verdict = "usable, without DANE"
		}
	} else {
		st := dane.StatusOf(h.Reason, false)
		if h.STSFailure == h.Reason {
			st = dane.StatusOfSTS(h.Reason, false)
		}
		hv.Tone, hv.Verdict, hv.Code, hv.ResultType = toneFail, "not usable: "+reasonText(h.Reason), st.Code, st.TLSRPT
	}
	if h.STSFailure != dane.ReasonUnspecified {
		hv.STSFailure = reasonText(h.STSFailure) + " (" + dane.StatusOfSTS(h.STSFailure, false).TLSRPT + ")"
	}
	matched := map[int][]string{}
	for _, a := range h.Addresses {
		if a.Authenticated && a.Matched >= 0 {
			matched[a.Matched] = append(matched[a.Matched], a.IP.String())
		}
	}
	for j, t := range h.TLSA {
		hv.TLSA = append(hv.TLSA, tlsaView{
			Index:     j + 1,
			Fields:    fmt.Sprintf("%d %d %d", t.Usage, t.Selector, t.MatchingType),
			Words:     usageWords(t.Usage) + " " + selectorWords(t.Selector) + " " + matchingWords(t.MatchingType),
			Data:      hex.EncodeToString(t.Data),
			Short:     shortHex(t.Data),
			Usable:    t.Usable,
			Why:       t.Why,
			MatchedBy: matched[j],
		})
	}
	for j := range h.Addresses {
		hv.Addresses = append(hv.Addresses, newAddrView(h, &h.Addresses[j], now))
	}
	return hv
}

func newAddrView(h *engine.Host, a *engine.Address, now time.Time) addrView {
	av := addrView{
		IP:            a.IP.String(),
		Reason:        a.Reason.String(),
		TLSVersion:    engine.TLSVersionName(a.TLSVersion),
		Cipher:        engine.CipherSuiteName(a.CipherSuite),
		Authenticated: a.Authenticated,
		Detail:        a.Detail,
	}
	if a.Elapsed > 0 {
		av.Elapsed = a.Elapsed.Round(time.Millisecond).String()
	}
	switch {
	case a.Reason == dane.ReasonNotProbed:
		av.STARTTLS = "not probed"
	case a.STARTTLSOffered:
		av.STARTTLS = "offered"
	case a.TLSVersion == 0 && (a.Reason == dane.ReasonConnectFailed || a.Reason == dane.ReasonTargetForbidden || a.Reason == dane.ReasonTimeout):
		av.STARTTLS = "not reached"
	default:
		av.STARTTLS = "not offered"
	}
	switch {
	case a.Authenticated:
		av.Tone, av.Outcome = tonePass, "authenticated"
	case a.Reason == dane.ReasonOK && a.TLSVersion != 0:
		av.Tone, av.Outcome = toneWarn, "TLS, not authenticated"
	case a.Reason == dane.ReasonOK:
		av.Tone, av.Outcome = toneWarn, "usable without TLS"
	case a.Reason == dane.ReasonNotProbed:
		av.Tone, av.Outcome = toneNone, "not probed"
	default:
		st := dane.StatusOf(a.Reason, false)
		av.Tone, av.Outcome = toneFail, strings.TrimSpace(st.Code+" "+reasonText(a.Reason))
	}
	switch {
	case a.Matched >= 0 && a.Matched < len(h.TLSA):
		t := h.TLSA[a.Matched]
		av.Matched = fmt.Sprintf("TLSA record %d (%d %d %d) matched", a.Matched+1, t.Usage, t.Selector, t.MatchingType)
	case len(h.TLSA) > 0 && len(a.Chain) > 0:
		av.Matched = "no TLSA record matched: " + reasonText(a.Reason)
		if a.Reason == dane.ReasonOK {
			av.Matched = "no usable TLSA record to match"
		}
	}
	for k, c := range a.Chain {
		av.Chain = append(av.Chain, newCertView(k, c, now))
	}
	return av
}

func newCertView(k int, c *x509.Certificate, now time.Time) certView {
	spki := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	sum := sha256.Sum256(c.Raw)
	cv := certView{
		Role:      "server certificate",
		Subject:   c.Subject.String(),
		Issuer:    c.Issuer.String(),
		NotBefore: c.NotBefore.UTC().Format(timeFormat),
		NotAfter:  c.NotAfter.UTC().Format(timeFormat),
		DNSNames:  c.DNSNames,
		SPKI:      hex.EncodeToString(spki[:]),
		SHA256:    hex.EncodeToString(sum[:]),
	}
	if k > 0 {
		cv.Role = "issuer certificate " + strconv.Itoa(k)
	}
	switch {
	case now.After(c.NotAfter):
		cv.Tone, cv.Validity = toneFail, "expired "+roundDuration(now.Sub(c.NotAfter))+" ago"
	case now.Before(c.NotBefore):
		cv.Tone, cv.Validity = toneFail, "not valid for another "+roundDuration(c.NotBefore.Sub(now))
	default:
		cv.Tone, cv.Validity = tonePass, "valid for another "+roundDuration(c.NotAfter.Sub(now))
	}
	return cv
}

func newSTSView(res *engine.Result) *stsView {
	p := res.MTASTS
	if p == nil {
		return nil
	}
	v := &stsView{Detail: p.Detail, RecordID: p.RecordID, FromCache: p.FromCache}
	if p.HasPolicy() {
		v.Mode = p.Policy.Mode.String()
		v.MX = p.Policy.MX
		v.MaxAge = roundDuration(p.Policy.MaxAge)
		v.FetchedAt = p.FetchedAt.UTC().Format(timeFormat)
		v.Expires = p.Expires.UTC().Format(timeFormat)
		v.Text = p.Text
	}
	if p.Failure != mtasts.ReasonNone {
		v.Failure = reasonText(dane.ReasonNamed(p.Failure.String()))
		v.ResultType = p.Failure.ResultType()
	}
	switch {
	case p.HasPolicy() && p.Policy.Mode == mtasts.ModeEnforce:
		v.Tone, v.Summary = tonePass, "a policy in mode enforce applies"
	case p.HasPolicy() && p.Policy.Mode == mtasts.ModeTesting:
		v.Tone, v.Summary = toneWarn, "a policy in mode testing applies: failures are reported, not enforced"
	case p.HasPolicy():
		v.Tone, v.Summary = toneWarn, "the policy is withdrawn (mode none)"
	case p.Failure != mtasts.ReasonNone:
		v.Tone, v.Summary = toneFail, "no policy could be had"
	default:
		v.Tone, v.Summary = toneNone, "the domain publishes no MTA-STS policy"
	}
	if p.HasPolicy() && p.Failure != mtasts.ReasonNone {
		v.Summary += "; the cached policy stands in for one that could not be fetched"
	}
	return v
}

// newTLSRPTView reads the TXT records at a domain's TLS-RPT name.
func newTLSRPTView(domain string, txts []string, err error) *tlsrptView {
	v := &tlsrptView{Name: strings.TrimSuffix(tlsrpt.RecordName(domain), ".")}
	if err != nil {
		v.Tone, v.Summary, v.Problem = toneFail, "the lookup failed", err.Error()
		return v
	}
	rec, perr := tlsrpt.ParseRecord(txts)
	v.RUA, v.Skipped = rec.RUA, rec.Skipped
	if perr != nil {
		if len(txts) == 0 {
			v.Tone, v.Summary = toneWarn, "no TLS-RPT record: senders send you no reports of failed TLS sessions"
		} else {
			v.Tone, v.Summary, v.Problem = toneWarn, "no usable TLS-RPT record", strings.TrimPrefix(perr.Error(), "tlsrpt: ")
		}
		return v
	}
	v.Tone, v.Summary = tonePass, "published: senders report failed TLS sessions to the addresses below"
	return v
}

// shortHex is the start of long TLSA data (a whole certificate or key):
// the table shows it and folds the rest away.
func shortHex(b []byte) string {
	if len(b) <= 64 {
		return ""
	}
	return hex.EncodeToString(b[:24]) + "…"
}

// roundDuration writes a duration for people: "2h5m", "42s", "3d4h".
func roundDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d >= 48*time.Hour:
		days := d / (24 * time.Hour)
		hours := (d % (24 * time.Hour)) / time.Hour
		if hours == 0 {
			return strconv.Itoa(int(days)) + "d"
		}
		return strconv.Itoa(int(days)) + "d" + strconv.Itoa(int(hours)) + "h"
	case d >= time.Hour:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	case d >= time.Second:
		return d.Round(time.Second).String()
	}
	return "0s"
}
