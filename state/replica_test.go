package state_test

import (
	"testing"

	"github.com/daned/daned/state"
)

// TestReplicaID: a store names its replica once, and by the same id after
// a restart; another store names another.
func TestReplicaID(t *testing.T) {
	dir := t.TempDir()
	id := func(dir string) string {
		t.Helper()
		s, err := state.Open(dir, state.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		a, err := s.ReplicaID()
		if err != nil {
			t.Fatal(err)
		}
		if b, err := s.ReplicaID(); err != nil || a != b || len(a) != 16 {
			t.Fatalf("ids %q and %q (%v)", a, b, err)
		}
		return a
	}
	first := id(dir)
	if again := id(dir); again != first {
		t.Fatalf("after a restart the replica is %q, was %q", again, first)
	}
	if other := id(t.TempDir()); other == first {
		t.Fatal("two stores share an id")
	}
}
