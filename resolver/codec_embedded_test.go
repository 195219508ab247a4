//go:build cgo

package resolver_test

import (
	"testing"

	"github.com/daned/daned/internal/testworld"
)

// TestAnswerCodecWorldEmbedded is TestAnswerCodecWorld in the embedded
// mode, whose failures carry libunbound's why_bogus text.
func TestAnswerCodecWorldEmbedded(t *testing.T) {
	w := testworld.StartT(t, testworld.Options{})
	r := startEmbedded(t, embeddedConfig(t, w))
	answers, negative, failures := roundTripWorld(t, w, r)
	if answers == 0 || negative == 0 || failures == 0 {
		t.Fatalf("%d answers, %d negative answers, %d failures: want some of each", answers, negative, failures)
	}
	t.Logf("round-tripped %d answers, %d negative answers, %d failures", answers, negative, failures)
}
