package daneclient_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	daneclient "github.com/daned/daned/clients/go"
	danev1 "github.com/daned/daned/proto/dane/v1"
)

// replica is a gRPC server on loopback that answers as daned would be
// asked and records, per call, the domain of the request and the
// DomainHeader that came with it.
type replica struct {
	danev1.UnimplementedDaneServiceServer
	name string
	addr string
	srv  *grpc.Server

	mu    sync.Mutex
	calls []routedCall
}

type routedCall struct {
	method, domain, header string
}

func (r *replica) record(ctx context.Context, method, domain string) {
	md, _ := metadata.FromIncomingContext(ctx)
	h := ""
	if v := md.Get(daneclient.DomainHeader); len(v) > 0 {
		h = v[0]
	}
	r.mu.Lock()
	r.calls = append(r.calls, routedCall{method, domain, h})
	r.mu.Unlock()
}

func (r *replica) seen() []routedCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func (r *replica) Validate(ctx context.Context, req *danev1.ValidateRequest) (*danev1.ValidateResponse, error) {
	r.record(ctx, "Validate", req.GetDomain())
	return &danev1.ValidateResponse{Domain: req.GetDomain(), Action: danev1.Action_ACTION_DELIVER}, nil
}

func (r *replica) Invalidate(ctx context.Context, req *danev1.InvalidateRequest) (*danev1.InvalidateResponse, error) {
	r.record(ctx, "Invalidate", req.GetDomain())
	return &danev1.InvalidateResponse{Domain: req.GetDomain()}, nil
}

func (r *replica) VerifyPeer(ctx context.Context, req *danev1.VerifyPeerRequest) (*danev1.VerifyPeerResponse, error) {
	r.record(ctx, "VerifyPeer", req.GetDomain())
	return &danev1.VerifyPeerResponse{}, nil
}

// startReplicas starts n replicas on loopback, stopped when the test ends.
func startReplicas(t *testing.T, n int) []*replica {
	t.Helper()
	var rs []*replica
	for i := range n {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		r := &replica{name: fmt.Sprintf("replica-%d", i), addr: lis.Addr().String(), srv: grpc.NewServer()}
		danev1.RegisterDaneServiceServer(r.srv, r)
		go func() { _ = r.srv.Serve(lis) }()
		t.Cleanup(r.srv.Stop)
		rs = append(rs, r)
	}
	return rs
}

// dialReplicas returns a client whose target resolves to every replica.
func dialReplicas(t *testing.T, rs []*replica, opts ...daneclient.Option) *daneclient.Client {
	t.Helper()
	res := manual.NewBuilderWithScheme("daned-replicas")
	var addrs []resolver.Address
	for _, r := range rs {
		addrs = append(addrs, resolver.Address{Addr: r.addr})
	}
	res.InitialState(resolver.State{Addresses: addrs})
	opts = append([]daneclient.Option{daneclient.WithInsecure(), daneclient.WithTimeout(time.Minute),
		daneclient.WithDialOptions(grpc.WithResolvers(res))}, opts...)
	c, err := daneclient.Dial(res.Scheme()+":///daned", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// domainsByReplica maps each normalised domain (the header) to the
// replicas that received a call carrying it.
func domainsByReplica(rs []*replica) map[string][]string {
	out := map[string][]string{}
	for _, r := range rs {
		for _, c := range r.seen() {
			if !slices.Contains(out[c.header], r.name) {
				out[c.header] = append(out[c.header], r.name)
			}
		}
	}
	return out
}

// TestDomainRouting runs a client with WithDomainRouting against three
// replicas on loopback: every call about one domain, whatever its
// spelling and whichever method, reaches the same replica, the domains
// spread over the replicas, and when a domain's replica goes away its
// calls move to one other replica and stay there.
func TestDomainRouting(t *testing.T) {
	rs := startReplicas(t, 3)
	c := dialReplicas(t, rs, daneclient.WithDomainRouting())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)

	var domains []string
	for i := range 40 {
		domains = append(domains, fmt.Sprintf("d%d.example", i))
	}
	domains = append(domains, "bücher.example") // travels as xn--bcher-kva.example
	for _, d := range domains {
		for _, spelling := range []string{d, d + ".", strings.ToUpper(d[:1]) + d[1:]} {
			if _, err := c.Validate(ctx, spelling); err != nil {
				t.Fatalf("Validate(%q): %v", spelling, err)
			}
		}
		if _, err := c.Policy(ctx, d); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Invalidate(ctx, d); err != nil {
			t.Fatal(err)
		}
		if _, err := c.VerifyPeer(ctx, d, "mx."+d, nil); err != nil {
			t.Fatal(err)
		}
	}

	byDomain := domainsByReplica(rs)
	if _, ok := byDomain["xn--bcher-kva.example"]; !ok {
		t.Errorf("no call carried the IDN as A-labels; headers seen: %v", keys(byDomain))
	}
	if len(byDomain) != len(domains) {
		t.Fatalf("%d distinct headers for %d domains: %v", len(byDomain), len(domains), keys(byDomain))
	}
	perReplica := map[string]int{}
	for d, where := range byDomain {
		if len(where) != 1 {
			t.Errorf("%s reached %v; want one replica", d, where)
		}
		perReplica[where[0]]++
	}
	if len(perReplica) < 2 {
		t.Fatalf("every domain went to one replica: %v", perReplica)
	}
	t.Logf("domains per replica: %v", perReplica)
	for _, r := range rs {
		for _, call := range r.seen() {
			if call.header == "" {
				t.Errorf("%s: %s(%q) came without %s", r.name, call.method, call.domain, daneclient.DomainHeader)
			}
		}
	}

	// The replica of d0.example goes away: its calls move, all to one
	// other replica (the next on the ring), and succeed.
	owner := byDomain["d0.example"][0]
	for _, r := range rs {
		if r.name == owner {
			r.srv.Stop()
		}
	}
	for range 5 {
		if _, err := c.Validate(ctx, "d0.example"); err != nil {
			t.Fatalf("Validate after its replica stopped: %v", err)
		}
	}
	after := domainsByReplica(rs)["d0.example"]
	if len(after) != 2 || !slices.Contains(after, owner) {
		t.Fatalf("d0.example reached %v; want its first replica %s and one other", after, owner)
	}
}

// TestNoRoutingByDefault: without WithDomainRouting the client keeps
// gRPC's default (pick_first), so every call goes to one replica; the
// header is sent all the same, for a balancer or proxy of the caller's.
func TestNoRoutingByDefault(t *testing.T) {
	rs := startReplicas(t, 3)
	c := dialReplicas(t, rs)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	for i := range 20 {
		if _, err := c.Validate(ctx, fmt.Sprintf("Host%d.Example.", i)); err != nil {
			t.Fatal(err)
		}
	}
	used := 0
	for _, r := range rs {
		calls := r.seen()
		if len(calls) > 0 {
			used++
		}
		for _, call := range calls {
			if want := strings.ToLower(strings.TrimSuffix(call.domain, ".")); call.header != want {
				t.Errorf("%s came with %s %q, want %q", call.domain, daneclient.DomainHeader, call.header, want)
			}
		}
	}
	if used != 1 {
		t.Fatalf("calls reached %d replicas; pick_first uses one", used)
	}
}

func keys(m map[string][]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
