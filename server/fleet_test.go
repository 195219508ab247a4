package server_test

import (
	"context"
	"io"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/daned/daned/cache"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/internal/danedtest"
	"github.com/daned/daned/internal/testworld"
	"github.com/daned/daned/probe"
	danev1 "github.com/daned/daned/proto/dane/v1"
	"github.com/daned/daned/resolver"
	"github.com/daned/daned/server"
)

// counting wraps the real resolver and prober and counts what reaches
// the network.
type counting struct {
	mu      sync.Mutex
	queries map[string]int // "name/TYPE"
	probes  map[string]int // "addr|sni"
	res     *resolver.Resolver
	pr      *probe.Prober
}

func (c *counting) Lookup(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error) {
	c.mu.Lock()
	c.queries[name+"/"+strconv.Itoa(int(qtype))]++
	c.mu.Unlock()
	return c.res.Lookup(ctx, name, qtype)
}

type countingProber struct{ *counting }

func (c countingProber) Probe(ctx context.Context, addr netip.Addr, sni string) *probe.Result {
	c.mu.Lock()
	c.probes[addr.String()+"|"+sni]++
	c.mu.Unlock()
	return c.pr.Probe(ctx, addr, sni)
}

// fleet is daned with its caches over a real test world.
type fleet struct {
	cnt      *counting
	client   danev1.DaneServiceClient
	verdicts *cache.Validator
}

