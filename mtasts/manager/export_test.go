package manager

import "testing"

// SetWaitingHook calls fn whenever a Policy caller starts waiting for a
// shared resolution, until the test ends.
func SetWaitingHook(t *testing.T, fn func(domain string)) {
	testHookWaiting = fn
	t.Cleanup(func() { testHookWaiting = nil })
}
