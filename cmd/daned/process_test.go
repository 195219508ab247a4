package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// built is the daned binary the tests run as a process, compiled once
// per test binary into a directory TestMain removes.
var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
	out  []byte
}

// buildDaned compiles the daned binary (once for all tests) for tests
// that run it as a process.
func buildDaned(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "daned-test-bin-"); built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "daned")
		built.out, built.err = exec.Command("go", "build", "-o", built.bin, ".").CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("go build: %v\n%s", built.err, built.out)
	}
	return built.bin
}

// removeBuilt removes the binary buildDaned compiled, if any.
func removeBuilt() {
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
}

// process is daned run as a process, so that it can be killed.
type process struct {
	cmd         *exec.Cmd
	out         *syncBuffer
	addr        string // gRPC
	metricsAddr string // "" when --metrics-listen is empty
	done        chan struct{}
}

var metricsAddrRE = regexp.MustCompile(`daned serving.* metrics=([0-9.:\[\]]+)`)

// startProcess runs bin with args (and env added to this process's) until
// the test ends, and waits until it serves.
func startProcess(t testing.TB, bin string, env, args []string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); <-p.done })
	p.waitLog(t, "daned serving")
	p.addr = listenRE.FindStringSubmatch(p.out.String())[1]
	if m := metricsAddrRE.FindStringSubmatch(p.out.String()); m != nil {
		p.metricsAddr = m[1]
	}
	return p
}

// waitLog waits until the process has logged want.
func (p *process) waitLog(t testing.TB, want string) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(p.out.String(), want) {
		select {
		case <-p.done:
			t.Fatalf("daned exited before logging %q:\n%s", want, p.out.String())
		case <-deadline:
			t.Fatalf("daned did not log %q within 60 s:\n%s", want, p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// kill stops the process with SIGKILL: nothing is flushed or closed.
func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// metric returns the sum of the samples of the counter or gauge family
// name whose labels include labels, as the process's /metrics serves it
// now (0 when there are none).
func (p *process) metric(t testing.TB, name string, labels map[string]string) float64 {
	t.Helper()
	if p.metricsAddr == "" {
		t.Fatal("daned serves no metrics (--metrics-listen)")
	}
	c := http.Client{Timeout: 30 * time.Second}
	res, err := c.Get("http://" + p.metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	var total float64
	for _, m := range fams[name].GetMetric() {
		if hasLabels(m.GetLabel(), labels) {
			total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return total
}

func hasLabels[L interface {
	GetName() string
	GetValue() string
}](have []L, want map[string]string) bool {
	for k, v := range want {
		found := false
		for _, l := range have {
			if l.GetName() == k && l.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// waitMetric waits until metric(name, labels) satisfies ok, and returns
// the value it had then.
func (p *process) waitMetric(t testing.TB, name string, labels map[string]string, what string, ok func(float64) bool) float64 {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		v := p.metric(t, name, labels)
		if ok(v) {
			return v
		}
		select {
		case <-p.done:
			t.Fatalf("daned exited while waiting for %s%v %s:\n%s", name, labels, what, p.out.String())
		case <-deadline:
			t.Fatalf("%s%v is %v, not %s, after 60 s:\n%s", name, labels, v, what, p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
