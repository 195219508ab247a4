package telemetry_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
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

// TestLogWriterFlushes runs in a synctest bubble: the ticker's time is
// the bubble's, so "not yet flushed" and "flushed after one interval" are
// exact however loaded the machine is.
func TestLogWriterFlushes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out lockedBuffer
		const interval = 20 * time.Millisecond
		w := telemetry.NewLogWriter(&out, interval)
		if _, err := w.Write([]byte("line 1\n")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(interval - time.Millisecond)
		synctest.Wait()
		if out.String() != "" {
			t.Fatal("written before the interval; want batched")
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if out.String() != "line 1\n" {
			t.Fatalf("after one interval: %q, want the line flushed", out.String())
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
	})
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
