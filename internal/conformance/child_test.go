package conformance_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/daned/daned/engine"
	"github.com/daned/daned/internal/config"
	"github.com/daned/daned/internal/conformance"
	"github.com/daned/daned/internal/testworld"
)

// childEnv marks the re-executed test binary running inside the private
// namespaces; its value is the file the child writes its results to.
const childEnv = "DANED_CONFORMANCE_CHILD"

// slowDelay is the banner delay of the "slow" scenario.
const slowDelay = 500 * time.Millisecond

// runChild is the part of TestConformance that runs inside `unshare --net
// --mount`: it owns every 127/8 address and ports 25 and 53, and its
// mounts are private.
func runChild(t *testing.T, out string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if b, err := exec.CommandContext(ctx, ipBin(t), "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v: %s", err, b)
	}
	fingerBin, err := conformance.FingerBinary()
	if err != nil {
		t.Fatal(err)
	}

	w := testworld.StartT(t, testworld.Options{Extra: testworld.SlowScenarios(slowDelay)})
	if err := w.ServeSMTPAlsoOn(25); err != nil {
		t.Fatal(err)
	}
	udir := t.TempDir()
	u, err := testworld.StartUnboundOn(ctx, w, udir, 53)
	if err != nil {
		t.Fatalf("unbound on 127.0.0.1:53: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("unbound logs:\n%s", u.Logs())
		}
		_ = u.Close()
	})

	// A private resolv.conf over the machine's, visible only in this
	// mount namespace. trust-ad: glibc ≥ 2.31 clears the AD bit otherwise,
	// and Postfix would see every answer as insecure.
	dir := t.TempDir()
	rc := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(rc, []byte(conformance.ResolvConf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount(rc, "/etc/resolv.conf", "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("bind-mount a private /etc/resolv.conf: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount("/etc/resolv.conf", 0) })

	pfdir := filepath.Join(dir, "postfix")
	if err := os.Mkdir(pfdir, 0o755); err != nil {
		t.Fatal(err)
	}
	finger, err := conformance.NewFinger(fingerBin, pfdir, fingerTimeout, 40*time.Second)
	if err != nil {
		t.Fatal(err)
	}

	ec := config.EngineFlags{
		Resolver:         "127.0.0.1:53",
		ResolverTimeout:  2 * time.Second,
		HeloName:         "conformance.daned.test",
		TLSMinVersion:    "1.2",
		ProbePort:        25,
		ProbeTimeout:     10 * time.Second,
		ProbeStepTimeout: time.Duration(fingerTimeout) * time.Second,
		ProbeAllow:       w.ProbeAllow(),
		ProbeConcurrency: 32,
		InsecureMXPolicy: "dane",
		MaxMXHosts:       10,
		FailureTTL:       30 * time.Second,
		ValidateTimeout:  30 * time.Second,
	}
	built, err := ec.Build()
	if err != nil {
		t.Fatal(err)
	}
	defer built.Close()
	eng := built.Engine

	scenarios := w.Scenarios()
	results := make([]conformance.Result, len(scenarios))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, sc := range scenarios {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = measure(ctx, eng, finger, sc)
		}()
	}
	wg.Wait()
	b, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// fingerTimeout is posttls-finger's -t/-T and daned's probe step timeout,
// in seconds: a tarpit costs this much on both sides.
const fingerTimeout = 4

// measure runs daned's engine and posttls-finger against the domain
// side by side, then posttls-finger against each "[host]" the domain run
// did not reach.
func measure(ctx context.Context, eng *engine.Engine, f *conformance.Finger, sc testworld.Scenario) conformance.Result {
	r := conformance.Result{Scenario: sc.Domain, Description: sc.Description, RFC: sc.RFC}
	run := func(dest string) conformance.Run {
		start := time.Now()
		out, err := f.Run(ctx, dest)
		fr := conformance.FingerRun{Dest: dest, Command: f.CommandLine(dest), Output: out, Elapsed: time.Since(start).Round(time.Millisecond).String()}
		if err != nil {
			fr.Error = err.Error()
		}
		return conformance.Run{FingerRun: fr, Observation: conformance.Parse(out)}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		vctx, cancel := context.WithTimeout(ctx, 40*time.Second)
		defer cancel()
		res, err := eng.Validate(vctx, sc.Domain, engine.Options{})
		if err != nil {
			r.DanedError = err.Error()
			return
		}
		r.Daned = conformance.FromEngine(res)
	}()
	r.Domain = run(sc.Domain)
	wg.Wait()
	var mu sync.Mutex
	for _, h := range r.Unreached() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hr := run("[" + h + "]")
			mu.Lock()
			defer mu.Unlock()
			if r.Hosts == nil {
				r.Hosts = map[string]conformance.Run{}
			}
			r.Hosts[h] = hr
		}()
	}
	wg.Wait()
	return r
}

func ipBin(t *testing.T) string {
	t.Helper()
	p, err := conformance.IPBinary()
	if err != nil {
		t.Fatal(err)
	}
	return p
}
