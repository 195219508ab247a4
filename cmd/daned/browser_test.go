package main

import (
	"bytes"
	"context"
	"crypto/x509/pkix"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/daned/daned/internal/testworld"
)

// browserTimeout bounds the whole browser test: a hang guard, not a
// speed target (Chromium alone can take seconds to start on a loaded
// machine).
const browserTimeout = 5 * time.Minute

// tabTimeout bounds the actions on one page, a hang guard as well.
const tabTimeout = 2 * time.Minute

// injected is the global any script smuggled into the page would set:
// the hostile names below all set it, and none may run.
const injected = "danedInjected"

// Markup where the page shows what a domain's owner controls: the
// certificate names of a hostile mail server, and a domain typed into the
// form or a link.
var (
	hostileCN     = `<script>window.` + injected + `="cn";alert("cn")</script>`
	hostileSAN    = `<img src=x onerror="window.` + injected + `='san';alert('san')">`
	hostileDomain = `<script>window.` + injected + `="domain";alert("domain")</script>.test`
)

// hostileMarkup is a test-world scenario that passes DANE (a DANE-EE
// 3 1 1 record ignores names, RFC 7672 §3.1.1) with a certificate whose
// subject and names are markup: the page lists them.
var hostileMarkup = testworld.ScenarioSpec{
	Name: "hostile-markup", Description: "valid 3 1 1; the self-signed leaf's CN and a SAN are HTML with script", RFC: "RFC 7672 §3.1.1",
	Expect: "pass (dane-ee); the page shows the names as text",
	Hosts: []testworld.HostSpec{{Name: "mx",
		Cert: testworld.CertSpec{CN: hostileCN, SANs: []string{"mx.{z}", hostileSAN}},
		TLSA: []testworld.TLSASpec{{Usage: 3, Selector: 1, MatchingType: 1}}}},
}

// chromiumPath is Debian's Chromium; the test skips only where it is
// missing, and `make test` installs it (TEST_DEPS).
func chromiumPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed; make test installs it (Makefile TEST_DEPS: apt-get install chromium)")
	}
	return p
}

// newBrowser starts headless Chromium for the test, driven over a pipe
// (no debugging port), and returns its context. Nothing leaves the
// machine: the background services that would phone home are off, names
// resolve to nothing but localhost, and any request to an address other
// than loopback goes to a proxy port where nothing listens. (A net log
// of a whole run, --log-net-log, showed Chromium's few remaining calls
// home, to update.googleapis.com and accounts.google.com, all ending at
// that proxy with ERR_PROXY_CONNECTION_FAILED; its other sockets were
// loopback, and UDP connects that only pick a source address.)
func newBrowser(t *testing.T, path string) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // tests run as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,AutofillServerCommunication,CertificateTransparencyComponentUpdater,InterestFeedContentSuggestions,NetworkTimeServiceQuerying"),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("no-service-autorun", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"),
		chromedp.Flag("proxy-server", "http://127.0.0.1:9"), // loopback bypasses it
	)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		bcancel()
		acancel() // waits for Chromium to exit
		cancel()
	})
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return bctx
}

// tab is one browser tab and what it saw: console messages, browser log
// entries (a CSP violation is one), exceptions and dialogs.
type tab struct {
	ctx context.Context

	mu      sync.Mutex
	console []string
	dialogs []string
	more    chan struct{} // a value after each record
	// forDocs shrinks the screenshots (DANED_SCREENSHOTS: for the
	// repository) rather than saving Chromium's PNG as it is.
	forDocs bool
}

// newTab opens a tab in the browser of ctx, closed when the test ends.
// A dialog (alert) is recorded and dismissed, so that it cannot block
// the page.
func newTab(t *testing.T, bctx context.Context) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(bctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	// The tab lives as long as ctx; its actions get tabTimeout, so that
	// a hang fails one page, not the rest.
	actx, acancel := context.WithTimeout(ctx, tabTimeout)
	t.Cleanup(acancel)
	tb := &tab{ctx: actx, more: make(chan struct{}, 1), forDocs: os.Getenv("DANED_SCREENSHOTS") != ""}
	err := chromedp.Listen(ctx, func(ev any) {
		// Runs in the tab's event loop: record and return.
		tb.mu.Lock()
		defer tb.mu.Unlock()
		defer func() {
			select {
			case tb.more <- struct{}{}:
			default:
			}
		}()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value))
			}
			tb.console = append(tb.console, fmt.Sprintf("console.%s(%s)", ev.Type, strings.Join(args, ", ")))
		case *runtime.EventExceptionThrown:
			tb.console = append(tb.console, "exception: "+ev.ExceptionDetails.Text)
		case *cdplog.EventEntryAdded:
			tb.console = append(tb.console, fmt.Sprintf("%s %s: %s (%s)", ev.Entry.Source, ev.Entry.Level, ev.Entry.Text, ev.Entry.URL))
		case *page.EventJavascriptDialogOpening:
			tb.dialogs = append(tb.dialogs, string(ev.Type)+": "+ev.Message)
			go func() { // the test fails on the dialog anyway
				_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
			}()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// seen returns what the tab recorded so far.
