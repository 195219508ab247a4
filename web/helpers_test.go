package web

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/daned/daned/cache"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/internal/danedtest"
)

// quiet is a logger for tests.
func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// results is an upstream of the decision layer that answers results
// built by hand, for the pages the test world cannot produce (hostile
// names, fields and data) and the limits, which need no world. A domain
// it does not know blocks until the test ends (the decision layer runs
// validations without the request's deadline: the engine has its own).
type results struct {
	byDomain map[string]*engine.Result
	anyName  bool   // answer a passing verdict for any other domain
	failing  string // a domain whose validation fails inside daned
	release  chan struct{}
	calls    atomic.Int64
	fresh    atomic.Int64 // calls with FreshDNS or FreshProbes
}

// newResults returns an upstream answering rs, each for its Domain.
func newResults(t testing.TB, rs ...*engine.Result) *results {
	t.Helper()
	f := &results{byDomain: map[string]*engine.Result{}, release: make(chan struct{})}
	for _, r := range rs {
		f.byDomain[r.Domain] = r
	}
	t.Cleanup(func() { close(f.release) })
	return f
}

func (f *results) Validate(ctx context.Context, domain string, opts engine.Options) (*engine.Result, error) {
	f.calls.Add(1)
	if opts.FreshDNS || opts.FreshProbes {
		f.fresh.Add(1)
	}
	if r, ok := f.byDomain[domain]; ok {
		c := *r
		return &c, nil
	}
	if domain == f.failing {
		return nil, errors.New("resolver exploded with secrets")
	}
	if f.anyName {
		return delivered(domain), nil
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-f.release:
		return nil, errors.New("the test ended")
	}
}

// serve puts h on a loopback listener until the test ends.
func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// newHandler returns a handler over a decision layer of up.
func newHandler(t testing.TB, up cache.Engine, cfg Config) *Handler {
	t.Helper()
	if cfg.Validator == nil {
		cfg.Validator = danedtest.Verdicts(t, up, 100)
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet()
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// client follows no redirects, so that a test sees them.
var client = &http.Client{
	Timeout:       2 * time.Minute, // a hang guard, never reached by a passing test
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// response is what a test reads of an answer.
type response struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, method, u, ctype string, body io.Reader, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func get(t *testing.T, u string) response { t.Helper(); return do(t, http.MethodGet, u, "", nil) }

func postForm(t *testing.T, u string, form url.Values, hdr ...string) response {
	t.Helper()
	return do(t, http.MethodPost, u, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), hdr...)
}

// checkPage fetches a domain's page.
func checkPage(t *testing.T, base, domain string) response {
	t.Helper()
	return get(t, base+"/check?"+url.Values{"domain": {domain}}.Encode())
}

// parsed is a page as a browser builds it.
type parsed struct{ root *html.Node }

func parse(t testing.TB, body string) parsed {
	t.Helper()
	n, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return parsed{n}
}

// walk calls f for every element.
func (p parsed) walk(f func(n *html.Node)) {
	var rec func(n *html.Node)
	rec = func(n *html.Node) {
		if n.Type == html.ElementNode {
			f(n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			rec(c)
		}
	}
	rec(p.root)
}

func attr(n *html.Node, name string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

func hasClass(n *html.Node, class string) bool {
	v, _ := attr(n, "class")
	for _, c := range strings.Fields(v) {
		if c == class {
			return true
		}
	}
	return false
}

// byID returns the element with the id, or nil.
func (p parsed) byID(id string) *html.Node {
	var found *html.Node
	p.walk(func(n *html.Node) {
		if v, ok := attr(n, "id"); ok && v == id && found == nil {
			found = n
		}
	})
	return found
}

// all returns the elements f accepts, in document order.
func (p parsed) all(f func(n *html.Node) bool) []*html.Node {
	var out []*html.Node
	p.walk(func(n *html.Node) {
		if f(n) {
			out = append(out, n)
		}
	})
	return out
}

// text is the visible text of an element and its children, spaces
// collapsed.
func text(n *html.Node) string {
	var b bytes.Buffer
	var rec func(n *html.Node)
	rec = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			rec(c)
		}
	}
	rec(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// assertInert fails unless the page runs nothing and styles nothing
// inline: no script element, no event handler attribute, no style
// element or attribute, no javascript: address, no iframe, object or
// embed.
func assertInert(t testing.TB, p parsed) {
	t.Helper()
	p.walk(func(n *html.Node) {
		switch n.Data {
		case "script", "style", "iframe", "object", "embed", "img", "base", "meta":
			if n.Data == "meta" {
				if _, ok := attr(n, "http-equiv"); ok {
					t.Errorf("page has a <meta http-equiv>")
				}
				return
			}
			t.Errorf("page has a <%s> element", n.Data)
		}
		for _, a := range n.Attr {
			k := strings.ToLower(a.Key)
			if strings.HasPrefix(k, "on") || k == "style" || k == "srcdoc" {
				t.Errorf("<%s> has attribute %s=%q", n.Data, a.Key, a.Val)
			}
			if (k == "href" || k == "src" || k == "action" || k == "xlink:href" || k == "formaction") &&
				strings.Contains(strings.ToLower(strings.TrimSpace(a.Val)), "javascript:") {
				t.Errorf("<%s %s=%q>", n.Data, a.Key, a.Val)
			}
		}
	})
}

// assertSecurityHeaders fails unless a response carries the headers every
// answer must.
func assertSecurityHeaders(t *testing.T, r response) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "same-origin",
	}
	for k, v := range want {
		if got := r.header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
}
