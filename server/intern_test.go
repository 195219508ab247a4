package server_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/daned/daned/internal/danedtest"
	danev1 "github.com/daned/daned/proto/dane/v1"
	"github.com/daned/daned/protoconv"
	"github.com/daned/daned/server"
)

// Cached verdicts of domains at the same MX hosts share their hosts' wire
// encodings (the decision layer shares the hosts' parts:
// TestValidatorSharesHostParts), and say exactly what ToProto says.
func TestCachedVerdictsShareHosts(t *testing.T) {
	eng := &realisticEngine{p: hostPKIT(t), pairs: [][2]string{{"mx1.provider0.example", "mx2.provider0.example"}}}
	s, err := server.New(server.Config{Verdicts: danedtest.Verdicts(t, eng, 10), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, d := range []string{"a.example", "b.example"} {
		r, err := s.Validate(ctx, &danev1.ValidateRequest{Domain: d})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := eng.Validate(ctx, d, engineOptions)
		if !proto.Equal(r, protoconv.ToProto(want)) {
			t.Errorf("%s: cached verdict differs from ToProto:\n%v\n%v", d, r, protoconv.ToProto(want))
		}
	}
	if a, b := server.HostEncodings(s, ctx, "a.example"), server.HostEncodings(s, ctx, "b.example"); len(a) != 2 || len(b) != 2 {
		t.Fatalf("host encodings: %d and %d, want 2 each", len(a), len(b))
	} else {
		for i := range a {
			if &a[i][0] != &b[i][0] {
				t.Errorf("host %d's encoding is held twice", i)
			}
		}
	}
}

// A cache hit sends its hosts as the bytes encoded when the verdict was
// cached; over the wire it must decode to exactly the fresh response.
func TestCachedHitOnTheWire(t *testing.T) {
	eng := &realisticEngine{p: hostPKIT(t), pairs: [][2]string{{"mx1.provider0.example", "mx2.provider0.example"}}, now: time.Now()}
	s, err := server.New(server.Config{Verdicts: danedtest.Verdicts(t, eng, 10)})
	if err != nil {
		t.Fatal(err)
	}
	conn := danedtest.Serve(t, s)
	client := danev1.NewDaneServiceClient(conn)
	ctx := context.Background()
	fresh, err := client.Validate(ctx, &danev1.ValidateRequest{Domain: "customer.example"})
	if err != nil || fresh.GetFromCache() {
		t.Fatalf("fresh: %v %v", fresh.GetFromCache(), err)
	}
	hit, err := client.Validate(ctx, &danev1.ValidateRequest{Domain: "customer.example"})
	if err != nil || !hit.GetFromCache() {
		t.Fatalf("hit: %v %v", hit.GetFromCache(), err)
	}
	if len(hit.GetMxHosts()) != 2 || len(hit.ProtoReflect().GetUnknown()) != 0 {
		t.Fatalf("hit decoded with %d hosts and %d unknown bytes", len(hit.GetMxHosts()), len(hit.ProtoReflect().GetUnknown()))
	}
	// Apart from what a hit changes, the two are the same message.
	for _, r := range []*danev1.ValidateResponse{fresh, hit} {
		r.FromCache, r.Ttl, r.TraceId = false, nil, ""
	}
	if !proto.Equal(fresh, hit) {
		t.Fatalf("the cached hit differs from the fresh verdict:\nfresh %v\n  hit %v", fresh, hit)
	}
	// In-process callers (no gRPC stream) keep the hosts as messages.
	direct, err := s.Validate(ctx, &danev1.ValidateRequest{Domain: "customer.example"})
	if err != nil || !direct.GetFromCache() || len(direct.GetMxHosts()) != 2 {
		t.Fatalf("in-process hit: %d hosts, from_cache %v, %v", len(direct.GetMxHosts()), direct.GetFromCache(), err)
	}
}
