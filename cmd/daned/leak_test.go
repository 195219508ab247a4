package main

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine they started is
// still running at the end: run must stop everything it starts. The
// tests' daneds keep MTA-STS policies in memory (an empty --state-dir),
// so that they neither write the machine's state directory nor wait for
// each other's lock on it; TestStateDir sets one.
func TestMain(m *testing.M) {
	os.Setenv("DANED_STATE_DIR", "")
	goleak.VerifyTestMain(removingBuilt{m})
}

// removingBuilt runs the tests, then removes the daned binary they built.
type removingBuilt struct{ m *testing.M }

func (r removingBuilt) Run() int {
	defer removeBuilt()
	return r.m.Run()
}
