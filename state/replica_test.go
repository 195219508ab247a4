package state_test

import (
	"testing"
	"time"

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

// TestTLSRPTNotes: a note is stored with the reports, in their
// transaction, kept across a restart, and removed on its own.
func TestTLSRPTNotes(t *testing.T) {
	dir := t.TempDir()
	s, err := state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = s.PutTLSRPTReportsAndCounts([]state.TLSRPTReport{{Key: "r"}}, nil, time.Time{},
		state.TLSRPTNote{Key: "done/x", Value: []byte("m1")}, state.TLSRPTNote{Key: "done/y", Value: []byte("m2")})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = state.Open(dir, state.Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.DeleteTLSRPTNote("done/x"); err != nil {
		t.Fatal(err)
	}
	notes, err := s.TLSRPTNotes()
	if err != nil || len(notes) != 1 || string(notes["done/y"]) != "m2" {
		t.Fatalf("notes %q (%v), want done/y only", notes, err)
	}
	if _, ok, _ := s.TLSRPTReportByKey("r"); !ok {
		t.Fatal("the report is missing")
	}
}
