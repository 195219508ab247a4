package cache_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/daned/daned/cache"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/internal/redistest"
	"github.com/daned/daned/internal/testcert"
	"github.com/daned/daned/shared"
)

// benchHosts are the hosts of a typical verdict: two MX hosts of two
// addresses each, every address with its certificate, so that a shared
// entry is as big as a real one (a few KiB).
func benchHosts(b *testing.B) []engine.Host {
	now := time.Now()
	var hosts []engine.Host
	for i := range 2 {
		c := testcert.SelfSigned(b, fmt.Sprintf("mx%d.example.com", i), now.Add(-time.Hour), now.Add(24*time.Hour))
		h := engine.Host{Name: fmt.Sprintf("mx%d.example.com", i), Preference: uint16(10 * i)}
		for j := range 2 {
			h.Addresses = append(h.Addresses, engine.Address{IP: netip.AddrFrom4([4]byte{192, 0, 2, byte(2*i + j)}),
				STARTTLSOffered: true, Chain: []*x509.Certificate{c.Cert}, Authenticated: true})
		}
		hosts = append(hosts, h)
	}
	return hosts
}

func benchStore(b *testing.B, srv *redistest.Server) *shared.Store {
	st, err := shared.New(shared.Config{URL: srv.URL(), Secret: testSecret, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// BenchmarkSharedHit: a local miss answered from the shared store (one
// GET, HMAC check, decoding), against a real redis-server on loopback.
func BenchmarkSharedHit(b *testing.B) {
	srv := redistest.Start(b, redistest.Config{})
	hosts := benchHosts(b)
	writer := newBenchValidator(b, benchStore(b, srv), hosts)
	reader := newBenchValidator(b, benchStore(b, srv), hosts)
	ctx := context.Background()
	domains := make([]string, b.N)
	for i := range domains {
		domains[i] = fmt.Sprintf("d%d.example", i)
		if _, err := writer.Decide(ctx, domains[i], engine.Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		d, err := reader.Decide(ctx, domains[i], engine.Options{})
		if err != nil || d.Result.Domain != domains[i] {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if v := reader.Stats().Validations; v != 0 {
		b.Fatalf("%d validations, want every verdict from the store", v)
	}
}

// BenchmarkLocalHit: a verdict in the local cache, with and without a
// shared store configured: the store is not on the path of a hit.
func BenchmarkLocalHit(b *testing.B) {
	srv := redistest.Start(b, redistest.Config{})
	hosts := benchHosts(b)
	for _, bc := range []struct {
		name  string
		store bool
	}{{"alone", false}, {"shared", true}} {
		b.Run(bc.name, func(b *testing.B) {
			var st cache.SharedStore
			if bc.store {
				st = benchStore(b, srv)
			}
			v := newBenchValidator(b, st, hosts)
			ctx := context.Background()
			if _, err := v.Decide(ctx, "example.com", engine.Options{}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := v.Decide(ctx, "example.com", engine.Options{}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func newBenchValidator(b *testing.B, st cache.SharedStore, hosts []engine.Host) *cache.Validator {
	e := &fakeEngine{ttl: time.Hour, now: time.Now, hosts: hosts}
	v, err := cache.NewValidator(cache.ValidatorConfig{Upstream: e, Size: 1 << 20, Shared: st,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(v.Close)
	return v
}

// BenchmarkSharedDecode: decoding the benchmarks' verdict (what a shared
// hit adds to the GET besides the HMAC check).
func BenchmarkSharedDecode(b *testing.B) {
	r := &engine.Result{Domain: "example.com", TTL: time.Hour, Hosts: benchHosts(b)}
	p, err := engine.MarshalResult(r)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(p)), "bytes")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := engine.UnmarshalResult(p); err != nil {
			b.Fatal(err)
		}
	}
}
