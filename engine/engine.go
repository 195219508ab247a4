// Package engine runs one DANE validation from start to finish: it
// resolves the destination's MX hosts, their addresses and TLSA records
// with DNSSEC, probes every address with STARTTLS in parallel, and
// returns the verdict with a result per host and address. The rules are
// package dane's: the engine makes the lookups and gathers the facts, and
// dane decides whether DANE applies to a host, which TLSA base domains to
// try, the DANE-TA reference names, and how each presented chain fares.
//
// When DNSSEC proves that the domain has no DANE, or the domain is
// unsigned, the engine asks an injected PolicySource for the domain's
// MTA-STS policy (RFC 8461) and applies it to the hosts: package mtasts
// decides the precedence (DANE first, and a DANE failure never rescued)
// and whether a host's chain passes under the WebPKI.
//
// It knows nothing of gRPC or of caching: the decision layer (package
// cache) wraps it and every front door calls that, and danectl runs it
// in-process. A resolver or prober that keeps answers is told, by
// explicit arguments, when a validation must not reuse them and how long
// a probe result may live.
package engine

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/dnsname"
	"github.com/daned/daned/mtasts"
	"github.com/daned/daned/probe"
	"github.com/daned/daned/resolver"
)

// Lookuper answers DNSSEC-aware lookups. *resolver.Resolver and
// *cache.Resolver implement it.
type Lookuper interface {
	Lookup(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error)
}

// FreshLookuper is a Lookuper that keeps answers (*cache.Resolver):
// LookupFresh skips what it keeps, for a validation with
// Options.FreshDNS.
type FreshLookuper interface {
	Lookuper
	LookupFresh(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error)
}

// Prober makes one STARTTLS probe. *probe.Prober and *cache.Prober
// implement it.
type Prober interface {
	Probe(ctx context.Context, addr netip.Addr, sni string) *probe.Result
}

// ReusingProber is a Prober that keeps results (*cache.Prober).
// ProbeReusing keeps a new result for at most maxAge when maxAge > 0 (the
// engine passes the TLSA RRset's TTL: a probe result never outlives the
// records it was judged against) and skips a kept one when fresh
// (Options.FreshProbes).
type ReusingProber interface {
	Prober
	ProbeReusing(ctx context.Context, addr netip.Addr, sni string, maxAge time.Duration, fresh bool) *probe.Result
}

// InsecureMXPolicy says what to do with MX hosts named by an insecure MX
// RRset (RFC 7672 §2.2.1), like Postfix's smtp_tls_dane_insecure_mx_policy.
type InsecureMXPolicy int

const (
	// InsecureMXDANE still uses DANE for such a host when its own address
	// and TLSA records are secure (RFC 7672 §2.2.1 allows it; Postfix does
	// it at security level dane). The domain is still never reported as
	// DANE-secured.
	InsecureMXDANE InsecureMXPolicy = iota
	// InsecureMXMay treats every host of an insecure MX RRset as
	// opportunistic, without TLSA lookups.
	InsecureMXMay
)

// ParseInsecureMXPolicy parses "dane" or "may".
func ParseInsecureMXPolicy(s string) (InsecureMXPolicy, error) {
	switch s {
	case "dane":
		return InsecureMXDANE, nil
	case "may":
		return InsecureMXMay, nil
	}
	return 0, fmt.Errorf("insecure MX policy %q: want dane or may", s)
}

