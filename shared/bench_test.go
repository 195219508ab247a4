package shared_test

import (
	"context"
	"testing"
	"time"

	"github.com/daned/daned/internal/redistest"
	"github.com/daned/daned/shared"
)

// BenchmarkGet: one authenticated entry of a real verdict's size read
// from a redis-server on loopback: the floor under a shared hit.
func BenchmarkGet(b *testing.B) {
	srv := redistest.Start(b, redistest.Config{})
	s, err := shared.New(shared.Config{URL: srv.URL(), Secret: secret, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	ctx := context.Background()
	s.Put(ctx, "v:0:example.com", make([]byte, 4096), time.Now().Add(time.Hour))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, _, ok := s.Get(ctx, "v:0:example.com"); !ok {
			b.Fatal("miss")
		}
	}
}
