package web

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkCachedPage renders the page of a verdict the decision layer
// holds, as a second visitor of a domain's page gets it, and
// BenchmarkCachedJSON answers the same from the JSON API.
func BenchmarkCachedPage(b *testing.B) { benchCached(b, "/check?domain=hostile.example") }

func BenchmarkCachedJSON(b *testing.B) { benchCached(b, "/v1/validate?domain=hostile.example") }

func benchCached(b *testing.B, target string) {
	h := newHandler(b, newResults(b, hostileResult(b)), Config{Logger: quiet()})
	req := httptest.NewRequest(http.MethodGet, target, nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
