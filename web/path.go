package web

import (
	"fmt"
	"strings"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/engine"
)

// pathView is the picture of the delivery path, drawn as inline SVG:
// the domain, its MX hosts in preference order, and their addresses, in
// three columns. Each step is a node with its state in words and an icon
// (colour is never the only signal); each link carries the DNSSEC state
// of the lookup that made it. Title and Desc are the text alternative.
type pathView struct {
	Width, Height int
	Title, Desc   string
	Nodes         []node
	Edges         []edge
}

// node is one box: Lines of text, the first in bold.
type node struct {
	X, Y, W, H int
	Tone       tone
	Kind       string // "domain", "host", "addr", "note"
	Href       string // "#host-1": the host's section; "" for none
	Label      string // the whole node in words, for assistive technology
	Lines      []nodeLine
}

type nodeLine struct {
	X, Y int
	Text string
	Bold bool
}

// edge is one link; its label sits at (LX, LY).
type edge struct {
	X1, Y1, X2, Y2 int
	Tone           tone
	Label          string
	LX, LY         int
}

// Layout of the picture, in SVG user units.
const (
	colW     = 230 // node width
	colGap   = 70  // between columns
	nodeH    = 66
	rowH     = 84
	margin   = 8
	lineH    = 18
	maxChars = 30 // per line of a node
)

func colX(c int) int { return margin + c*(colW+colGap) }

// clip shortens a line to fit a node; the node's title keeps it whole.
func clip(s string) string {
	r := []rune(s)
	if len(r) <= maxChars {
		return s
	}
	return string(r[:maxChars-1]) + "…"
}

func newNode(kind string, col, y int, t tone, href string, lines ...string) node {
	n := node{X: colX(col), Y: y, W: colW, H: nodeH, Tone: t, Kind: kind, Href: href, Label: strings.Join(lines, ", ")}
	for i, l := range lines {
		n.Lines = append(n.Lines, nodeLine{X: n.X + 10, Y: y + 20 + i*lineH, Text: clip(l), Bold: i == 0})
	}
	return n
}

func newEdge(a, b node, t tone, label string) edge {
	e := edge{X1: a.X + a.W, Y1: a.Y + a.H/2, X2: b.X, Y2: b.Y + b.H/2, Tone: t, Label: label}
	e.LX = (e.X1+e.X2)/2 - 4
	e.LY = (e.Y1+e.Y2)/2 - 6
	return e
}

