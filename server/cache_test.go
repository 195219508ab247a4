package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/engine"
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

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newCached(t *testing.T, e *fakeEngine, clk *fakeClock) *Server {
	t.Helper()
	e.now = clk.Now
	s, err := New(Config{Engine: e, CacheSize: 100, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerdictCache(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}
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

func TestRefreshAhead(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}
	e := &fakeEngine{ttl: 100 * time.Second, sawCtx: make(chan context.Context, 4)}
	s := newCached(t, e, clk)
	ctx := context.Background()
	if _, err := s.Validate(ctx, &danev1.ValidateRequest{Domain: "example.com"}); err != nil {
		t.Fatal(err)
	}
	<-e.sawCtx
	clk.Advance(50 * time.Second) // middle of its life: no refresh
	if r, _ := s.Validate(ctx, &danev1.ValidateRequest{Domain: "example.com"}); !r.GetFromCache() || s.Stats().Refreshes != 0 {
		t.Fatalf("refresh started in mid-life (%d)", s.Stats().Refreshes)
	}
	clk.Advance(35 * time.Second) // last 20 %: served, and refreshed behind
	if r, _ := s.Validate(ctx, &danev1.ValidateRequest{Domain: "example.com"}); !r.GetFromCache() {
		t.Fatal("a live verdict was not served while refreshing")
	}
	select {
	case <-e.sawCtx:
	case <-time.After(5 * time.Second):
		t.Fatal("no background refresh")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		it, ok := s.v.lru.Get(verdictKey{"example.com", false})
		if ok && it.Remaining == 100*time.Second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the refresh did not renew the cached verdict")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestValidateCoalescesAndSurvivesCancellation(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}
	e := &fakeEngine{ttl: time.Minute, release: make(chan struct{})}
	s := newCached(t, e, clk)
	const n = 10000
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range n {
		wg.Go(func() {
			r, err := s.Validate(context.Background(), &danev1.ValidateRequest{Domain: "example.com"})
			if err != nil || r.GetAction() != danev1.Action_ACTION_DELIVER {
				failed.Add(1)
			}
		})
	}
	// A caller that gives up gets its own error and takes nothing from
	// the others.
	ctx, cancel := context.WithCancel(context.Background())
	gone := make(chan error, 1)
	go func() {
		_, err := s.Validate(ctx, &danev1.ValidateRequest{Domain: "example.com"})
		gone <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-gone; err == nil {
		t.Fatal("the cancelled caller got a verdict")
	}
	close(e.release)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d callers failed", failed.Load())
	}
	if c := e.calls.Load(); c != 1 {
		t.Fatalf("%d validations for %d identical concurrent requests, want 1", c, n)
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