// Config configures an Engine. Zero values are the documented defaults.
type Config struct {
	// Resolver makes the DNS lookups. Required.
	Resolver Lookuper
	// Prober makes the STARTTLS probes. When nil, only policy-only
	// validations can be made.
	Prober Prober
	// Targets says which addresses may be probed; the zero value forbids
	// internal ranges (see probe.TargetPolicy).
	Targets probe.TargetPolicy
	// Now is the clock; nil means time.Now. DANE-TA validity checks use it.
	Now func() time.Time
	// InsecureMX is the policy for hosts of an insecure MX RRset; the zero
	// value is InsecureMXDANE.
	InsecureMX InsecureMXPolicy
	// MaxMXHosts bounds the MX hosts considered, in preference order; 0
	// means 10. Hosts past it are reported as NOT_CONSIDERED.
	MaxMXHosts int
	// MaxAddresses bounds the addresses probed per host; 0 means 8.
	MaxAddresses int
	// ProbeConcurrency bounds the probes running at once across all
	// validations; 0 means 64.
	ProbeConcurrency int
	// ProbesPerAddress bounds the probes running at once to any one
	// destination address, across all validations and on top of
	// ProbeConcurrency, so a fleet never hammers one receiver; 0 means 2.
	// The limit applies to calls of Prober, so with a caching prober a
	// cache hit for a busy address waits for a slot like a probe would.
	ProbesPerAddress int
	// FailureTTL is the longest a verdict that rests on a failure may be
	// reused; 0 means 30s.
	FailureTTL time.Duration
	// Timeout bounds a validation whose context has no deadline; 0 means
	// 60s.
	Timeout time.Duration
	// ProbeTTL is the longest a verdict that rests on probes may be
	// reused, whatever its DNS TTLs: a probe shows how the server was
	// when it was made, not for as long as its records live. 0 means no
	// cap beyond the TTLs.
	ProbeTTL time.Duration
	// Logger receives debug records; nil means slog.Default().
	Logger *slog.Logger
	// TracerProvider makes the spans of each validation; nil means the
	// global provider (otel.GetTracerProvider), a no-op until one is set.
	TracerProvider trace.TracerProvider
	// MTASTS gives a domain's MTA-STS policy (RFC 8461), asked only when
	// DNSSEC proved the domain has no DANE or the domain is unsigned
	// (mtasts.Decide). Nil: MTA-STS is never consulted.
	MTASTS PolicySource
	// WebPKIRoots are the roots an MX host's chain must validate against
	// under an MTA-STS policy (RFC 8461 §4.2). Nil means the system roots
	// (x509.SystemCertPool, which on Linux honours SSL_CERT_FILE and
	// SSL_CERT_DIR), loaded by New when MTASTS is set.
	WebPKIRoots *x509.CertPool
}

// Options are the per-request switches of a validation.
type Options struct {
	// PolicyOnly skips the STARTTLS probes: DNS only.
	PolicyOnly bool
	// FreshDNS asks a Resolver that keeps answers (a FreshLookuper) for
	// answers as the DNS gives them now; they still refill what it keeps.
	FreshDNS bool
	// FreshProbes asks a Prober that keeps results (a ReusingProber) for
	// new probes.
	FreshProbes bool
}

// Engine validates destinations. It is safe for concurrent use.
type Engine struct {
	cfg     Config
	fresh   FreshLookuper // cfg.Resolver when it keeps answers
	reusing ReusingProber // cfg.Prober when it keeps results
	slots   chan struct{} // probe concurrency
	perAddr *addrLimiter  // probe concurrency per destination address
	roots   *x509.CertPool
}

// maxTTL is the longest any verdict is reused, whatever its DNS TTLs say.
const maxTTL = 24 * time.Hour

