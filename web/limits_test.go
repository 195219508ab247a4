package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/limit"
)

// assertJSONError fails unless r is a JSON error with the status and the
// gRPC code name.
func assertJSONError(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var e struct{ Code, Message string }
	if err := json.Unmarshal([]byte(r.body), &e); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	if e.Code != code || e.Message == "" {
		t.Errorf("error %+v, want code %s and a message", e, code)
	}
	assertSecurityHeaders(t, r)
}

// delivered is a hand-built passing verdict.
func delivered(domain string) *engine.Result {
	return &engine.Result{
		Domain:    domain,
		Verdict:   dane.Verdict{Policy: dane.PolicyOpportunistic, Action: dane.ActionDeliver, Reason: dane.ReasonOK},
		MXState:   engine.DNSInsecure,
		CheckedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		TTL:       time.Hour,
		Hosts: []engine.Host{{Name: "mx." + domain, Preference: 10, MXState: engine.DNSInsecure, AddressState: engine.DNSInsecure,
			Policy: dane.PolicyOpportunistic, Reason: dane.ReasonOK, Usable: true,
			Addresses: []engine.Address{{IP: netip.MustParseAddr("192.0.2.1"), Reason: dane.ReasonOK, STARTTLSOffered: true, Matched: -1}}}},
	}
}

