// Package soak runs daned as a service (its caches on, real gRPC on
// loopback) against the test world, with a fault-injecting DNS proxy
// (internal/faultdns) between daned and the world's Unbound. It is the
// harness of the hostile-destination and DNS-fault tests and of the
// bounded soak (`make soak`, TestSoak). It is for tests only.
package soak

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/daned/daned/internal/config"
	"github.com/daned/daned/internal/danedtest"
	"github.com/daned/daned/internal/faultdns"
	"github.com/daned/daned/internal/testworld"
	danev1 "github.com/daned/daned/proto/dane/v1"
	"github.com/daned/daned/server"
)

// Options shape the environment; zero values are the defaults noted.
type Options struct {
	// Scenarios and Extra are passed to testworld.Options as they are.
	Scenarios []testworld.ScenarioSpec
	Extra     []testworld.ScenarioSpec
	// FailureTTL is daned's --failure-ttl; 0 means 2s.
	FailureTTL time.Duration
	// ResolverTimeout is --resolver-timeout; 0 means 500ms.
	ResolverTimeout time.Duration
	// ProbeStepTimeout and ProbeTimeout are --probe-step-timeout and
	// --probe-timeout; 0 means 2s and 6s.
	ProbeStepTimeout, ProbeTimeout time.Duration
	// ValidateTimeout is --validate-timeout; 0 means 20s.
	ValidateTimeout time.Duration
}

// Env is a running world, its Unbound, the fault proxy in front of it,
// and daned serving gRPC through that proxy.
type Env struct {
	World  *testworld.World
	Proxy  *faultdns.Proxy
	Built  *config.Built
	Client danev1.DaneServiceClient
	Config config.EngineFlags
	// Addr is daned's gRPC address.
	Addr string
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Start starts everything and stops it with t.Cleanup. It fails the test
// (never skips) when Unbound is missing.
func Start(t testing.TB, o Options) *Env {
	t.Helper()
	w := testworld.StartT(t, testworld.Options{Scenarios: o.Scenarios, Extra: o.Extra})
	u := testworld.StartUnboundT(t, w)
	px, err := faultdns.Start(u.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = px.Close() })
	ec := config.EngineFlags{
		Resolver:         px.Addr(),
		ResolverTimeout:  orDefault(o.ResolverTimeout, 500*time.Millisecond),
		HeloName:         "daned.test",
		TLSMinVersion:    "1.2",
		ProbePort:        w.SMTPPort(),
		ProbeTimeout:     orDefault(o.ProbeTimeout, 6*time.Second),
		ProbeStepTimeout: orDefault(o.ProbeStepTimeout, 2*time.Second),
		ProbeAllow:       w.ProbeAllow(),
		ProbeConcurrency: 64,
		InsecureMXPolicy: "dane",
		MaxMXHosts:       10,
		FailureTTL:       orDefault(o.FailureTTL, 2*time.Second),
		ValidateTimeout:  orDefault(o.ValidateTimeout, 20*time.Second),
		CacheSize:        100000,
		CacheMaxTTL:      time.Hour,
		ProbeCacheTTL:    10 * time.Minute,
	}
	built, err := ec.BuildService()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = built.Close() })
	srv, err := server.New(server.Config{Verdicts: built.Verdicts, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	conn := danedtest.Serve(t, srv)
	return &Env{World: w, Proxy: px, Built: built, Client: danev1.NewDaneServiceClient(conn), Config: ec, Addr: conn.Target()}
}

// Validate asks daned about domain under a deadline and returns the
// response, the error and how long the call took.
func (e *Env) Validate(domain string, policyOnly bool, deadline time.Duration) (*danev1.ValidateResponse, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	r, err := e.Client.Validate(ctx, &danev1.ValidateRequest{Domain: domain, PolicyOnly: policyOnly})
	return r, time.Since(start), err
}

// DANEDomain is a scenario "<name>.test" with one MX host whose
// self-signed key a valid 3 1 1 record pins: daned must DELIVER it.
func DANEDomain(name string) testworld.ScenarioSpec {
	return testworld.ScenarioSpec{Name: name, Description: "valid 3 1 1 (fault-test domain)", RFC: "RFC 7672 §3.1.1", Expect: "pass (dane-ee)",
		Hosts: []testworld.HostSpec{{Name: "mx", TLSA: []testworld.TLSASpec{{Usage: 3, Selector: 1, MatchingType: 1}}}}}
}