func (tb *tab) seen() (console, dialogs []string) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.console...), append([]string(nil), tb.dialogs...)
}

// checkQuiet fails the test when the page opened a dialog or wrote to
// the console: a script's output, an exception, a Content Security Policy
// violation, a resource that failed to load (the page's icon included:
// it is embedded, so Chromium asks for no /favicon.ico). The HTTP status
// of the page loaded from u itself is not a fault (a malformed domain's
// page is a 400).
func (tb *tab) checkQuiet(t *testing.T, u string) {
	t.Helper()
	console, dialogs := tb.seen()
	var faults []string
	for _, m := range console {
		if strings.HasPrefix(m, "network ") && strings.HasSuffix(m, "("+u+")") {
			continue
		}
		faults = append(faults, m)
	}
	if len(faults)+len(dialogs) > 0 {
		t.Errorf("the page wrote to the console or opened dialogs: %q %q", faults, dialogs)
	}
}

// notInOrder returns the first of phrases that text does not have after
// the ones before it, "" when it has them all in order.
func notInOrder(text string, phrases []string) string {
	for _, p := range phrases {
		i := strings.Index(text, p)
		if i < 0 {
			return p
		}
		text = text[i+len(p):]
	}
	return ""
}

// waitConsole waits until the tab has recorded a console message or log
// entry containing want, and returns it.
func (tb *tab) waitConsole(t *testing.T, want string) string {
	t.Helper()
	for {
		console, _ := tb.seen()
		for _, m := range console {
			if strings.Contains(m, want) {
				return m
			}
		}
		select {
		case <-tb.more:
		case <-tb.ctx.Done():
			t.Fatalf("the console never showed %q; it has %q", want, console)
		}
	}
}