func buckets(t *testing.T, rate float64, burst int) *limit.Buckets {
	t.Helper()
	b, err := limit.New(limit.Config{Rate: rate, Burst: burst})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLimits checks the answers to requests the page refuses: each with
// its status, the JSON API's with its gRPC code name, all with the
// security headers.
func TestLimits(t *testing.T) {
	up := newResults(t, delivered("example.com"))
	up.failing = "broken.example"
	h := newHandler(t, up, Config{MaxBody: 1024, Timeout: 200 * time.Millisecond})
	base := serve(t, h).URL
	big := `{"domain":"example.com","x":"` + strings.Repeat("a", 2048) + `"}`
	tests := []struct {
		name   string
		method string
		path   string
		ctype  string
		body   string
		status int
		code   string // JSON error code; "" for a page
	}{
		{name: "json body too large", method: "POST", path: "/v1/validate", ctype: "application/json", body: big, status: 413, code: "INVALID_ARGUMENT"},
		{name: "form body too large", method: "POST", path: "/check", ctype: "application/x-www-form-urlencoded", body: "domain=example.com&x=" + strings.Repeat("a", 2048), status: 413},
		{name: "json wrong content type", method: "POST", path: "/v1/validate", ctype: "text/plain", body: `{"domain":"example.com"}`, status: 415, code: "INVALID_ARGUMENT"},
		{name: "form wrong content type", method: "POST", path: "/check", ctype: "application/json", body: `{"domain":"example.com"}`, status: 415},
		{name: "json not a request", method: "POST", path: "/v1/validate", ctype: "application/json", body: `{"domain":"example.com","colour":"red"}`, status: 400, code: "INVALID_ARGUMENT"},
		{name: "json bad domain", method: "GET", path: "/v1/validate?domain=" + url.QueryEscape("exa mple..com"), status: 400, code: "INVALID_ARGUMENT"},
		{name: "json ip address", method: "GET", path: "/v1/validate?domain=192.0.2.1", status: 400, code: "INVALID_ARGUMENT"},
		{name: "json no domain", method: "GET", path: "/v1/validate", status: 400, code: "INVALID_ARGUMENT"},
		{name: "json bad boolean", method: "GET", path: "/v1/validate?domain=example.com&bypass_cache=maybe", status: 400, code: "INVALID_ARGUMENT"},
		{name: "json method", method: "DELETE", path: "/v1/validate?domain=example.com", status: 405, code: "UNIMPLEMENTED"},
		{name: "json deadline", method: "GET", path: "/v1/validate?domain=slow.example", status: 504, code: "DEADLINE_EXCEEDED"},
		{name: "page bad domain", method: "GET", path: "/check?domain=" + url.QueryEscape("exa mple..com"), status: 400},
		{name: "page no domain", method: "GET", path: "/check", status: 400},
		{name: "page method", method: "PUT", path: "/check?domain=example.com", status: 405},
		{name: "page deadline", method: "GET", path: "/check?domain=slow.example", status: 504},
		{name: "json internal error", method: "GET", path: "/v1/validate?domain=broken.example", status: 500, code: "INTERNAL"},
		{name: "page internal error", method: "GET", path: "/check?domain=broken.example", status: 500},
		{name: "index method", method: "POST", path: "/", ctype: "application/x-www-form-urlencoded", status: 405},
		{name: "no such page", method: "GET", path: "/admin", status: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body *strings.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			var r response
			if body != nil {
				r = do(t, tt.method, base+tt.path, tt.ctype, body)
			} else {
				r = do(t, tt.method, base+tt.path, tt.ctype, nil)
			}
			if strings.Contains(r.body, "secrets") {
				t.Error("an internal cause reached the client")
			}
			if tt.code != "" {
				assertJSONError(t, r, tt.status, tt.code)
				return
			}
			if r.status != tt.status {
				t.Errorf("status %d, want %d:\n%s", r.status, tt.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			assertSecurityHeaders(t, r)
			p := parse(t, r.body)
			assertInert(t, p)
			if tt.status == 405 && r.header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
			if !strings.Contains(r.body, `class="error"`) {
				t.Error("not an error page")
			}
		})
	}
}

// TestRateLimits checks that checks and re-checks are limited per client
// address, each by its own bucket, and that a refused request costs no
// validation.
func TestRateLimits(t *testing.T) {
	up := newResults(t, delivered("example.com"))
	h := newHandler(t, up, Config{Limiter: buckets(t, 0.001, 3), RecheckLimiter: buckets(t, 0.001, 1)})
	base := serve(t, h).URL
	form := url.Values{"domain": {"example.com"}}

	// The first re-check passes (one token of each bucket), the second
	// is refused by the re-check bucket.
	if r := postForm(t, base+"/check", form); r.status != http.StatusOK {
		t.Fatalf("first re-check: status %d", r.status)
	}
	r := postForm(t, base+"/check", form)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("second re-check: status %d, Retry-After %q, want 429", r.status, r.header.Get("Retry-After"))
	}
	if !strings.Contains(r.body, "re-checks are limited") {
		t.Errorf("the 429 page does not say which limit:\n%s", r.body)
	}
	assertInert(t, parse(t, r.body))
	assertJSONError(t, get(t, base+"/v1/validate?domain=example.com&bypass_cache=true"), http.StatusTooManyRequests, "RESOURCE_EXHAUSTED")
	if n := up.fresh.Load(); n != 1 {
		t.Errorf("%d fresh validations, want 1: refused re-checks must not validate", n)
	}

	// Plain checks still have tokens: 3 in the bucket, 1 spent by the
	// re-check.
	for i := range 2 {
		if r := checkPage(t, base, "example.com"); r.status != http.StatusOK {
			t.Fatalf("check %d: status %d", i+1, r.status)
		}
	}
	if r := checkPage(t, base, "example.com"); r.status != http.StatusTooManyRequests {
		t.Errorf("fourth check: status %d, want 429", r.status)
	}
	assertJSONError(t, get(t, base+"/v1/validate?domain=example.com"), http.StatusTooManyRequests, "RESOURCE_EXHAUSTED")
	// The form and the assets are never limited.
	if r := get(t, base+"/"); r.status != http.StatusOK {
		t.Errorf("form: status %d", r.status)
	}
}

// TestCanonicalURL checks that every spelling of a domain leads to one
// address, and that a check of an invalid name says why.
func TestCanonicalURL(t *testing.T) {
	up := newResults(t, delivered("xn--bcher-kva.example"))
	base := serve(t, newHandler(t, up, Config{})).URL
	for _, in := range []string{"Bücher.Example.", "XN--BCHER-KVA.example", " xn--bcher-kva.example. "} {
		r := checkPage(t, base, in)
		if r.status != http.StatusFound || r.header.Get("Location") != "/check?domain=xn--bcher-kva.example" {
			t.Errorf("%q: status %d, Location %q", in, r.status, r.header.Get("Location"))
		}
	}
	r := checkPage(t, base, "xn--bcher-kva.example")
	if r.status != http.StatusOK {
		t.Errorf("canonical address: status %d", r.status)
	}
	if hd := do(t, http.MethodHead, base+"/check?domain=xn--bcher-kva.example", "", nil); hd.status != http.StatusOK || hd.body != "" || hd.header.Get("Content-Length") == "0" {
		t.Errorf("HEAD: status %d, body %d bytes, Content-Length %q", hd.status, len(hd.body), hd.header.Get("Content-Length"))
	}
	if h1 := parse(t, r.body).byID("verdict-title"); h1 == nil || !strings.Contains(text(h1), "xn--bcher-kva.example (bücher.example)") {
		t.Error("the heading does not show the name in Unicode beside its A-labels")
	}
	r = checkPage(t, base, "-bad-.example")
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "invalid domain") {
		t.Errorf("status %d, body lacks the reason:\n%s", r.status, r.body)
	}
}

