package telemetry_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/daned/daned/telemetry"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestLogWriterFlushes(t *testing.T) {
	var out lockedBuffer
	w := telemetry.NewLogWriter(&out, 20*time.Millisecond)
	if _, err := w.Write([]byte("line 1\n")); err != nil {
		t.Fatal(err)
	}
	if out.String() != "" {
		t.Fatal("written through at once; want batched")
	}
	deadline := time.Now().Add(5 * time.Second)
	for out.String() != "line 1\n" {
		if time.Now().After(deadline) {
			t.Fatal("the periodic flush never came")
		}
		time.Sleep(5 * time.Millisecond)
	}
	_, _ = w.Write([]byte("line 2\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "line 1\nline 2\n" {
		t.Fatalf("after Close: %q", out.String())
	}
	if err := w.Close(); err != nil {
		t.Fatal("a second Close failed:", err)
	}
}

// Concurrent writers never interleave inside a line, and nothing is lost.
func TestLogWriterConcurrent(t *testing.T) {
	var out lockedBuffer
	w := telemetry.NewLogWriter(&out, time.Hour)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			line := strings.Repeat(string(rune('a'+i)), 100) + "\n"
			for range 2000 {
				_, _ = w.Write([]byte(line))
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 16000 {
		t.Fatalf("%d lines, want 16000", len(lines))
	}
	for _, l := range lines {
		if len(l) != 100 || strings.Count(l, l[:1]) != 100 {
			t.Fatalf("interleaved line %q", l)
		}
	}
}
