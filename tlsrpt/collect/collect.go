// Package collect takes the TLS session results MTAs report over the API
// (ReportSessions), attaches to each the policy it was held to, from the
// decision layer's verdict of its domain, and counts it (RFC 8460 §4.4):
// the TLSA RRset of the MX host for DANE, whose policy domain is the MX
// host; else the domain's MTA-STS policy; else no-policy-found.
//
// It sits on the decision layer's floor, below the front doors, and knows
// no transport. Postfix's datagrams carry their own policy and go to the
// aggregator directly (package collector).
package collect

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/daned/daned/dnsname"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/tlsrpt"
)

// Validator answers policy-only validations: the decision layer
// (*cache.Validator), whose cached verdict usually answers at once.
type Validator interface {
	Validate(ctx context.Context, domain string, opts engine.Options) (*engine.Result, error)
}

// Input is one session as an MTA reports it.
type Input struct {
	Domain         string // the recipient domain
	MXHost         string // the MX host the session was with; required for a DANE domain
	ReceivingIP    string
	SendingMTAIP   string
	ReceivingHELO  string
	Success        bool
	Result         string // an RFC 8460 §4.3 result type; empty on success
	FailureCode    string
	AdditionalInfo string
	Time           time.Time
}

// Config configures a Collector.
type Config struct {
	Validator  Validator          // required
	Aggregator *tlsrpt.Aggregator // required
	// Parallel bounds the validations of one batch run at once; 0 means 8.
	Parallel int
	// Timeout bounds the validation of one domain; 0 means 15s.
	Timeout time.Duration
}

// Collector attaches policies and counts sessions. It is safe for
// concurrent use.
type Collector struct{ cfg Config }

// New checks cfg and returns a Collector.
func New(cfg Config) (*Collector, error) {
	if cfg.Validator == nil || cfg.Aggregator == nil {
		return nil, fmt.Errorf("collect: a validator and an aggregator are required")
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 8
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	return &Collector{cfg: cfg}, nil
}

// Refusal is a session that was not counted, and why.
type Refusal struct {
	Index  int // in the batch
	Reason string
}

// MaxBatch bounds the sessions of one Report call.
const MaxBatch = 10000

// Report counts a batch of sessions. Each is counted or refused with its
// reason; nothing is counted in part. The error is for the batch as a
// whole (too large).
func (c *Collector) Report(ctx context.Context, in []Input) (accepted int, refused []Refusal, err error) {
	if len(in) > MaxBatch {
		return 0, nil, fmt.Errorf("collect: %d sessions in one batch; at most %d", len(in), MaxBatch)
	}
	type item struct {
		idx    int
		domain string
		mx     string
	}
	var items []item
	domains := map[string]struct{}{}
	for i, s := range in {
		why, domain, mx := c.precheck(s)
		if why != "" {
			refused = append(refused, Refusal{i, why})
			continue
		}
		items = append(items, item{i, domain, mx})
		domains[domain] = struct{}{}
	}
	// One validation per domain, a bounded number at a time.
	results := make(map[string]*engine.Result, len(domains))
	errs := make(map[string]error)
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, c.cfg.Parallel)
	for d := range domains {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			vctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
			defer cancel()
			res, err := c.cfg.Validator.Validate(vctx, d, engine.Options{PolicyOnly: true})
			mu.Lock()
			defer mu.Unlock()
			results[d], errs[d] = res, err
		})
	}
	wg.Wait()
	var sessions []tlsrpt.Session
	var idx []int
	for _, it := range items {
		if err := errs[it.domain]; err != nil {
			refused = append(refused, Refusal{it.idx, "the policy of " + it.domain + " could not be determined: " + err.Error()})
			continue
		}
		pol, why := PolicyFor(results[it.domain], it.mx)
		if why != "" {
			refused = append(refused, Refusal{it.idx, why})
			continue
		}
		s := in[it.idx]
		sessions = append(sessions, tlsrpt.Session{Time: s.Time, Policy: pol, Success: s.Success, Result: tlsrpt.ResultType(s.Result),
			SendingMTAIP: s.SendingMTAIP, ReceivingMX: it.mx, ReceivingHELO: s.ReceivingHELO, ReceivingIP: s.ReceivingIP,
			FailureCode: s.FailureCode, AdditionalInfo: s.AdditionalInfo})
		idx = append(idx, it.idx)
	}
	for i, why := range c.cfg.Aggregator.AddEach(sessions) {
		if why != "" {
			refused = append(refused, Refusal{idx[i], why})
			continue
		}
		accepted++
	}
	return accepted, refused, nil
}

