package state_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/daned/daned/state"
)

func open(t *testing.T, dir string) *state.Store {
	t.Helper()
	s, err := state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func samplePolicy(domain string) state.STSPolicy {
	fetched := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return state.STSPolicy{
		Domain:    domain,
		ID:        "20260301T120000",
		Text:      "version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 86400\r\n",
		Mode:      "enforce",
		MX:        []string{"mx.example.com", "*.example.net"},
		MaxAge:    86400 * time.Second,
		FetchedAt: fetched,
		Expires:   fetched.Add(86400 * time.Second),
	}
}

func TestReopenKeepsData(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "state")
	s := open(t, dir)
	want := samplePolicy("example.com")
	if err := s.PutSTSPolicy(want); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSTSPolicy(samplePolicy("gone.example")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSTSPolicy("gone.example"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state directory: %v, %v; want mode 0700", fi.Mode(), err)
	}

	s = open(t, dir)
	defer s.Close()
	got, ok, err := s.STSPolicy("EXAMPLE.com.")
	if err != nil || !ok {
		t.Fatalf("after reopening: %+v, %v, %v", got, ok, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after reopening:\n%+v\nwant\n%+v", got, want)
	}
	if _, ok, _ := s.STSPolicy("gone.example"); ok {
		t.Error("a deleted policy came back")
	}
	all, err := s.STSPolicies()
	if err != nil || len(all) != 1 || all[0].Domain != "example.com" {
		t.Fatalf("STSPolicies = %+v, %v", all, err)
	}
	if s.Path() != filepath.Join(dir, state.FileName) {
		t.Errorf("Path %q", s.Path())
	}
}

func TestMissing(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	if p, ok, err := s.STSPolicy("nothing.example"); ok || err != nil {
		t.Fatalf("STSPolicy of an unknown domain = %+v, %v, %v", p, ok, err)
	}
	if err := s.DeleteSTSPolicy("nothing.example"); err != nil {
		t.Fatalf("deleting what is not there: %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	const workers, rounds = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				own := samplePolicy(fmt.Sprintf("d%d.example", w))
				own.ID = fmt.Sprintf("id%d", r)
				shared := samplePolicy("shared.example")
				shared.ID = fmt.Sprintf("w%dr%d", w, r)
				for _, p := range []state.STSPolicy{own, shared} {
					if err := s.PutSTSPolicy(p); err != nil {
						errs <- err
						return
					}
				}
				got, ok, err := s.STSPolicy(own.Domain)
				if err != nil || !ok || got.ID != own.ID {
					errs <- fmt.Errorf("worker %d read %+v, %v, %v; want id %s", w, got, ok, err, own.ID)
					return
				}
				if _, err := s.STSPolicies(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	all, err := s.STSPolicies()
	if err != nil || len(all) != workers+1 {
		t.Fatalf("%d policies, %v; want %d", len(all), err, workers+1)
	}
	for _, p := range all {
		if !strings.HasPrefix(p.Domain, "shared") && p.ID != fmt.Sprintf("id%d", rounds-1) {
			t.Errorf("%s ended with id %s", p.Domain, p.ID)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	damaged := t.TempDir()
	if err := os.WriteFile(filepath.Join(damaged, state.FileName), []byte(strings.Repeat("not a bbolt file ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	// Nobody, root included, can create a file in /sys or /proc: state
	// directories that exist but are not writable, the same for every
	// user the tests run as (chmod does not stop root).
	for _, d := range []string{"/sys", "/proc"} {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			t.Fatalf("this test needs Linux's %s: %v", d, err)
		}
	}
	for _, tt := range []struct {
		name, dir, want string
	}{
		{name: "no directory", dir: "", want: "no state directory given"},
		{name: "directory under a file", dir: filepath.Join(file, "state"), want: "cannot create the state directory"},
		{name: "directory not writable (sysfs)", dir: "/sys", want: "cannot write /sys/daned.db"},
		{name: "directory not writable (procfs)", dir: "/proc", want: "cannot create /proc/daned.db"},
		{name: "not a store", dir: damaged, want: "is not a daned state store or is damaged"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := state.Open(tt.dir, state.Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want %q", err, tt.want)
			}
			t.Log(err)
		})
	}
}

// TestLockedByAnotherProcess opens the store in a child process, then
// opens it here: that must fail with ErrLocked after the lock timeout,
// and succeed once the child has let go.
func TestLockedByAnotherProcess(t *testing.T) {
	if dir := os.Getenv("DANED_STATE_HOLD_DIR"); dir != "" {
		s, err := state.Open(dir, state.Options{})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("holding")
		bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
		s.Close()
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockedByAnotherProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "DANED_STATE_HOLD_DIR="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "holding\n" {
		t.Fatalf("child said %q, %v", line, err)
	}

	start := time.Now()
	s, err := state.Open(dir, state.Options{LockTimeout: 200 * time.Millisecond})
	if err == nil {
		s.Close()
		t.Fatal("opened a store another process holds")
	}
	if !errors.Is(err, state.ErrLocked) || !strings.Contains(err.Error(), "is another daned using the state directory") {
		t.Fatalf("error %q, want ErrLocked with advice", err)
	}
	// bbolt retries the lock every 50 ms and stops one retry short.
	if waited := time.Since(start); waited < 100*time.Millisecond {
		t.Errorf("gave up after %v without waiting for the lock", waited)
	}
	t.Log(err)

	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	s, err = state.Open(dir, state.Options{LockTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("after the other process exited: %v", err)
	}
	s.Close()
}

func TestNewerSchemaRefused(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	s.Close()
	state.SetSchemaForTest(t, filepath.Join(dir, state.FileName), 99)
	if s, err := state.Open(dir, state.Options{}); err == nil || !strings.Contains(err.Error(), "written by a newer daned") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("Open = %v, want a refusal of schema 99", err)
	}
}
