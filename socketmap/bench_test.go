package socketmap_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/socketmap"
)

// cached answers at once with one fixed result, like a verdict cache hit.
type cached struct{ res *engine.Result }

func (c cached) Validate(context.Context, string, engine.Options) (*engine.Result, error) {
	return c.res, nil
}

// BenchmarkQuery is one request and its reply over loopback TCP with the
// answer already known: the socketmap door's own cost plus the network.
// Run with -cpu to vary the number of connections (one per goroutine).
func BenchmarkQuery(b *testing.B) {
	res := decided("ee.example", engine.DNSSecure, host("mx.ee.example", dane.PolicyDANERequired, engine.DNSSecure))
	s, err := socketmap.New(socketmap.Config{Validator: cached{res}, Logger: slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve(ln)
	defer s.Close()
	req := socketmap.AppendNetstring(nil, "QUERY ee.example")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Error(err)
			return
		}
		defer nc.Close()
		rd := bufio.NewReader(nc)
		var buf []byte
		for pb.Next() {
			if _, err := nc.Write(req); err != nil {
				b.Error(err)
				return
			}
			p, err := socketmap.ReadNetstring(rd, buf, socketmap.MaxReply)
			if err != nil {
				b.Error(err)
				return
			}
			buf = p
		}
	})
}
