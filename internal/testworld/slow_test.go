package testworld_test

import (
	"bufio"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/daned/daned/internal/testworld"
)

func TestSlowScenarios(t *testing.T) {
	const delay = 300 * time.Millisecond
	w := testworld.StartT(t, testworld.Options{Scenarios: []testworld.ScenarioSpec{}, Extra: testworld.SlowScenarios(delay)})
	if n := len(w.Scenarios()); n != 2 {
		t.Fatalf("%d scenarios, want 2", n)
	}

	t.Run("slow banner", func(t *testing.T) {
		h, _ := w.Host("mx.slow.test")
		start := time.Now()
		c, err := net.DialTimeout("tcp", h.Addrs[0].String(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		l, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || !strings.HasPrefix(l, "220 ") {
			t.Fatalf("banner %q, %v", l, err)
		}
		if d := time.Since(start); d < delay {
			t.Errorf("banner after %v, want ≥ %v", d, delay)
		}
	})
	t.Run("tarpit never writes", func(t *testing.T) {
		h, _ := w.Host("mx.tarpit.test")
		c, err := net.DialTimeout("tcp", h.Addrs[0].String(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, err = c.Read(make([]byte, 1))
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("read: %v, want a timeout", err)
		}
	})
}
