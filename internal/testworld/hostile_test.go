package testworld_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/daned/daned/internal/testworld"
	"github.com/daned/daned/probe"
)

// TestHostileModes probes each hostile server directly: each fails the
// way its mode promises, within the probe's step deadline.
func TestHostileModes(t *testing.T) {
	w := testworld.StartT(t, testworld.Options{Scenarios: []testworld.ScenarioSpec{}, Extra: testworld.HostileScenarios()})
	if n := len(w.Scenarios()); n != len(testworld.HostileScenarios()) {
		t.Fatalf("%d scenarios, want %d", n, len(testworld.HostileScenarios()))
	}
	const step = time.Second
	p, err := probe.New(probe.Config{Port: w.SMTPPort(), HeloName: "probe.test", StepTimeout: step, Timeout: 3 * step})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host    string
		want    error
		stage   probe.Stage
		mention string
	}{
		{host: "mx.hostile-tarpit.test", want: probe.ErrTimeout, stage: probe.StageBanner},
		{host: "mx.hostile-drip.test", want: probe.ErrTimeout, stage: probe.StageBanner},
		{host: "mx.hostile-endless.test", want: probe.ErrSMTP, stage: probe.StageBanner, mention: "lines"},
		{host: "mx.hostile-stall.test", want: probe.ErrTimeout, stage: probe.StageHandshake},
		{host: "mx.hostile-garbage.test", want: probe.ErrHandshake, stage: probe.StageHandshake},
		{host: "mx.hostile-garbage-unsigned.test", want: probe.ErrHandshake, stage: probe.StageHandshake},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			t.Parallel()
			h, ok := w.Host(tt.host)
			if !ok {
				t.Fatalf("no host %s", tt.host)
			}
			start := time.Now()
			r := p.Probe(context.Background(), h.Addrs[0].Addr(), tt.host)
			took := time.Since(start)
			if !errors.Is(r.Err, tt.want) || r.Reached != tt.stage || !strings.Contains(r.Err.Error(), tt.mention) {
				t.Errorf("Err = %v at %v, want %v at %v mentioning %q", r.Err, r.Reached, tt.want, tt.stage, tt.mention)
			}
			// Each step has its own deadline: at most banner, EHLO,
			// STARTTLS and handshake steps, bounded by the whole probe.
			// These servers would hold a probe forever; the slack only
			// absorbs a loaded machine's scheduling.
			if took > 3*step+5*time.Second {
				t.Errorf("the probe took %v, over its %v deadline", took, 3*step)
			}
		})
	}
}
