// Package danedtest runs daned for tests of its clients: the loopback
// DNSSEC test world, a real Unbound validating it, and daned's gRPC
// server on a loopback port, all stopped with t.Cleanup. It is the
// server/e2e_test.go setup, shared by the tests of clients/ and
// examples/. It is not for production use.
package danedtest

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/daned/daned/internal/config"
	"github.com/daned/daned/internal/testworld"
	"github.com/daned/daned/server"
)

// Env is a running world and the daned serving verdicts about it.
type Env struct {
	World *testworld.World
	// Addr is daned's gRPC address, "127.0.0.1:port" (plaintext).
	Addr string
}

// Start starts the world, Unbound and daned. It fails the test (never
// skips) when Unbound is missing.
func Start(t testing.TB) *Env {
	t.Helper()
	w := testworld.StartT(t, testworld.Options{})
	u := testworld.StartUnboundT(t, w)
	ec := config.Engine{
		Resolver:         u.Addr(),
		ResolverTimeout:  2 * time.Second,
		HeloName:         "daned.test",
		TLSMinVersion:    "1.2",
		ProbePort:        w.SMTPPort(),
		ProbeTimeout:     10 * time.Second,
		ProbeStepTimeout: 3 * time.Second,
		ProbeAllow:       w.ProbeAllow(),
		ProbeConcurrency: 32,
		InsecureMXPolicy: "dane",
		MaxMXHosts:       10,
		FailureTTL:       30 * time.Second,
		ValidateTimeout:  30 * time.Second,
	}
	built, err := ec.Build()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = built.Close() })
	srv, err := server.New(server.Config{Engine: built.Engine, CacheSize: 1000, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	srv.Register(g)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	return &Env{World: w, Addr: lis.Addr().String()}
}
