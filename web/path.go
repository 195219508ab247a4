package web

import (
	"fmt"
	"strings"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/engine"
)

// pathView is the picture of the delivery path, drawn as inline SVG:
// the domain, its MX hosts in preference order, and their addresses.
// Each step is a box with its state in words and an icon (colour and
// line style are never the only signal); each link carries the DNSSEC
// state of the lookup that made it. Title and Desc are the text
// alternative. The same tree is drawn twice: Wide in three columns,
// Tall indented in one column for a phone (the stylesheet shows one).
type pathView struct {
	Title, Desc string
	Wide, Tall  *layout
}

// layout is one drawing of the tree.
type layout struct {
	ID            string // "wide", "tall": prefixes the element ids
	Width, Height int
	Nodes         []node
	Edges         []edge
}

// node is one box: Lines of text, the first in bold.
type node struct {
	X, Y, W, H int
	Tone       tone
	Kind       string // "domain", "host", "addr", "note"
	Href       string // "#host-1": the host's section, or "#verdict"
	Label      string // the whole box in words, for assistive technology
	Lines      []nodeLine
}

type nodeLine struct {
	X, Y int
	Text string
	Bold bool
}

// edge is one link, a polyline; its icon sits at (LX, LY).
type edge struct {
	Points string
	Tone   tone
	Label  string
	LX, LY int
}

// step is a box of the tree before layout.
type treeStep struct {
	depth  int // 0 domain, 1 host, 2 address
	parent int // index of the parent step; -1 for the domain
	kind   string
	tone   tone
	link   tone // the tone of the link from the parent
	href   string
	lines  []string
}

// Geometry, in SVG user units.
const (
	colW     = 230 // box width, wide
	colGap   = 70  // between columns, wide
	tallW    = 300 // box width, tall
	indent   = 24  // per level, tall
	nodeH    = 66
	rowH     = 84 // wide: per address row
	tallRowH = 76 // tall: per box
	margin   = 8
	lineH    = 18
	maxChars = 30 // per line of a box (wide)
	maxTall  = 38 // per line of a box (tall)
)

func colX(c int) int { return margin + c*(colW+colGap) }

// clip shortens a line to fit a box; the box's label keeps it whole.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func place(st treeStep, x, y, w, chars int) node {
	n := node{X: x, Y: y, W: w, H: nodeH, Tone: st.tone, Kind: st.kind, Href: st.href, Label: strings.Join(st.lines, ", ")}
	for i, l := range st.lines {
		n.Lines = append(n.Lines, nodeLine{X: x + 10, Y: y + 20 + i*lineH, Text: clip(l, chars), Bold: i == 0})
	}
	return n
}

// wide lays the tree out in three columns: each address a row, each
// host centred on its addresses, the domain centred on everything.
func wide(steps []treeStep) *layout {
	l := &layout{ID: "wide", Width: colX(3) - colGap + margin}
	rowsOf := make([]int, len(steps)) // rows under each step
	for i := len(steps) - 1; i > 0; i-- {
		rowsOf[i] = max(1, rowsOf[i])
		rowsOf[steps[i].parent] += rowsOf[i]
	}
	rowsOf[0] = max(1, rowsOf[0])
	l.Height = rowsOf[0]*rowH + 2*margin - (rowH - nodeH)
	next := make([]int, len(steps)) // the next free row under each step
	top := make([]int, len(steps))
	for i, st := range steps {
		if st.parent >= 0 {
			top[i] = next[st.parent]
			next[st.parent] += rowsOf[i]
		}
		next[i] = top[i]
		y := margin + top[i]*rowH + (rowsOf[i]*rowH-(rowH-nodeH))/2 - nodeH/2
		l.Nodes = append(l.Nodes, place(st, colX(st.depth), y, colW, maxChars))
		if st.parent >= 0 {
			a, b := l.Nodes[st.parent], l.Nodes[i]
			x1, y1, x2, y2 := a.X+a.W, a.Y+a.H/2, b.X, b.Y+b.H/2
			l.Edges = append(l.Edges, edge{Points: fmt.Sprintf("%d,%d %d,%d", x1, y1, x2, y2), Tone: st.link, Label: st.link.Icon,
				LX: (x1+x2)/2 - 4, LY: (y1+y2)/2 - 6})
		}
	}
	return l
}

