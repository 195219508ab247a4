package config_test

import (
	"flag"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/daned/daned/internal/config"
)

func TestEnvThenFlags(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var ec config.EngineFlags
	ec.Register(fs)
	ec.RegisterStateDir(fs)
	env := map[string]string{
		"DANED_RESOLVER":    "127.0.0.2:5353",
		"DANED_PROBE_ALLOW": "127.0.0.0/8, ::1",
		"DANED_PROBE_PORT":  "2525",
		"DANED_MTA_STS":     "false",
		"DANED_STATE_DIR":   "/tmp/daned-state",
	}
	if err := config.ApplyEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if err := fs.Parse([]string{"--probe-port", "25"}); err != nil {
		t.Fatal(err)
	}
	if ec.Resolver != "127.0.0.2:5353" {
		t.Errorf("resolver %q: the environment did not apply", ec.Resolver)
	}
	if ec.MTASTS || ec.StateDir != "/tmp/daned-state" || ec.MTASTSFetchTimeout != 20*time.Second {
		t.Errorf("MTA-STS %v, state dir %q, fetch timeout %v: want the environment's false and /tmp/daned-state, the default 20s", ec.MTASTS, ec.StateDir, ec.MTASTSFetchTimeout)
	}
	if ec.ProbePort != 25 {
		t.Errorf("probe port %d: the flag must override the environment", ec.ProbePort)
	}
	want := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	if len(ec.ProbeAllow) != 2 || ec.ProbeAllow[0] != want[0] || ec.ProbeAllow[1] != want[1] {
		t.Errorf("probe allow %v, want %v", ec.ProbeAllow, want)
	}
}

func TestApplyEnvReportsBadValues(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var ec config.EngineFlags
	ec.Register(fs)
	err := config.ApplyEnv(fs, func(k string) (string, bool) {
		if k == "DANED_PROBE_PORT" {
			return "twenty-five", true
		}
		return "", false
	})
	if err == nil {
		t.Fatal("a non-numeric DANED_PROBE_PORT was accepted")
	}
}

func TestEnvName(t *testing.T) {
	if got := config.EnvName("probe-step-timeout"); got != "DANED_PROBE_STEP_TIMEOUT" {
		t.Fatalf("EnvName = %q", got)
	}
}
