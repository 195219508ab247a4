package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine they started is
// still running at the end: run must stop everything it starts.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