// tall lays the tree out as an indented list, one box under the other,
// each link an elbow from its parent's left edge.
func tall(steps []treeStep) *layout {
	l := &layout{ID: "tall", Width: margin*2 + 2*indent + tallW, Height: len(steps)*tallRowH + 2*margin - (tallRowH - nodeH)}
	for i, st := range steps {
		n := place(st, margin+st.depth*indent, margin+i*tallRowH, tallW, maxTall)
		l.Nodes = append(l.Nodes, n)
		if st.parent >= 0 {
			a := l.Nodes[st.parent]
			x, y := a.X+indent/2, n.Y+n.H/2
			l.Edges = append(l.Edges, edge{Points: fmt.Sprintf("%d,%d %d,%d %d,%d", x, a.Y+a.H, x, y, n.X, y), Tone: st.link, Label: st.link.Icon,
				LX: x - 12, LY: y - 4})
		}
	}
	return l
}

// newPath draws the picture of a result.
func newPath(res *engine.Result) *pathView {
	p := &pathView{Title: "Delivery path of " + res.Domain}
	var desc []string
	var steps []treeStep

	verdictTone := tonePass
	if res.Verdict.Action != dane.ActionDeliver {
		verdictTone = toneFail
	}
	word, _ := actionWords(res.Verdict.Action)
	dLine := verdictTone.Icon + " " + word
	if res.Verdict.Status.Code != "" {
		dLine += " " + res.Verdict.Status.Code
	}
	steps = append(steps, treeStep{parent: -1, kind: "domain", tone: verdictTone, href: "#verdict",
		lines: []string{res.Domain, "MX: " + stateWord(res.MXState), dLine}})
	desc = append(desc, fmt.Sprintf("Domain %s: MX lookup %s; verdict %s %s.", res.Domain, stateWord(res.MXState), word, res.Verdict.Status.Code))
	if res.ImplicitMX {
		desc = append(desc, "No MX records: the domain is its own mail host.")
	}

	if len(res.Hosts) == 0 {
		t := stateTone(res.MXState)
		if res.Verdict.Action != dane.ActionDeliver {
			t = toneFail
		}
		steps = append(steps, treeStep{depth: 1, kind: "note", tone: t, link: stateTone(res.MXState), href: "#verdict",
			lines: []string{"No MX host", t.Icon + " " + shortReason(res.Verdict.Reason, res.Verdict.Status.Short)}})
		desc = append(desc, "No MX host: "+reasonText(res.Verdict.Reason)+".")
	}
	for i := range res.Hosts {
		h := &res.Hosts[i]
		href := fmt.Sprintf("#host-%d", i+1)
		ht, status := hostStatus(h)
		mt := stateTone(h.MXState)
		if h.MXState == engine.DNSNotLooked {
			mt = stateTone(res.MXState)
		}
		hi := len(steps)
		steps = append(steps, treeStep{depth: 1, parent: 0, kind: "host", tone: ht, link: mt, href: href,
			lines: []string{fmt.Sprintf("MX %d %s", h.Preference, h.Name), "TLSA: " + tlsaSummary(h), ht.Icon + " " + status}})
		desc = append(desc, fmt.Sprintf("MX host %d, preference %d, %s: TLSA %s; %s.", i+1, h.Preference, h.Name, tlsaSummary(h), status))
		if len(h.Addresses) == 0 {
			at := stateTone(h.AddressState)
			why := at.Icon + " A/AAAA: " + stateWord(h.AddressState)
			if at != toneFail {
				at = toneNone
				why = at.Icon + " host unusable before probing"
				if h.Usable || h.Reason == dane.ReasonNotProbed {
					why = at.Icon + " DNS-only check"
				}
			}
			steps = append(steps, treeStep{depth: 2, parent: hi, kind: "note", tone: at, link: at, href: href, lines: []string{"No address probed", why}})
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
			steps = append(steps, treeStep{depth: 2, parent: hi, kind: "addr", tone: av.Tone, link: stateTone(h.AddressState), href: href,
				lines: []string{a.IP.String(), tls, av.Tone.Icon + " " + outcome}})
			desc = append(desc, fmt.Sprintf("Address %s: %s, %s.", a.IP, tls, av.Outcome))
		}
	}
	p.Desc = strings.Join(desc, " ")
	p.Wide, p.Tall = wide(steps), tall(steps)
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
