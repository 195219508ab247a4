package conformance

import (
	"fmt"
	"strings"
)

// Run is one posttls-finger run and what Parse made of it.
type Run struct {
	FingerRun
	Observation Observation `json:"observation"`
}

// Result is everything measured for one scenario.
type Result struct {
	Scenario    string `json:"scenario"`
	Description string `json:"description"`
	RFC         string `json:"rfc"`
	Daned       *Daned `json:"daned,omitempty"`
	DanedError  string `json:"daned_error,omitempty"`
	// Domain is the run against the domain (MX lookup, as a delivery).
	Domain Run `json:"domain"`
	// Hosts are "[host]" runs for the hosts the domain run did not reach
	// (posttls-finger reports only the first host that answers).
	Hosts map[string]Run `json:"hosts,omitempty"`
}

// Unreached lists daned's hosts that the domain run did not reach.
func (r *Result) Unreached() []string {
	var out []string
	if r.Daned == nil {
		return nil
	}
	for _, h := range r.Daned.Hosts {
		if _, ok := r.Domain.Observation.Hosts[h.Name]; !ok && r.Domain.Observation.Domain == "" {
			out = append(out, h.Name)
		}
	}
	return out
}

// HostView is one host as both sides see it.
type HostView struct {
	Name    string
	Daned   Outcome
	Postfix Outcome
	// Via is "domain" or "[host]": which posttls-finger run it came from.
	Via      string
	Evidence string
}

// Comparison is a scenario's two verdicts side by side.
type Comparison struct {
	Scenario      string
	DanedAction   string
	PostfixAction string
	DanedDomain   Outcome // set when daned judged no host (MX-level verdict)
	PostfixDomain Outcome
	Hosts         []HostView
	Diffs         []string
}

// Agree reports whether the two sides agree.
func (c Comparison) Agree() bool { return len(c.Diffs) == 0 }

func usable(o Outcome) bool {
	return o == Verified || o == Trusted || o == Untrusted || o == NoTLS
}

// Compare lines up daned's verdict with posttls-finger's observations. The
// outcome of each host comes from the domain run when that run reached it,
// else from the host's own "[host]" run. Postfix's action is derived as a
// delivery would act: REJECT for a domain that takes no mail, DELIVER when
// some host is usable (Postfix tries the MX hosts in order), else DEFER.
func Compare(r Result) Comparison {
	c := Comparison{Scenario: r.Scenario}
	if r.Daned == nil {
		c.Diffs = append(c.Diffs, "daned gave no verdict: "+r.DanedError)
		return c
	}
	d := r.Daned
	c.DanedAction = d.Action
	dom := r.Domain.Observation
	c.PostfixDomain = dom.Domain
	if len(d.Hosts) == 0 {
		c.DanedDomain = DNSFailure
		if d.Action == "REJECT" {
			c.DanedDomain = NoMail
		}
	}
	anyUsable := false
	for _, h := range d.Hosts {
		v := HostView{Name: h.Name, Daned: h.Outcome, Postfix: NotTried}
		if oc, ok := dom.Hosts[h.Name]; ok {
			v.Postfix, v.Via, v.Evidence = oc, "domain", dom.Evidence[h.Name]
		} else if hr, ok := r.Hosts[h.Name]; ok {
			ho := hr.Observation
			v.Via = "[host]"
			if oc, ok := ho.Hosts[h.Name]; ok {
				v.Postfix, v.Evidence = oc, ho.Evidence[h.Name]
			} else if ho.Domain != "" {
				v.Postfix, v.Evidence = DNSFailure, ho.Evidence[""]
			}
		}
		if usable(v.Postfix) {
			anyUsable = true
		}
		if v.Daned != v.Postfix {
			c.Diffs = append(c.Diffs, fmt.Sprintf("%s: daned %s, postfix %s", h.Name, v.Daned, v.Postfix))
		}
		c.Hosts = append(c.Hosts, v)
	}
	for _, h := range dom.Order {
		found := false
		for _, dh := range d.Hosts {
			found = found || dh.Name == h
		}
		if !found {
			c.Diffs = append(c.Diffs, fmt.Sprintf("%s: reached by postfix, not listed by daned", h))
		}
	}
	switch {
	case dom.Domain == NoMail:
		c.PostfixAction = "REJECT"
	case dom.Domain != "":
		c.PostfixAction = "DEFER"
	case anyUsable:
		c.PostfixAction = "DELIVER"
	default:
		c.PostfixAction = "DEFER"
	}
	if c.DanedDomain != c.PostfixDomain {
		c.Diffs = append(c.Diffs, fmt.Sprintf("domain: daned %s, postfix %s", orDash(c.DanedDomain), orDash(c.PostfixDomain)))
	}
	if c.DanedAction != c.PostfixAction {
		c.Diffs = append(c.Diffs, fmt.Sprintf("action: daned %s, postfix %s", c.DanedAction, c.PostfixAction))
	}
	return c
}

func orDash(o Outcome) string {
	if o == "" {
		return "(hosts judged)"
	}
	return string(o)
}

// PostfixSummary is the Postfix column of the table.
func (c Comparison) PostfixSummary() string {
	var parts []string
	if c.PostfixDomain != "" {
		parts = append(parts, "domain: "+string(c.PostfixDomain))
	}
	for _, h := range c.Hosts {
		s := fmt.Sprintf("%s: %s", h.Name, h.Postfix)
		if h.Via == "[host]" {
			s += " (via [host])"
		}
		parts = append(parts, s)
	}
	return c.PostfixAction + " — " + strings.Join(parts, "; ")
}

// DanedSummary is daned's per-host column.
func (c Comparison) DanedSummary() string {
	var parts []string
	if c.DanedDomain != "" {
		parts = append(parts, "domain: "+string(c.DanedDomain))
	}
	for _, h := range c.Hosts {
		parts = append(parts, fmt.Sprintf("%s: %s", h.Name, h.Daned))
	}
	return strings.Join(parts, "; ")
}