// newPath lays out the picture of a result.
func newPath(res *engine.Result) *pathView {
	p := &pathView{Width: colX(3) - colGap + margin, Title: "Delivery path of " + res.Domain}
	var desc []string
	rows := 0
	for _, h := range res.Hosts {
		rows += max(1, len(h.Addresses))
	}
	if rows == 0 {
		rows = 1
	}
	p.Height = rows*rowH + 2*margin - (rowH - nodeH)

	verdictTone := tonePass
	if res.Verdict.Action != dane.ActionDeliver {
		verdictTone = toneFail
	}
	word, _ := actionWords(res.Verdict.Action)
	dLines := []string{res.Domain, "MX: " + stateWord(res.MXState), verdictTone.Icon + " " + word}
	if res.Verdict.Status.Code != "" {
		dLines[2] += " " + res.Verdict.Status.Code
	}
	dom := newNode("domain", 0, margin+(rows*rowH-(rowH-nodeH))/2-nodeH/2, verdictTone, "#verdict", dLines...)
	p.Nodes = append(p.Nodes, dom)
	desc = append(desc, fmt.Sprintf("Domain %s: MX lookup %s; verdict %s %s.", res.Domain, stateWord(res.MXState), word, res.Verdict.Status.Code))
	if res.ImplicitMX {
		desc = append(desc, "No MX records: the domain is its own mail host.")
	}

	if len(res.Hosts) == 0 {
		t := stateTone(res.MXState)
		if res.Verdict.Action != dane.ActionDeliver {
			t = toneFail
		}
		note := newNode("note", 1, dom.Y, t, "#verdict", "No MX host", t.Icon+" "+shortReason(res.Verdict.Reason, res.Verdict.Status.Short))
		p.Nodes = append(p.Nodes, note)
		p.Edges = append(p.Edges, newEdge(dom, note, stateTone(res.MXState), stateTone(res.MXState).Icon))
		desc = append(desc, "No MX host: "+reasonText(res.Verdict.Reason)+".")
		p.Desc = strings.Join(desc, " ")
		return p
	}

	y := margin
	for i := range res.Hosts {
		h := &res.Hosts[i]
		n := max(1, len(h.Addresses))
		hy := y + (n*rowH-(rowH-nodeH))/2 - nodeH/2
		ht, status := hostStatus(h)
		hn := newNode("host", 1, hy, ht, fmt.Sprintf("#host-%d", i+1),
			fmt.Sprintf("MX %d %s", h.Preference, h.Name), "TLSA: "+tlsaSummary(h), ht.Icon+" "+status)
		p.Nodes = append(p.Nodes, hn)
		mt := stateTone(h.MXState)
		if h.MXState == engine.DNSNotLooked {
			mt = stateTone(res.MXState)
		}
		p.Edges = append(p.Edges, newEdge(dom, hn, mt, mt.Icon))
		desc = append(desc, fmt.Sprintf("MX host %d, preference %d, %s: TLSA %s; %s.", i+1, h.Preference, h.Name, tlsaSummary(h), status))
		if len(h.Addresses) == 0 {
			at := stateTone(h.AddressState)
			if at != toneFail {
				at = toneNone
			}
			an := newNode("note", 2, y, at, fmt.Sprintf("#host-%d", i+1), "No address", at.Icon+" A/AAAA: "+stateWord(h.AddressState))
			p.Nodes = append(p.Nodes, an)
			p.Edges = append(p.Edges, newEdge(hn, an, at, at.Icon))
			desc = append(desc, "No address probed: address lookup "+stateWord(h.AddressState)+".")
		}
		for j := range h.Addresses {
			a := &h.Addresses[j]
			av := newAddrView(h, a, res.CheckedAt)
			tls := "TLS: none"
			if av.TLSVersion != "" {
				tls = av.TLSVersion
			} else if av.STARTTLS != "" {
				tls = "STARTTLS: " + av.STARTTLS
			}
			outcome := av.Outcome
			if av.Tone == toneFail {
				st := dane.StatusOf(a.Reason, false)
				outcome = strings.TrimSpace(st.Code + " " + shortReason(a.Reason, st.Short))
			}
			an := newNode("addr", 2, y+j*rowH, av.Tone, fmt.Sprintf("#host-%d", i+1), a.IP.String(), tls, av.Tone.Icon+" "+outcome)
			p.Nodes = append(p.Nodes, an)
			at := stateTone(h.AddressState)
			p.Edges = append(p.Edges, newEdge(hn, an, at, at.Icon))
			desc = append(desc, fmt.Sprintf("Address %s: %s, %s.", a.IP, tls, av.Outcome))
		}
		y += n * rowH
	}
	p.Desc = strings.Join(desc, " ")
	return p
}

// shortReason names a reason in a word or two for a box of the picture:
// its status's short text ("tlsa-invalid"), else its name.
func shortReason(r dane.Reason, short string) string {
	if short != "" {
		return short
	}
	return strings.ToLower(strings.ReplaceAll(r.String(), "_", " "))
}

// hostStatus marks a host and says its state in a few words.
func hostStatus(h *engine.Host) (tone, string) {
	if !h.Usable {
		st := dane.StatusOf(h.Reason, false)
		if h.STSFailure == h.Reason {
			st = dane.StatusOfSTS(h.Reason, false)
		}
		return toneFail, strings.TrimSpace("not usable " + st.Code)
	}
	switch h.Policy {
	case dane.PolicyDANERequired:
		return tonePass, "usable, DANE"
	case dane.PolicyMTASTSRequired:
		return tonePass, "usable, MTA-STS"
	case dane.PolicyTLSRequired:
		return toneWarn, "usable, TLS only"
	}
	return toneWarn, "usable, no DANE"
}

// tlsaSummary says what the TLSA lookup found.
func tlsaSummary(h *engine.Host) string {
	switch h.TLSAState {
	case engine.DNSSecure:
		if len(h.TLSA) == 0 {
			return "none (secure denial)"
		}
		usable := 0
		for _, t := range h.TLSA {
			if t.Usable {
				usable++
			}
		}
		return fmt.Sprintf("%d of %d usable", usable, len(h.TLSA))
	case engine.DNSNotLooked:
		return "not looked up"
	}
	return stateWord(h.TLSAState)
}
