package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/daned/daned/internal/config"
	"github.com/daned/daned/state"
)

// syncBuffer is a bytes.Buffer safe for the server's logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestHelpListsEveryFlagWithEnvAndDefault(t *testing.T) {
	var out syncBuffer
	err := run(context.Background(), []string{"--help"}, &out, nil)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("run --help: %v", err)
	}
	for _, want := range []string{
		"--listen (DANED_LISTEN, default 127.0.0.1:8053)",
		"--resolver (DANED_RESOLVER, default " + config.DefaultResolver + ")",
		"--trust-anchor (DANED_TRUST_ANCHOR",
		"--metrics-listen (DANED_METRICS_LISTEN, default 127.0.0.1:9464)",
		"--cache-size (DANED_CACHE_SIZE, default 100000)",
		"--resolver-trusted (DANED_RESOLVER_TRUSTED, default false)",
		"--probe-allow (DANED_PROBE_ALLOW",
		"--tls-min-version (DANED_TLS_MIN_VERSION, default 1.2)",
		"--helo-name (DANED_HELO_NAME",
		"--socketmap-listen (DANED_SOCKETMAP_LISTEN",
		"--http-listen (DANED_HTTP_LISTEN",
		"--http-rate-limit (DANED_HTTP_RATE_LIMIT, default 2)",
		"--http-recheck-limit (DANED_HTTP_RECHECK_LIMIT, default 0.1)",
		"--mta-sts (DANED_MTA_STS, default true)",
		"--mta-sts-fetch-timeout (DANED_MTA_STS_FETCH_TIMEOUT, default 20s)",
		"--state-dir (DANED_STATE_DIR, default " + state.DefaultDir() + ")",
		"--redis (DANED_REDIS, default \"\")",
		"--shared-secret (DANED_SHARED_SECRET",
		"--redis-timeout (DANED_REDIS_TIMEOUT, default 100ms)",
		"--redis-prefix (DANED_REDIS_PREFIX, default daned:)",
		"--redis-lease (DANED_REDIS_LEASE, default 5s)",
		"--redis-ca (DANED_REDIS_CA",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRejectsBadConfiguration(t *testing.T) {
	shortSecret := filepath.Join(t.TempDir(), "short-secret")
	if err := os.WriteFile(shortSecret, []byte("sixteen bytes!!!"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{name: "non-loopback resolver", args: []string{"--resolver", "192.0.2.53:53"}, want: "not on loopback"},
		{name: "non-loopback resolver from the environment", env: map[string]string{"DANED_RESOLVER": "192.0.2.53"}, want: "not on loopback"},
		{name: "bad TLS version", args: []string{"--tls-min-version", "1.4"}, want: "TLS version"},
		{name: "bad probe-allow", args: []string{"--probe-allow", "not-a-prefix"}, want: "not a CIDR"},
		{name: "bad insecure MX policy", args: []string{"--insecure-mx-policy", "maybe"}, want: "insecure MX policy"},
		{name: "bad log format", args: []string{"--log-format", "xml"}, want: "--log-format"},
		{name: "stray argument", args: []string{"example.com"}, want: "unexpected arguments"},
		{name: "Redis without a shared secret", args: []string{"--redis", "redis://127.0.0.1:1/0"}, want: "--redis needs --shared-secret"},
		{name: "a short shared secret", env: map[string]string{"DANED_REDIS": "redis://127.0.0.1:1/0"},
			args: []string{"--shared-secret", shortSecret}, want: "want at least 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var out syncBuffer
			err := run(context.Background(), append([]string{"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"}, tt.args...), &out, nil)
			if err == nil || !strings.Contains(err.Error()+out.String(), tt.want) {
				t.Fatalf("run %v: %v (output %q), want an error about %q", tt.args, err, out.String(), tt.want)
			}
		})
	}
}

var listenRE = regexp.MustCompile(`daned serving"? listen=(\S+)`)

func TestServesHealthAndShutsDownGracefully(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--lame-duck", "300ms", "--shutdown-timeout", "2s"}, &out, nil)
	}()
	var addr string
	deadline := time.Now().Add(10 * time.Second)
	for addr == "" && time.Now().Before(deadline) {
		if m := listenRE.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("daned exited: %v\n%s", err, out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if addr == "" {
		t.Fatalf("daned did not report its address:\n%s", out.String())
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	check := func() healthpb.HealthCheckResponse_ServingStatus {
		cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer ccancel()
		r, err := hc.Check(cctx, &healthpb.HealthCheckRequest{Service: "dane.v1.DaneService"})
		if err != nil {
			return healthpb.HealthCheckResponse_UNKNOWN
		}
		return r.GetStatus()
	}
	if s := check(); s != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health %v, want SERVING", s)
	}
	cancel()
	// During the lame-duck period the server still answers, NOT_SERVING.
	sawNotServing := false
	for i := 0; i < 50 && !sawNotServing; i++ {
		sawNotServing = check() == healthpb.HealthCheckResponse_NOT_SERVING
		time.Sleep(5 * time.Millisecond)
	}
	if !sawNotServing {
		t.Error("health never reported NOT_SERVING during the lame-duck period")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("daned did not stop")
	}
	if !strings.Contains(out.String(), "stopped") {
		t.Errorf("no shutdown log:\n%s", out.String())
	}
}

// TestStateDir: with --state-dir daned opens (and creates) its state
// store there, says so, and releases it at shutdown, so that the next
// daned on the same directory opens it without waiting.
func TestStateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	for i := range 2 {
		d := startDaned(t, "--listen", "127.0.0.1:0", "--state-dir", dir)
		d.waitLog(t, "state="+filepath.Join(dir, state.FileName))
		if _, err := os.Stat(filepath.Join(dir, state.FileName)); err != nil {
			t.Fatalf("daned %d: %v", i, err)
		}
		d.stop(t)
	}
}