// TestDraining checks that a handler taken out of service answers checks
// with 503 and still serves the form.
func TestDraining(t *testing.T) {
	up := newResults(t, delivered("example.com"))
	h := newHandler(t, up, Config{})
	base := serve(t, h).URL
	h.SetServing(false)
	if r := checkPage(t, base, "example.com"); r.status != http.StatusServiceUnavailable {
		t.Errorf("page: status %d, want 503", r.status)
	}
	assertJSONError(t, get(t, base+"/v1/validate?domain=example.com"), http.StatusServiceUnavailable, "UNAVAILABLE")
	if r := get(t, base+"/"); r.status != http.StatusOK {
		t.Errorf("form: status %d", r.status)
	}
	h.SetServing(true)
	if r := checkPage(t, base, "example.com"); r.status != http.StatusOK {
		t.Errorf("back in service: status %d", r.status)
	}
}

// TestStatic checks the embedded stylesheet: linked from the page, served
// with long-lived cache headers and an ETag that revalidates.
func TestStatic(t *testing.T) {
	up := newResults(t)
	base := serve(t, newHandler(t, up, Config{})).URL
	page := get(t, base+"/")
	var href, icon string
	parse(t, page.body).walk(func(n *html.Node) {
		if n.Data == "link" {
			switch rel, _ := attr(n, "rel"); rel {
			case "stylesheet":
				href, _ = attr(n, "href")
			case "icon":
				icon, _ = attr(n, "href")
			}
		}
	})
	if ir := get(t, base+icon); !strings.HasPrefix(icon, "/static/icon.svg?v=") || ir.status != http.StatusOK || ir.header.Get("Content-Type") != "image/svg+xml" {
		t.Errorf("icon %q: status %d, type %q", icon, ir.status, ir.header.Get("Content-Type"))
	}
	if !strings.HasPrefix(href, "/static/style.css?v=") {
		t.Fatalf("stylesheet link %q", href)
	}
	css := get(t, base+href)
	r := css
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "text/css; charset=utf-8" || !strings.Contains(r.body, "svg.path") {
		t.Fatalf("status %d, type %q", r.status, r.header.Get("Content-Type"))
	}
	if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "max-age=31536000") {
		t.Errorf("Cache-Control %q", cc)
	}
	assertSecurityHeaders(t, r)
	etag := r.header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if r := do(t, http.MethodGet, base+href, "", nil, "If-None-Match", etag); r.status != http.StatusNotModified {
		t.Errorf("revalidation: status %d, want 304", r.status)
	}
	if r := get(t, base+"/static/nothing.js"); r.status != http.StatusNotFound {
		t.Errorf("missing asset: status %d", r.status)
	}
	if strings.Contains(css.body, "expression(") || strings.Contains(css.body, "url(") || strings.Contains(css.body, "@import") {
		t.Error("the stylesheet loads or computes something")
	}
}

// TestSlowTLSRPT checks that a TLS-RPT lookup that never answers costs the
// page no more than its bound, and that the page says the lookup failed.
func TestSlowTLSRPT(t *testing.T) {
	up := newResults(t, delivered("example.com"))
	slow := func(ctx context.Context, _ string) ([]string, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	base := serve(t, newHandler(t, up, Config{TLSRPT: slow, Timeout: 300 * time.Millisecond})).URL
	r := checkPage(t, base, "example.com")
	if r.status != http.StatusOK {
		t.Fatalf("status %d:\n%s", r.status, r.body)
	}
	pol := parse(t, r.body).byID("policies")
	if pol == nil || !strings.Contains(text(pol), "TLS-RPT: ✗ the lookup failed") || !strings.Contains(text(pol), "deadline exceeded") {
		t.Errorf("the page does not say the TLS-RPT lookup failed")
	}
}