// load sets the viewport width and loads u, and returns its response's
// Content-Security-Policy header.
func (tb *tab) load(t *testing.T, u string, width int64, mobile bool) string {
	t.Helper()
	var vopts []chromedp.EmulateViewportOption
	if mobile {
		vopts = append(vopts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
	}
	if err := chromedp.Do(tb.ctx, chromedp.EmulateViewport(width, 900, vopts...)); err != nil {
		t.Fatal(err)
	}
	resp, err := chromedp.Run(tb.ctx, chromedp.NavigateResponse(u))
	if err != nil {
		t.Fatalf("loading %s: %v", u, err)
	}
	if err := chromedp.Do(tb.ctx, chromedp.WaitVisible(chromedp.CSS("main"))); err != nil {
		t.Fatalf("%s: %v", u, err)
	}
	csp, _ := resp.Headers["Content-Security-Policy"].(string)
	if csp == "" {
		csp, _ = resp.Headers["content-security-policy"].(string)
	}
	return csp
}

// text is what a person reads on the page: its rendered text.
func (tb *tab) text(t *testing.T) string {
	t.Helper()
	s, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, tb *tab, expr string) T {
	t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// screenshot saves the whole page, width pixels wide, as name in dir.
func (tb *tab) screenshot(t *testing.T, dir, name string, width int64) {
	t.Helper()
	png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if cfg, _, err := image.DecodeConfig(bytes.NewReader(png)); err != nil || int64(cfg.Width) != width {
		t.Fatalf("screenshot %s: %d px wide (%v), want %d", name, cfg.Width, err, width)
	}
	out := png
	if tb.forDocs {
		var err error
		if out, err = shrinkPNG(png); err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d KB)", p, len(out)>>10)
}

// shrinkPNG re-encodes a screenshot with a palette of its 256 most
// common colours (a page is mostly flat colour; only the edges of
// anti-aliased text lose a shade) at the best compression, so that the
// screenshots kept in docs/img stay small.
func shrinkPNG(in []byte) ([]byte, error) {
	img, err := png.Decode(bytes.NewReader(in))
	if err != nil {
		return nil, err
	}
	b := img.Bounds()
	counts := map[color.RGBA]int{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			counts[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)]++
		}
	}
	colours := slices.Collect(maps.Keys(counts))
	slices.SortFunc(colours, func(a, b color.RGBA) int {
		if c := counts[b] - counts[a]; c != 0 {
			return c
		}
		return int(uint32(a.R)<<24|uint32(a.G)<<16|uint32(a.B)<<8|uint32(a.A)) - int(uint32(b.R)<<24|uint32(b.G)<<16|uint32(b.B)<<8|uint32(b.A))
	})
	pal := make(color.Palette, 0, 256)
	for _, c := range colours[:min(256, len(colours))] {
		pal = append(pal, c)
	}
	out := image.NewPaletted(b, pal)
	index := map[color.RGBA]uint8{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			i, ok := index[c]
			if !ok {
				i = uint8(pal.Index(c))
				index[c] = i
			}
			out.SetColorIndex(x, y, i)
		}
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, out); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// screenshotDir is where the screenshots go: DANED_SCREENSHOTS (make
// screenshots sets docs/img), else a directory removed after the test.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("DANED_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBrowser loads the diagnostics page of a daned serving the test
// world in headless Chromium, and checks what a person sees for a
// passing, a DANE-failing and a DNSSEC-bogus domain, that nothing from
// a domain's owner runs as script, and that the page keeps to its
// Content Security Policy.
func TestBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	start := time.Now()
	var scenarios []testworld.ScenarioSpec
	for _, sc := range testworld.Catalogue() {
		if slices.Contains([]string{"ee-spki", "mismatch", "expired-rrsig"}, sc.Name) {
			scenarios = append(scenarios, sc)
		}
	}
	w := testworld.StartT(t, testworld.Options{Scenarios: scenarios, Extra: []testworld.ScenarioSpec{hostileMarkup}})
	u := testworld.StartUnboundT(t, w)
	var allow []string
	for _, p := range w.ProbeAllow() {
		allow = append(allow, p.String())
	}
	d := startDaned(t, "--listen", "127.0.0.1:0", "--resolver", u.Addr(), "--probe-port", strconv.Itoa(w.SMTPPort()),
		"--probe-allow", strings.Join(allow, ","), "--mta-sts=false", "--http-listen", "127.0.0.1:0")
	base := d.webURL(t)
	shots := screenshotDir(t)
	bctx := newBrowser(t, chromium)
	t.Logf("world, Unbound, daned and Chromium up in %v", time.Since(start).Round(time.Millisecond))

	check := func(domain string) string { return base + "check?domain=" + url.QueryEscape(domain) }
	mx, ok := w.Host("mx.mismatch.test")
	if !ok {
		t.Fatal("the world has no mx.mismatch.test")
	}
	// The record that would match the certificate mx.mismatch.test
	// presents: the advice must give it whole, ready to publish.
	fix := "_25._tcp.mx.mismatch.test. IN TLSA 3 1 1 " + testworld.TLSAData(mx.Chain[0], 1, 1)
	pages := []struct {
		name   string
		url    string
		width  int64
		mobile bool
		shot   string
		// verdict is the verdict box's class, action its action word and
		// code its status code ("" for none).
		verdict, action, code string
		// want are phrases a person must read, in this order.
		want []string
		// failed are words the failing steps of the delivery path
		// (drawn as failing) must name between them; none when nothing
		// fails.
		failed []string
		// sections are the ids of sections that must be visible.
		sections []string
	}{
		{name: "pass", url: check("ee-spki.test"), width: 1280, shot: "check-pass.png",
			verdict: "pass", action: "Deliver",
			want:     []string{"Deliver: mail to ee-spki.test", "every check passed", "Delivery path", "What to do", "Nothing to fix", "MX 10 mx.ee-spki.test: usable", "authenticated"},
			sections: []string{"verdict", "path", "advice"}},
		{name: "DANE failure", url: check("mismatch.test"), width: 1280, shot: "check-dane-fail.png",
			verdict: "fail", action: "Defer", code: "4.7.323",
			want: []string{"Defer: mail to mismatch.test", "4.7.323 tlsa-invalid", "no usable TLSA record matches", "Delivery path", "What to do",
				"publish this DANE-EE record", fix, "MX 10 mx.mismatch.test: not usable"},
			failed:   []string{"mx.mismatch.test", "4.7.323"},
			sections: []string{"verdict", "path", "advice"}},
		{name: "DNSSEC bogus", url: check("expired-rrsig.test"), width: 1280, shot: "check-bogus.png",
			verdict: "fail", action: "Defer", code: "4.7.324",
			want: []string{"Defer: mail to expired-rrsig.test", "4.7.324 dnssec-invalid", "bogus", "Delivery path", "What to do",
				"Re-sign the zone", "DNSSEC", "RRSIG expired in zone expired-rrsig.test"},
			failed:   []string{"expired-rrsig.test", "bogus"},
			sections: []string{"verdict", "path", "advice", "dnssec"}},
		{name: "phone", url: check("mismatch.test"), width: 390, mobile: true, shot: "check-phone.png",
			verdict: "fail", action: "Defer", code: "4.7.323",
			want:     []string{"Defer: mail to mismatch.test", "4.7.323 tlsa-invalid", "What to do", "publish this DANE-EE record", fix},
			failed:   []string{"mx.mismatch.test", "4.7.323"},
			sections: []string{"verdict", "path", "advice"}},
	}
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			tb := newTab(t, bctx)
			csp := tb.load(t, p.url, p.width, p.mobile)
			if !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("Content-Security-Policy %q, want default-src 'none'", csp)
			}
			for _, id := range p.sections {
				if !eval[bool](t, tb, `(document.getElementById("`+id+`") || {checkVisibility: () => false}).checkVisibility()`) {
					t.Errorf("section #%s is not shown", id)
				}
			}
			text := tb.text(t)
			if missing := notInOrder(text, p.want); missing != "" {
				t.Errorf("the page does not read %q (after the phrases before it in %q):\n%s", missing, p.want, text)
			}
			if got := eval[string](t, tb, `document.querySelector("#verdict").className`); !slices.Contains(strings.Fields(got), p.verdict) {
				t.Errorf("verdict box class %q, want %q", got, p.verdict)
			}
			if got := eval[string](t, tb, `document.querySelector("#verdict .action").innerText`); got != p.action {
				t.Errorf("action %q, want %q", got, p.action)
			}
			if got := eval[string](t, tb, `(document.querySelector("#verdict code.code") || {innerText: ""}).innerText`); got != p.code {
				t.Errorf("code %q, want %q", got, p.code)
			}

			// The failing steps of the picture as shown at this width
			// (a wide and a tall drawing, one of them hidden): drawn as
			// failing, and named in words (labels, data-state) as well
			// as by colour.
			failing := eval[[]string](t, tb, `Array.from(document.querySelectorAll("svg.path .step.fail")).filter(e => e.checkVisibility()).map(e => e.getAttribute("aria-label") + " [" + e.dataset.state + "]")`)
			if len(p.failed) == 0 && len(failing) > 0 {
				t.Errorf("steps drawn as failing on a passing page: %q", failing)
			}
			for _, w := range p.failed {
				if !strings.Contains(strings.Join(failing, "\n"), w) {
					t.Errorf("no failing step shown names %q; failing steps shown: %q", w, failing)
				}
			}
			if len(p.failed) > 0 && !strings.Contains(strings.Join(failing, "\n"), "[fail]") {
				t.Errorf("failing steps %q: none says fail in words (data-state)", failing)
			}
			if p.mobile {
				// Readable on a phone: nothing wider than the screen
				// (wide tables scroll inside their own box).
				if w := eval[int](t, tb, `document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
					t.Errorf("the page is %d px wider than a %d px screen", w, p.width)
				}
			}
			tb.screenshot(t, shots, p.shot, p.width)
			tb.checkQuiet(t, p.url)
		})
	}

	// What a domain's owner controls never runs: markup in the domain
	// typed or linked, or in a certificate's names, shows as text.
	hostile := []struct {
		name string
		url  string
		// want are the strings that must show as text, in order.
		want []string
		// field is what the domain field must hold ("" for the domain).
		field string
	}{
		{name: "markup in the domain", url: check(hostileDomain), field: hostileDomain,
			want: []string{"400 Bad Request", "invalid domain", `"<script>window.` + injected}},
		{name: "markup in certificate names", url: check("hostile-markup.test"), field: "hostile-markup.test",
			// A subject is shown as a distinguished name (RFC 4514
			// escapes), a DNS name as it is.
			want: []string{"Deliver: mail to hostile-markup.test", (&pkix.Name{CommonName: hostileCN}).String(), hostileSAN}},
	}
	for _, h := range hostile {
		t.Run(h.name, func(t *testing.T) {
			tb := newTab(t, bctx)
			tb.load(t, h.url, 1280, false)
			text := tb.text(t)
			if missing := notInOrder(text, h.want); missing != "" {
				t.Errorf("the page does not show %q as text:\n%s", missing, text)
			}
			if got := eval[string](t, tb, `document.getElementById("domain").value`); got != h.field {
				t.Errorf("the domain field holds %q, want %q", got, h.field)
			}
			if got := eval[string](t, tb, "typeof window."+injected); got != "undefined" {
				t.Errorf("window.%s is %s: injected script ran", injected, got)
			}
			if n := eval[int](t, tb, `document.querySelectorAll("script, main img, iframe, object, embed").length`); n != 0 {
				t.Errorf("%d script, img, iframe, object or embed elements in the page; want none", n)
			}
			tb.checkQuiet(t, h.url)
		})
	}

	// A person types a domain into the form, lands on its page's stable
	// address, and re-checks it past the cache; a second re-check at
	// once meets daned's default --http-recheck-limit (one in 10 s).
	t.Run("form and re-check", func(t *testing.T) {
		tb := newTab(t, bctx)
		tb.load(t, base, 1280, false)
		if err := chromedp.Do(tb.ctx, chromedp.SendKeys(chromedp.ID("domain"), "EE-SPKI.test")); err != nil {
			t.Fatal(err)
		}
		click := func(sel string) int64 {
			t.Helper()
			resp, err := chromedp.RunResponse(tb.ctx, chromedp.Click(chromedp.CSS(sel)))
			if err != nil {
				t.Fatalf("clicking %s: %v", sel, err)
			}
			return resp.Status
		}
		if st := click("form.check button"); st != 200 {
			t.Errorf("the form's answer: %d, want 200", st)
		}
		if loc, err := chromedp.Run(tb.ctx, chromedp.Location()); err != nil || loc != check("ee-spki.test") {
			t.Errorf("the form led to %q (%v), want %q", loc, err, check("ee-spki.test"))
		}
		if text := tb.text(t); !strings.Contains(text, "Deliver: mail to ee-spki.test") {
			t.Errorf("after the form:\n%s", text)
		}
		if st := click("form.recheck button"); st != 200 {
			t.Errorf("re-check: %d, want 200", st)
		}
		if text := tb.text(t); notInOrder(text, []string{"Deliver: mail to ee-spki.test", "checked now"}) != "" || strings.Contains(text, "from daned's cache") {
			t.Errorf("after a re-check the page does not say it checked now:\n%s", text)
		}
		if st := click("form.recheck button"); st != 429 {
			t.Errorf("a second re-check at once: %d, want 429", st)
		}
		if text := tb.text(t); !strings.Contains(text, "rate limit exceeded") {
			t.Errorf("the second re-check's page does not say why it was refused:\n%s", text)
		}
		tb.checkQuiet(t, base+"check")
	})

	// The control: markup put into the page after the fact (as a flaw
	// in escaping would) is refused by the Content Security Policy, and
	// the refusal is seen, so the clean consoles above mean something.
	t.Run("controls: CSP refusal and dialog seen", func(t *testing.T) {
		tb := newTab(t, bctx)
		tb.load(t, check("ee-spki.test"), 1280, false)
		eval[chromedp.Void](t, tb, `document.body.insertAdjacentHTML("beforeend", '<img src="/no-such-image" onerror="window.`+injected+`=1">')`)
		m := tb.waitConsole(t, "Content Security Policy")
		t.Logf("seen: %s", m)
		if got := eval[string](t, tb, "typeof window."+injected); got != "undefined" {
			t.Errorf("window.%s is %s: the inline handler ran", injected, got)
		}
		// And a dialog would be seen: the test's own alert (run through
		// DevTools, which the page's policy does not govern) is recorded
		// and dismissed, so that it cannot block the tab.
		eval[chromedp.Void](t, tb, `alert("control")`)
		if _, dialogs := tb.seen(); !slices.Equal(dialogs, []string{"alert: control"}) {
			t.Errorf("dialogs seen: %q, want the control alert", dialogs)
		}
	})
	t.Logf("browser test took %v", time.Since(start).Round(time.Millisecond))
}