// precheck refuses what can be refused without a validation, and
// returns the normalised domain and MX host.
func (c *Collector) precheck(s Input) (why, domain, mx string) {
	domain, err := dnsname.Normalize(s.Domain)
	if err != nil {
		return "domain: " + err.Error(), "", ""
	}
	if s.MXHost != "" {
		if mx, err = dnsname.Normalize(s.MXHost); err != nil {
			return "mx_host: " + err.Error(), "", ""
		}
	}
	if s.Time.IsZero() {
		return "time: missing", "", ""
	}
	rt := tlsrpt.ResultType(s.Result)
	switch {
	case s.Success && s.Result != "":
		return "result_type: a successful session has none (have " + strconv.Quote(short(s.Result)) + ")", "", ""
	case !s.Success && !rt.Valid():
		return "result_type " + strconv.Quote(short(s.Result)) + ": not one of RFC 8460 §4.3 (" + names() + ")", "", ""
	}
	// Check the remaining fields as the aggregator will.
	probe := tlsrpt.Session{Time: s.Time, Policy: tlsrpt.Policy{Type: tlsrpt.PolicyNone, Domain: domain}, Success: s.Success, Result: rt,
		SendingMTAIP: s.SendingMTAIP, ReceivingMX: mx, ReceivingHELO: s.ReceivingHELO, ReceivingIP: s.ReceivingIP,
		FailureCode: s.FailureCode, AdditionalInfo: s.AdditionalInfo}
	if err := probe.Check(); err != nil {
		return strings.TrimPrefix(err.Error(), tlsrpt.ErrInvalid.Error()+": "), "", ""
	}
	if why := c.cfg.Aggregator.Accepts(s.Time); why != "" {
		return "time " + s.Time.UTC().Format(time.RFC3339) + ": " + map[string]string{
			"late":   "its period was reported already",
			"future": "too far ahead of daned's clock",
		}[why], "", ""
	}
	return "", domain, mx
}

func names() string {
	var out []string
	for _, t := range tlsrpt.ResultTypes {
		out = append(out, string(t))
	}
	return strings.Join(out, ", ")
}

func short(s string) string {
	if len(s) <= 64 {
		return s
	}
	return s[:64] + "…"
}

// PolicyFor is the policy a session with mxHost was held to, by the
// domain's verdict res (RFC 8460 §4.4): a host with a DNSSEC-secure TLSA
// RRset is under DANE, its policy domain the TLSA base domain (the MX
// host, or its CNAME target when that is where the records were) and its
// policy strings the records; otherwise the domain's MTA-STS policy, if
// one applies; otherwise no-policy-found for the domain. A DANE domain's
// session must name its MX host; why says so when it does not.
func PolicyFor(res *engine.Result, mxHost string) (p tlsrpt.Policy, why string) {
	if mxHost != "" {
		for _, h := range res.Hosts {
			if h.Name != mxHost {
				continue
			}
			if h.TLSAState == engine.DNSSecure && len(h.TLSA) > 0 {
				p = tlsrpt.Policy{Type: tlsrpt.PolicyTLSA, Domain: strings.TrimSuffix(h.TLSABase, "."), MXHosts: []string{h.Name}}
				if p.Domain == "" {
					p.Domain = h.Name
				}
				for _, r := range h.TLSA {
					p.Strings = append(p.Strings, fmt.Sprintf("%d %d %d %s", r.Usage, r.Selector, r.MatchingType, hex.EncodeToString(r.Data)))
				}
				return p, ""
			}
			break
		}
	} else {
		for _, h := range res.Hosts {
			if h.TLSAState == engine.DNSSecure && len(h.TLSA) > 0 {
				return p, "mx_host: required for " + res.Domain + ", whose MX hosts have TLSA records (the policy domain of a DANE policy is the MX host, RFC 8460 §4.4)"
			}
		}
	}
	if r := res.MTASTS; r != nil && r.HasPolicy() {
		return tlsrpt.Policy{Type: tlsrpt.PolicySTS, Domain: res.Domain,
			Strings: strings.Split(strings.TrimSuffix(r.Policy.Format(), "\n"), "\n"), MXHosts: r.Policy.MX}, ""
	}
	return tlsrpt.Policy{Type: tlsrpt.PolicyNone, Domain: res.Domain}, ""
}
