//go:build cgo

package resolver_test

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/daned/daned/internal/testworld"
	"github.com/daned/daned/resolver"
)

// validationQueries are the lookups daned makes for one domain with one
// MX host (ee-spki.test): MX, A, AAAA, TLSA.
var validationQueries = []struct {
	name  string
	qtype uint16
}{
	{"ee-spki.test", dns.TypeMX},
	{"mx.ee-spki.test", dns.TypeA},
	{"mx.ee-spki.test", dns.TypeAAAA},
	{"_25._tcp.mx.ee-spki.test", dns.TypeTLSA},
}

type lookuper interface {
	Lookup(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error)
}

func runValidationQueries(b *testing.B, r lookuper) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, q := range validationQueries {
		a, err := r.Lookup(ctx, q.name, q.qtype)
		if err != nil || a.Security != resolver.Secure {
			b.Fatalf("%s %s: %v %v", q.name, dns.TypeToString[q.qtype], a, err)
		}
	}
}

// BenchmarkLookup compares the DNS part of one validation in both
// modes. cold: a fresh validator per iteration (a new Unbound process, or
// a new libunbound context) that has only answered the root SOA, so
// "test." and the zone are fetched and validated; its start-up is not
// timed. cached: one warm
// validator; upstream mode still pays a loopback UDP exchange per query.
func BenchmarkLookup(b *testing.B) {
	w := testworld.StartT(b, testworld.Options{})
	cfg := embeddedConfig(b, w)

	b.Run("upstream/cold", func(b *testing.B) {
		dir := b.TempDir()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			u, err := testworld.StartUnbound(context.Background(), w, dir)
			if err != nil {
				b.Fatal(err)
			}
			r, err := resolver.New(resolver.Config{Server: u.Addr()})
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			runValidationQueries(b, r)
			b.StopTimer()
			u.Close()
		}
	})
	b.Run("embedded/cold", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			r, err := resolver.NewEmbedded(cfg)
			if err != nil {
				b.Fatal(err)
			}
			// As StartUnbound does before it returns: the context
			// starts, and the root is primed, untimed.
			if _, err := r.Lookup(context.Background(), ".", dns.TypeSOA); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			runValidationQueries(b, r)
			b.StopTimer()
			r.Close()
		}
	})
	b.Run("upstream/cached", func(b *testing.B) {
		u := testworld.StartUnboundT(b, w)
		r, err := resolver.New(resolver.Config{Server: u.Addr()})
		if err != nil {
			b.Fatal(err)
		}
		runValidationQueries(b, r)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			runValidationQueries(b, r)
		}
	})
	b.Run("embedded/cached", func(b *testing.B) {
		r := startEmbedded(b, cfg)
		runValidationQueries(b, r)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			runValidationQueries(b, r)
		}
	})
}