func startFleet(t *testing.T) *fleet {
	t.Helper()
	w := testworld.StartT(t, testworld.Options{})
	u := testworld.StartUnboundT(t, w)
	// Generous deadlines: 10,000 race-instrumented calls can starve the
	// loopback Unbound's answers for seconds on a loaded machine; what
	// this test counts is queries, not their speed.
	res, err := resolver.New(resolver.Config{Server: u.Addr(), Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	pr, err := probe.New(probe.Config{Port: w.SMTPPort(), HeloName: "fleet.test", StepTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cnt := &counting{queries: map[string]int{}, probes: map[string]int{}, res: res, pr: pr}
	dnsCache, err := cache.NewResolver(cache.ResolverConfig{Upstream: cnt, FetchTimeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	probeCache, err := cache.NewProber(cache.ProberConfig{Upstream: countingProber{cnt}})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Config{Resolver: dnsCache, Prober: probeCache, Targets: probe.TargetPolicy{Allow: w.ProbeAllow()}, Timeout: 4 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	v, err := cache.NewValidator(cache.ValidatorConfig{Upstream: eng, Size: 1000, DNS: dnsCache, Probes: probeCache})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	srv, err := server.New(server.Config{Verdicts: v})
	if err != nil {
		t.Fatal(err)
	}
	conn := danedtest.Serve(t, srv)
	return &fleet{cnt: cnt, client: danev1.NewDaneServiceClient(conn), verdicts: v}
}

// A fleet asking at once about the same destinations costs each
// destination one query per (name, type) and one probe per address.
func TestFleetCoalescing(t *testing.T) {
	f := startFleet(t)
	const n = 10000
	// Three request kinds at once: ee-spki.test in full, the same domain
	// policy-only (another verdict, the same DNS), and insecure-mx.test,
	// whose MX host is mx.ee-spki.test (the same host lookups and probe).
	reqs := []*danev1.ValidateRequest{
		{Domain: "ee-spki.test"}, {Domain: "ee-spki.test", PolicyOnly: true}, {Domain: "insecure-mx.test"},
	}
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := range n {
		wg.Go(func() {
			// A bound only a hang reaches: on a loaded machine 10,000
			// race-instrumented calls can take minutes.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			r, err := f.client.Validate(ctx, reqs[i%len(reqs)])
			switch {
			case err != nil:
				errs <- err.Error()
			case r.GetAction() != danev1.Action_ACTION_DELIVER:
				errs <- r.GetDomain() + ": " + r.GetStatusText()
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatalf("a request failed: %s", e)
	}
	f.cnt.mu.Lock()
	defer f.cnt.mu.Unlock()
	for k, c := range f.cnt.queries {
		if c != 1 {
			t.Errorf("%d upstream queries for %s, want 1", c, k)
		}
	}
	if len(f.cnt.queries) != 5 {
		t.Errorf("upstream queries %v, want the 5 (name, type) pairs: 2 MX, A, AAAA, TLSA", f.cnt.queries)
	}
	if len(f.cnt.probes) != 1 {
		t.Errorf("probes %v, want one address probed", f.cnt.probes)
	}
	for k, c := range f.cnt.probes {
		if c != 1 {
			t.Errorf("%d probes of %s, want 1", c, k)
		}
	}
	// One validation per request kind; every other request was a hit or
	// shared a validation.
	if st := f.verdicts.Stats(); st.Validations != uint64(len(reqs)) || st.Hits+st.Misses != n {
		t.Errorf("verdict stats %+v: want %d validations for %d requests of %d kinds", st, len(reqs), n, len(reqs))
	}
}

func TestInvalidateAndRemainingTTL(t *testing.T) {
	f := startFleet(t)
	ctx := context.Background()
	first, err := f.client.Validate(ctx, &danev1.ValidateRequest{Domain: "ee-spki.test"})
	if err != nil || first.GetFromCache() {
		t.Fatalf("first: %v %v", first, err)
	}
	second, err := f.client.Validate(ctx, &danev1.ValidateRequest{Domain: "ee-spki.test"})
	if err != nil || !second.GetFromCache() || second.GetTtl().AsDuration() > first.GetTtl().AsDuration() {
		t.Fatalf("second: from_cache=%v ttl %v after %v", second.GetFromCache(), second.GetTtl().AsDuration(), first.GetTtl().AsDuration())
	}
	inv, err := f.client.Invalidate(ctx, &danev1.InvalidateRequest{Domain: "ee-spki.test."})
	if err != nil {
		t.Fatal(err)
	}
	// The verdict, MX, A, AAAA, TLSA answers and the probe.
	if inv.GetRemoved() != 6 {
		t.Fatalf("Invalidate removed %d entries, want 6", inv.GetRemoved())
	}
	third, err := f.client.Validate(ctx, &danev1.ValidateRequest{Domain: "ee-spki.test"})
	if err != nil || third.GetFromCache() {
		t.Fatalf("third: from_cache=%v %v", third.GetFromCache(), err)
	}
	f.cnt.mu.Lock()
	defer f.cnt.mu.Unlock()
	if c := f.cnt.queries["ee-spki.test/15"]; c != 2 {
		t.Fatalf("MX queried %d times, want 2 (before and after Invalidate)", c)
	}
}

func TestValidateStream(t *testing.T) {
	f := startFleet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stream, err := f.client.ValidateStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{} // request id → domain, or "" for an invalid request
	domains := []string{"ee-spki.test", "mismatch.test", "nullmx.test", "bad..domain", "ta.test", "*.wild.test"}
	for i := range 60 {
		d := domains[i%len(domains)]
		id := "req-" + strconv.Itoa(i)
		want[id] = d
		if err := stream.Send(&danev1.ValidateStreamRequest{RequestId: id, Request: &danev1.ValidateRequest{Domain: d}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	got := 0
	for {
		r, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		got++
		d, ok := want[r.GetRequestId()]
		if !ok {
			t.Fatalf("answer for unknown or repeated request %q", r.GetRequestId())
		}
		delete(want, r.GetRequestId())
		switch d {
		case "bad..domain", "*.wild.test":
			if r.GetError().GetCode() != "INVALID_ARGUMENT" || r.GetError().GetMessage() == "" {
				t.Errorf("%s: %v, want an INVALID_ARGUMENT error for this request", d, r)
			}
		default:
			if r.GetResponse().GetDomain() != d {
				t.Errorf("%s answered with %v", d, r)
			}
		}
	}
	if got != 60 || len(want) != 0 {
		t.Fatalf("%d answers, unanswered %v", got, want)
	}
}
