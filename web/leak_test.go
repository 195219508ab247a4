package web

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine they started is
// still running at the end: a check, a TLS-RPT lookup or a validation
// that outlives its request.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
