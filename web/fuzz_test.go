package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/daned/daned/flight"
)

// FuzzPage renders a verdict whose strings from the DNS, a certificate
// and a policy are arbitrary, and checks a page for an arbitrary domain
// query: the page never runs or styles anything, the handler never
// panics, and an arbitrary query answers the page, a redirect or a 400.
func FuzzPage(f *testing.F) {
	f.Add(hostile, "example.com")
	f.Add("</title><script>x</script>", "<script>alert(1)</script>")
	f.Add("]]><!--", "exa mple.com")
	f.Add("\x00\xff\u2028", "Bücher.example.")
	f.Add(`" onmouseover="x`, "a..b")
	f.Add("</title>", "example.com") // a piece of the page's own markup
	res := hostileResult(f)
	up := newResults(f)
	up.anyName = true
	h := newHandler(f, up, Config{})
	f.Fuzz(func(t *testing.T, s, query string) {
		// The fuzzed text goes in between an opening and a closing mark
		// the page never holds, so that finding it raw is finding one
		// field unescaped, and never a piece of the page's own markup
		// such as "</title>", nor markup between two fields.
		const open, closing = "\u27e6", "\u27e7"
		marked := !strings.Contains(s, open) && !strings.Contains(s, closing)
		if marked {
			s = open + s + closing
		}
		r := *res
		hs := append(r.Hosts[:0:0], r.Hosts...)
		hs[0].Detail, hs[0].Name, hs[0].CNAMEChain, hs[0].ReferenceNames = s, s, []string{s}, []string{s}
		r.Hosts = hs
		r.PolicySourceDetail, r.Verdict.Text = s, s
		rp := newReport(&r, flight.Fresh, r.TTL, r.CheckedAt)
		rp.Report = newTLSRPTView("example.com", []string{"v=TLSRPTv1; rua=mailto:" + s}, nil)
		var buf bytes.Buffer
		if err := pages.ExecuteTemplate(&buf, "layout", &pageData{Report: rp, Query: s}); err != nil {
			t.Fatal(err)
		}
		assertInert(t, parse(t, buf.String()))
		if marked && strings.Contains(s, "<") && strings.Contains(buf.String(), s) {
			t.Errorf("%q reached the page unescaped", s)
		}

		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/check?"+url.Values{"domain": {query}}.Encode(), nil))
		switch rec.Code {
		case http.StatusOK, http.StatusFound, http.StatusBadRequest:
		default:
			t.Fatalf("domain %q: status %d", query, rec.Code)
		}
		if rec.Code != http.StatusFound {
			assertInert(t, parse(t, rec.Body.String()))
		}
	})
}

// FuzzAPI posts arbitrary bodies to the JSON API: it answers a verdict
// or a JSON error, never a crash or another status.
func FuzzAPI(f *testing.F) {
	f.Add(`{"domain":"example.com"}`)
	f.Add(`{"domain":"example.com","policyOnly":true,"bypass_cache":false}`)
	f.Add(`{"domain":1}`)
	f.Add(`{"domain":"a\u0000b"}`)
	f.Add(`[`)
	up := newResults(f)
	up.anyName = true
	h := newHandler(f, up, Config{MaxBody: 4096})
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/validate", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("not JSON: %q", rec.Body)
		}
	})
}
