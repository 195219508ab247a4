package testworld

import (
	"context"
	"testing"
	"time"
)

// StartT starts a world for a test and closes it with t.Cleanup. It
// fails the test when the world cannot be built.
func StartT(t testing.TB, opts Options) *World {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("testworld.Start: %v", err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

// StartUnboundT runs Unbound for w in a temporary directory and stops it
// with t.Cleanup. A missing Unbound fails the test (it never skips: the
// end-to-end tests must run in CI); install it with `apt-get install
// unbound`.
func StartUnboundT(t testing.TB, w *World) *Unbound {
	t.Helper()
	if _, err := UnboundBinary(); err != nil {
		t.Fatalf("testworld: %v (these end-to-end tests need a real Unbound and must not be skipped)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u, err := StartUnbound(ctx, w, t.TempDir())
	if err != nil {
		t.Fatalf("testworld.StartUnbound: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("unbound logs:\n%s", u.Logs())
		}
		_ = u.Close()
	})
	return u
}