// New checks cfg and returns an Engine.
func New(cfg Config) (*Engine, error) {
	if cfg.Resolver == nil {
		return nil, errors.New("engine: a resolver is required")
	}
	if cfg.MaxMXHosts < 0 || cfg.MaxAddresses < 0 || cfg.ProbeConcurrency < 0 || cfg.ProbesPerAddress < 0 || cfg.FailureTTL < 0 || cfg.Timeout < 0 || cfg.ProbeTTL < 0 {
		return nil, errors.New("engine: limits and durations must not be negative")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxMXHosts == 0 {
		cfg.MaxMXHosts = 10
	}
	if cfg.MaxAddresses == 0 {
		cfg.MaxAddresses = 8
	}
	if cfg.ProbeConcurrency == 0 {
		cfg.ProbeConcurrency = 64
	}
	if cfg.ProbesPerAddress == 0 {
		cfg.ProbesPerAddress = 2
	}
	if cfg.FailureTTL == 0 {
		cfg.FailureTTL = 30 * time.Second
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.TracerProvider == nil {
		cfg.TracerProvider = otel.GetTracerProvider()
	}
	e := &Engine{cfg: cfg, slots: make(chan struct{}, cfg.ProbeConcurrency), perAddr: newAddrLimiter(cfg.ProbesPerAddress), roots: cfg.WebPKIRoots}
	if cfg.MTASTS != nil && e.roots == nil {
		roots, err := x509.SystemCertPool()
		if err != nil {
			return nil, fmt.Errorf("engine: loading the WebPKI roots for MTA-STS: %w", err)
		}
		e.roots = roots
	}
	e.fresh, _ = cfg.Resolver.(FreshLookuper)
	e.reusing, _ = cfg.Prober.(ReusingProber)
	return e, nil
}

// Validate returns the verdict for domain. The error is non-nil only when
// the domain is invalid (it wraps dnsname.ErrInvalid) or ctx ended before
// a verdict was reached; every DNS, DNSSEC, TLS or DANE failure is a
// verdict, not an error.
func (e *Engine) Validate(ctx context.Context, domain string, opts Options) (*Result, error) {
	name, err := dnsname.Normalize(domain)
	if err != nil {
		return nil, err
	}
	if !opts.PolicyOnly && e.cfg.Prober == nil {
		return nil, errors.New("engine: no prober configured; only policy-only validations are possible")
	}
	parent := ctx
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.cfg.Timeout)
		defer cancel()
	}
	ctx, span := e.tracer().Start(ctx, spanValidate, trace.WithAttributes(attrDomain.String(name), attribute.Bool("dane.policy_only", opts.PolicyOnly)))
	v := &validation{e: e, opts: opts, ttl: maxTTL}
	res := v.run(ctx, name)
	endValidate(span, res)
	if err := parent.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// validation is the state of one Validate call.
type validation struct {
	e    *Engine
	opts Options
	now  time.Time
	// expanded is the destination domain's CNAME expansion when a secure
	// MX lookup went through an alias, else "". Set before any host is
	// judged, read-only after.
	expanded string

	mu  sync.Mutex // guards ttl
	ttl time.Duration
}

func (v *validation) run(ctx context.Context, name string) *Result {
	v.now = v.e.cfg.Now()
	res := &Result{Domain: name, PolicyOnly: v.opts.PolicyOnly, CheckedAt: v.now}

	hosts, stop := v.mxHosts(ctx, res)
	if stop != nil {
		res.Verdict = *stop
		noHostsSource(res)
	} else {
		res.Hosts = hosts
		v.judgeHosts(ctx, res)
		v.precedence(ctx, res)
	}
	res.TTL = v.ttl
	if res.Verdict.Action != dane.ActionDeliver || anyFailure(res.Hosts) {
		res.TTL = min(res.TTL, v.e.cfg.FailureTTL)
	}
	if !v.opts.PolicyOnly && v.e.cfg.ProbeTTL > 0 && len(res.Hosts) > 0 {
		res.TTL = min(res.TTL, v.e.cfg.ProbeTTL)
	}
	return res
}

func anyFailure(hosts []Host) bool {
	for _, h := range hosts {
		if h.Reason != dane.ReasonOK && h.Reason != dane.ReasonNotConsidered {
			return true
		}
	}
	return false
}

// observe lowers the verdict's TTL to that of an answer it rests on.
func (v *validation) observe(ttl uint32) {
	d := time.Duration(ttl) * time.Second
	v.mu.Lock()
	v.ttl = min(v.ttl, d)
	v.mu.Unlock()
}

// lookup resolves and records the answer's TTL.
func (v *validation) lookup(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error) {
	a, err := v.traceLookup(ctx, name, qtype, func(ctx context.Context) (*resolver.Answer, error) {
		if v.opts.FreshDNS && v.e.fresh != nil {
			return v.e.fresh.LookupFresh(ctx, name, qtype)
		}
		return v.e.cfg.Resolver.Lookup(ctx, name, qtype)
	})
	if err != nil {
		return nil, err
	}
	v.observe(a.TTL)
	return a, nil
}

// stateOf maps a resolver security state.
func stateOf(s resolver.Security) DNSState {
	switch s {
	case resolver.Secure:
		return DNSSecure
	case resolver.Insecure:
		return DNSInsecure
	case resolver.Bogus:
		return DNSBogus
	case resolver.Indeterminate:
		return DNSIndeterminate
	}
	return DNSFailed
}

// public describes a lookup error for a mail admin: what failed and why,
// without daned's own socket details (those stay in logs and traces).
func public(err error) string {
	var qe *resolver.QueryError
	if errors.As(err, &qe) {
		return qe.Public()
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return "the validation ran out of time"
	}
	return "lookup failed"
}

// failureOf classifies a lookup error: the reason, and the DNS state of
// the answer that could not be had.
func failureOf(err error) (dane.Reason, DNSState) {
	var qe *resolver.QueryError
	switch {
	case errors.Is(err, resolver.ErrBogus):
		st := DNSBogus
		if errors.As(err, &qe) && qe.Security == resolver.Indeterminate {
			st = DNSIndeterminate
		}
		return dane.ReasonDNSSECBogus, st
	case errors.Is(err, resolver.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return dane.ReasonTimeout, DNSFailed
	}
	return dane.ReasonDNSQueryFailed, DNSFailed
}

// mxHosts resolves the MX RRset into the hosts to judge, or returns the
// verdict that ends the validation early.
func (v *validation) mxHosts(ctx context.Context, res *Result) ([]Host, *dane.Verdict) {
	a, err := v.lookup(ctx, res.Domain, dns.TypeMX)
	if err != nil {
		// RFC 7672 §2.1.2: an MX lookup error that prevents choosing
		// servers defers the mail.
		r, st := failureOf(err)
		res.MXState = st
		f := dane.Fail(r, true, fmt.Sprintf("MX lookup for %s failed: %s", res.Domain, public(err)))
		return nil, &f
	}
	res.MXState = stateOf(a.Security)
	if len(a.Chain) > 0 && a.Security == resolver.Secure {
		// RFC 7672 §3.2.2: the CNAME-expanded destination domain is a
		// DANE-TA reference identifier too (the whole answer, CNAMEs
		// included, is secure when AD is set).
		v.expanded = trimDot(a.Final())
	}
	if a.NXDomain() {
		f := dane.Fail(dane.ReasonNXDomain, true, fmt.Sprintf("%s does not exist (NXDOMAIN, %s)", res.Domain, res.MXState))
		return nil, &f
	}
	var mxs []*dns.MX
	null := false
	for _, rr := range a.Records {
		if mx, ok := rr.(*dns.MX); ok {
			if mx.Mx == "." {
				null = true
				continue
			}
			mxs = append(mxs, mx)
		}
	}
	if null && len(mxs) == 0 {
		// RFC 7505 §3: a null MX is the domain saying it takes no mail.
		f := dane.Fail(dane.ReasonNullMX, true, fmt.Sprintf("%s publishes a null MX (RFC 7505): it accepts no mail", res.Domain))
		return nil, &f
	}
	if len(mxs) == 0 {
		// RFC 5321 §5.1: no MX records, the domain is its own host.
		res.ImplicitMX = true
		return []Host{{Name: res.Domain, MXState: res.MXState}}, nil
	}
	sortMX(mxs)
	hosts := make([]Host, 0, len(mxs))
	seen := make(map[string]bool, len(mxs))
	for _, mx := range mxs {
		name := trimDot(mx.Mx)
		if seen[name] {
			continue
		}
		seen[name] = true
		h := Host{Name: name, Preference: mx.Preference, MXState: res.MXState}
		if len(hosts) >= v.e.cfg.MaxMXHosts {
			h.Reason = dane.ReasonNotConsidered
			h.Detail = fmt.Sprintf("%s not considered: only the %d most-preferred MX hosts are", name, v.e.cfg.MaxMXHosts)
		}
		hosts = append(hosts, h)
	}
	return hosts, nil
}

// judgeHosts evaluates every host in parallel and decides the verdict.
func (v *validation) judgeHosts(ctx context.Context, res *Result) {
	done := make(chan struct{}, len(res.Hosts))
	n := 0
	for i := range res.Hosts {
		if res.Hosts[i].Reason == dane.ReasonNotConsidered {
			continue
		}
		n++
		go func(h *Host) {
			defer func() { done <- struct{}{} }()
			v.host(ctx, res.Domain, h)
		}(&res.Hosts[i])
	}
	for range n {
		<-done
	}
	v.decide(res)
}

// decide sets the verdict from the judged hosts.
func (v *validation) decide(res *Result) {
	outcomes := make([]dane.Outcome, 0, len(res.Hosts))
	for _, h := range res.Hosts {
		if h.Reason == dane.ReasonNotConsidered {
			continue
		}
		outcomes = append(outcomes, dane.Outcome{Policy: h.Policy, Usable: h.Usable, Reason: h.Reason, InDNS: h.inDNS, Detail: h.Detail, MTASTS: h.stsRefused})
	}
	res.Verdict = dane.Decide(res.MXState == DNSSecure, outcomes)
}

// noHostsSource says which mechanism decided a verdict reached before any
// host was judged: DANE for a failed MX lookup (it cannot be known
// whether the domain has DANE, and MTA-STS never stands in for it, RFC
// 8461 §2), none for a domain that takes no mail.
func noHostsSource(res *Result) {
	switch res.Verdict.Reason {
	case dane.ReasonNXDomain, dane.ReasonNullMX:
		res.PolicySource = mtasts.SourceNone
		res.PolicySourceDetail = "the domain accepts no mail: no transport security policy applies"
	default:
		d := mtasts.DANETemp
		if res.Verdict.Reason == dane.ReasonDNSSECBogus {
			d = mtasts.DANEBogus
		}
		dec := mtasts.Decide(d, mtasts.STSAbsent)
		res.PolicySource, res.PolicySourceDetail = dec.Source, dec.Why
	}
}

// fail marks a host unusable.
func (h *Host) fail(r dane.Reason, inDNS bool, detail string) {
	h.Reason, h.Usable, h.inDNS, h.Detail = r, false, inDNS, detail
}

// host judges one MX host: addresses, then TLSA, then probes (RFC 7672
// §2.2.2: addresses are looked up before TLSA).
func (v *validation) host(ctx context.Context, domain string, h *Host) {
	ctx, span := v.startHost(ctx, h)
	defer endHost(span, h)
	addrs, chain, ok := v.addresses(ctx, h)
	if !ok {
		return
	}
	h.CNAMEChain = chain
	if why := v.daneApplies(ctx, h); why != "" {
		h.Policy, h.Detail = dane.PolicyOpportunistic, why
	} else if !v.tlsa(ctx, h) {
		return
	}
	if len(h.TLSA) > 0 {
		h.ReferenceNames = dane.ReferenceNames(h.TLSABase, h.Name, domain, v.expanded, h.MXState == DNSSecure)
	}
	v.probeAll(ctx, domain, h, addrs)
}

// addresses looks up A and AAAA in parallel. RFC 7672 §2.1.2: an address
// lookup failure makes the host unusable (it is skipped).
func (v *validation) addresses(ctx context.Context, h *Host) ([]netip.Addr, []string, bool) {
	type out struct {
		a   *resolver.Answer
		err error
	}
	var six, four out
	ch := make(chan struct{})
	go func() {
		six.a, six.err = v.lookup(ctx, h.Name, dns.TypeAAAA)
		close(ch)
	}()
	four.a, four.err = v.lookup(ctx, h.Name, dns.TypeA)
	<-ch
	for _, o := range []struct {
		t string
		out
	}{{"A", four}, {"AAAA", six}} {
		if o.err != nil {
			r, st := failureOf(o.err)
			h.AddressState = st
			h.fail(r, true, fmt.Sprintf("%s lookup for MX host %s failed: %s; the host is skipped (RFC 7672 §2.1.2)", o.t, h.Name, public(o.err)))
			return nil, nil, false
		}
	}
	h.AddressState = DNSInsecure
	if four.a.Security == resolver.Secure && six.a.Security == resolver.Secure {
		h.AddressState = DNSSecure
	}
	var addrs []netip.Addr
	for _, rr := range append(append([]dns.RR{}, six.a.Records...), four.a.Records...) {
		var ip netip.Addr
		switch r := rr.(type) {
		case *dns.AAAA:
			ip, _ = netip.AddrFromSlice(r.AAAA)
		case *dns.A:
			ip, _ = netip.AddrFromSlice(r.A.To4())
		}
		if ip.IsValid() && len(addrs) < v.e.cfg.MaxAddresses {
			addrs = append(addrs, ip.Unmap())
		}
	}
	chain := four.a.Chain
	if len(chain) == 0 {
		chain = six.a.Chain
	}
	if len(addrs) == 0 {
		what := "has no A or AAAA records"
		if four.a.NXDomain() {
			what = "does not exist (NXDOMAIN)"
		}
		h.fail(dane.ReasonNoAddresses, true, fmt.Sprintf("MX host %s %s", h.Name, what))
		return nil, nil, false
	}
	return addrs, trimDots(chain), true
}

// daneApplies gathers what decides whether DANE applies to the host (RFC
// 7672 §2.2.1–2) and has dane.Applies decide. It returns why not, or "".
// The one lookup, a CNAME query for the host name, is made only when its
// answer can change the decision (dane.HostFacts.FirstLinkMatters).
func (v *validation) daneApplies(ctx context.Context, h *Host) string {
	_, err := netip.ParseAddr(h.Name)
	f := dane.HostFacts{
		Name:          h.Name,
		MXSecure:      h.MXState == DNSSecure,
		MXState:       h.MXState.String(),
		InsecureMXMay: v.e.cfg.InsecureMX == InsecureMXMay,
		IPLiteral:     err == nil,
		AddressSecure: h.AddressState == DNSSecure,
		AddressState:  h.AddressState.String(),
		CNAME:         len(h.CNAMEChain) > 0,
	}
	if f.FirstLinkMatters() {
		// RFC 7672 §2.2.2: when only the first link of the CNAME chain is
		// secure, the host is still in a signed zone; TLSA is looked up at
		// the original name only.
		a, err := v.lookup(ctx, h.Name, dns.TypeCNAME)
		f.FirstLinkSecure = err == nil && a.Security == resolver.Secure && len(a.Records) > 0
	}
	_, why := dane.Applies(f)
	return why
}

// tlsa looks up the TLSA RRset and sets the host policy. It returns false
// when the host is unusable (RFC 7672 §2.1.2: any TLSA lookup failure).
func (v *validation) tlsa(ctx context.Context, h *Host) bool {
	// The whole address answer, CNAMEs included, is secure when
	// AddressState is: then the expanded name is a candidate too.
	for _, base := range dane.TLSABaseCandidates(h.Name, h.CNAMEChain, h.AddressState == DNSSecure) {
		h.TLSABase = base
		owner := "_25._tcp." + base
		a, err := v.lookup(ctx, owner, dns.TypeTLSA)
		if err != nil {
			r, st := failureOf(err)
			h.TLSAState = st
			if r != dane.ReasonDNSSECBogus {
				r = dane.ReasonTLSALookupFailed
			}
			h.fail(r, true, fmt.Sprintf("TLSA lookup for %s failed: %s; mail must not go through %s (RFC 7672 §2.1.2)", owner, public(err), h.Name))
			return false
		}
		h.TLSAState = stateOf(a.Security)
		var recs []dane.Record
		for _, rr := range a.Records {
			if t, ok := rr.(*dns.TLSA); ok {
				// Undecodable hex leaves the record without data, which
				// Assess marks unusable.
				r, _ := dane.ParseRecord(t.Usage, t.Selector, t.MatchingType, t.Certificate)
				recs = append(recs, r)
			}
		}
		if len(recs) == 0 || a.Security != resolver.Secure {
			continue
		}
		h.TLSA = dane.Assess(recs)
		h.tlsaTTL = time.Duration(a.TTL) * time.Second
		h.Policy = dane.HostPolicy(true, h.TLSA)
		switch h.Policy {
		case dane.PolicyDANERequired:
			h.Detail = fmt.Sprintf("secure TLSA RRset at %s: STARTTLS and authentication are mandatory", owner)
		case dane.PolicyTLSRequired:
			h.Detail = fmt.Sprintf("secure TLSA RRset at %s has no usable record: STARTTLS is mandatory, authentication is not (RFC 7672 §3.1.3)", owner)
		}
		return true
	}
	h.Policy = dane.PolicyOpportunistic
	switch h.TLSAState {
	case DNSSecure:
		h.Detail = fmt.Sprintf("no TLSA records for %s (securely denied): opportunistic TLS", h.Name)
	default:
		h.Detail = fmt.Sprintf("TLSA records for %s are %s: opportunistic TLS", h.Name, h.TLSAState)
	}
	return true
}
