// Package danedtest serves daned over gRPC on loopback for tests: Start
// runs the loopback DNSSEC test world, a real Unbound validating it and
// daned's gRPC server (all stopped with t.Cleanup), Serve puts a server
// the test built on a loopback listener, and EngineConfig holds the
// engine flags of such tests. The tests of server/, cmd/danectl,
// clients/, examples/ and internal/soak share it. It is test support: no
// production package imports it.
package danedtest

import (
	"github.com/daned/daned/cache"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

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

// EngineConfig is the engine configuration of the end-to-end tests for a
// world: the given upstream resolver ("" leaves Resolver for the caller
// to set), probes allowed into the world's loopback block, and deadlines
// short enough for tests.
func EngineConfig(w *testworld.World, resolverAddr string) config.EngineFlags {
	return config.EngineFlags{
		Resolver:         resolverAddr,
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
}

// Serve serves srv over gRPC on a loopback listener until the test ends
// and returns a client connection to it.
func Serve(t testing.TB, srv *server.Server, opts ...grpc.ServerOption) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(opts...)
	srv.Register(g)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// Start starts the world, Unbound and daned (caching, as in production).
// It fails the test (never skips) when Unbound is missing.
func Start(t testing.TB) *Env {
	t.Helper()
	w := testworld.StartT(t, testworld.Options{})
	u := testworld.StartUnboundT(t, w)
	ec := EngineConfig(w, u.Addr())
	built, err := ec.Build()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = built.Close() })
	srv, err := server.New(server.Config{Verdicts: Verdicts(t, built.Engine, 1000), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return &Env{World: w, Addr: Serve(t, srv).Target()}
}

// StartSTS is Start for the MTA-STS scenarios (testworld.STSScenarios):
// daned is built as a service (caches, the MTA-STS manager with its state
// store in a temporary directory), fetches policies from the world's
// policy hosts, and trusts the world's CA as its WebPKI.
func StartSTS(t testing.TB) *Env {
	t.Helper()
	w := testworld.StartT(t, testworld.Options{Scenarios: testworld.STSScenarios()})
	u := testworld.StartUnboundT(t, w)
	ec := EngineConfig(w, u.Addr())
	ec.MTASTS, ec.MTASTSPort, ec.MTASTSFetchTimeout = true, w.HTTPSPort(), 10*time.Second
	ec.WebPKIRoots, ec.StateDir, ec.CacheSize = w.WebPKIRoots(), t.TempDir(), 1000
	ec.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	built, err := ec.BuildService()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = built.Close() })
	srv, err := server.New(server.Config{Verdicts: built.Verdicts, WebPKIRoots: w.WebPKIRoots(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return &Env{World: w, Addr: Serve(t, srv).Target()}
}

// Verdicts returns the decision layer over e with a verdict cache of size
// entries (0: none), closed when the test ends.
func Verdicts(t testing.TB, e cache.Engine, size int) *cache.Validator {
	t.Helper()
	v, err := cache.NewValidator(cache.ValidatorConfig{Upstream: e, Size: size, NoCache: size == 0,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}
