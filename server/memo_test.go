package server

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/daned/daned/cache"
	"github.com/daned/daned/dane"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/internal/fakeclock"
	danev1 "github.com/daned/daned/proto/dane/v1"
)

// fakeEngine counts validations and can hold them until released.
type fakeEngine struct {
	calls   atomic.Int64
	release chan struct{}
	ttl     time.Duration
	now     func() time.Time
	sawCtx  chan context.Context
}

func (f *fakeEngine) Validate(ctx context.Context, domain string, opts engine.Options) (*engine.Result, error) {
	f.calls.Add(1)
	if f.sawCtx != nil {
		select {
		case f.sawCtx <- ctx:
		default:
		}
	}
	if f.release != nil {
		select {
		case <-f.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &engine.Result{Domain: domain, CheckedAt: f.now(), TTL: f.ttl,
		Verdict: dane.Verdict{Action: dane.ActionDeliver, Policy: dane.PolicyDANERequired, Reason: dane.ReasonOK}}, nil
}

// verdicts returns the decision layer cfg describes, closed when the test
// ends.
func verdicts(t *testing.T, cfg cache.ValidatorConfig) *cache.Validator {
	t.Helper()
	v, err := cache.NewValidator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func newCached(t *testing.T, e *fakeEngine, clk *fakeclock.Clock) *Server {
	t.Helper()
	e.now = clk.Now
	s, err := New(Config{Verdicts: verdicts(t, cache.ValidatorConfig{Upstream: e, Size: 100, Now: clk.Now}), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestVerdictCache: the gRPC door says what the decision layer decided:
// from_cache, the TTL that remains, bypass_cache, Invalidate.
func TestVerdictCache(t *testing.T) {
	clk := fakeclock.New(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	e := &fakeEngine{ttl: 100 * time.Second}
	s := newCached(t, e, clk)
	ctx := context.Background()
	req := &danev1.ValidateRequest{Domain: "Example.COM."}

	first, err := s.Validate(ctx, req)
	if err != nil || first.GetFromCache() {
		t.Fatalf("first: %v from_cache=%v", err, first.GetFromCache())
	}
	clk.Advance(30 * time.Second)
	second, err := s.Validate(ctx, &danev1.ValidateRequest{Domain: "example.com"})
	if err != nil || !second.GetFromCache() || e.calls.Load() != 1 {
		t.Fatalf("second: %v from_cache=%v calls=%d", err, second.GetFromCache(), e.calls.Load())
	}
	if got := second.GetTtl().AsDuration(); got != 70*time.Second {
		t.Fatalf("cached ttl %v, want the 70s that remain", got)
	}
	if first.GetFromCache() || first.GetTtl().AsDuration() != 100*time.Second {
		t.Fatal("serving from the cache modified the cached response")
	}
	// policy_only is another verdict.
	if _, err := s.Validate(ctx, &danev1.ValidateRequest{Domain: "example.com", PolicyOnly: true}); err != nil || e.calls.Load() != 2 {
		t.Fatalf("policy-only shared the full verdict (calls %d)", e.calls.Load())
	}
	// bypass_cache validates afresh and refills.
	r, err := s.Validate(ctx, &danev1.ValidateRequest{Domain: "example.com", BypassCache: true})
	if err != nil || r.GetFromCache() || e.calls.Load() != 3 {
		t.Fatalf("bypass: from_cache=%v calls=%d", r.GetFromCache(), e.calls.Load())
	}
	// Never served past its TTL.
	clk.Advance(100 * time.Second)
	if r, _ := s.Validate(ctx, req); r.GetFromCache() || e.calls.Load() != 4 {
		t.Fatalf("expired verdict served (calls %d)", e.calls.Load())
	}
	// Invalidate drops it.
	inv, err := s.Invalidate(ctx, &danev1.InvalidateRequest{Domain: "EXAMPLE.com"})
	if err != nil || inv.GetRemoved() == 0 || inv.GetDomain() != "example.com" {
		t.Fatalf("Invalidate: %v %v", inv, err)
	}
	if r, _ := s.Validate(ctx, req); r.GetFromCache() {
		t.Fatal("an invalidated verdict was served")
	}
	if _, err := s.Invalidate(ctx, &danev1.InvalidateRequest{Domain: "*.x"}); err == nil {
		t.Fatal("Invalidate accepted a wildcard")
	}
}

// TestShallowCopyCarriesEveryField fails when a field is added to
// ValidateResponse and not to shallowCopy.
func TestShallowCopyCarriesEveryField(t *testing.T) {
	full := &danev1.ValidateResponse{}
	m := full.ProtoReflect()
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		switch {
		case fd.IsList():
			l := m.Mutable(fd).List()
			l.Append(l.NewElement())
		case fd.Kind() == protoreflect.MessageKind:
			m.Set(fd, protoreflect.ValueOfMessage(m.NewField(fd).Message()))
		case fd.Kind() == protoreflect.StringKind:
			m.Set(fd, protoreflect.ValueOfString("x"))
		case fd.Kind() == protoreflect.BoolKind:
			m.Set(fd, protoreflect.ValueOfBool(true))
		case fd.Kind() == protoreflect.EnumKind:
			m.Set(fd, protoreflect.ValueOfEnum(1))
		default:
			t.Fatalf("field %s of kind %v: extend this test", fd.Name(), fd.Kind())
		}
	}
	full.CheckedAt, full.Ttl = timestamppb.Now(), durationpb.New(time.Second)
	if c := shallowCopy(full); !proto.Equal(c, full) {
		t.Fatalf("shallowCopy lost fields:\n got %v\nwant %v", c, full)
	}
}

func TestCallErrors(t *testing.T) {
	if err := callError(context.DeadlineExceeded); err == nil || err.Error() == "" {
		t.Fatal("no status for a deadline")
	}
	if err := callError(errors.New("boom")); err == nil {
		t.Fatal("no status for an internal error")
	}
}
