package deptest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
)

const module = "github.com/daned/daned"

// pkg is what the rules read of `go list -json`.
type pkg struct {
	ImportPath string
	Standard   bool
	Imports    []string // direct
	Deps       []string // transitive, without the package itself
	Module     *struct{ Path string }
}

// graph is every package of the module and everything they depend on,
// by import path. Test files are not part of it: `go list` without -test
// leaves them (and _test packages) out.
type graph map[string]*pkg

// loadGraph runs `go list` once for all the tests of the package.
func loadGraph(t *testing.T) graph {
	t.Helper()
	g, err := listModule()
	if err != nil {
		t.Fatal(err)
	}
	return g
}

var listModule = sync.OnceValues(func() (graph, error) {
	cmd := exec.Command("go", "list", "-deps", "-json", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %v\n%s", err, stderr.String())
	}
	g := graph{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("reading go list output: %v", err)
		}
		g[p.ImportPath] = &p
	}
	if g[module+"/dane"] == nil || g[module+"/cmd/daned"] == nil {
		return nil, fmt.Errorf("go list did not list the module's packages (%d packages)", len(g))
	}
	return g, nil
})

// get returns the package at path, failing the test when the module no
// longer has it (a renamed package must not switch its rules off).
func (g graph) get(t *testing.T, path string) *pkg {
	t.Helper()
	p := g[path]
	if p == nil {
		t.Fatalf("package %s is not in the module: update the rule", path)
	}
	return p
}

func ours(path string) bool { return path == module || strings.HasPrefix(path, module+"/") }

// within reports whether path is root or a package under it.
func within(path, root string) bool { return path == root || strings.HasPrefix(path, root+"/") }

func withinAny(path string, roots ...string) bool {
	return slices.ContainsFunc(roots, func(r string) bool { return within(path, r) })
}

// ioPackages are the standard packages that reach the network, the file
// system or the process: a pure package imports none of them. (Standard
// packages may themselves import these, crypto/x509 imports net for
// IPAddresses; the rule is about what daned's own code imports.)
var ioPackages = []string{"net", "net/http", "net/rpc", "net/smtp", "os", "os/exec", "os/signal", "syscall"}

// testSupport are the module's packages for tests only: they may import
// package testing, and no production package may import them.
var testSupport = []string{
	module + "/internal/testworld",
	module + "/internal/testcert",
	module + "/internal/fakeclock",
	module + "/internal/danedtest",
	module + "/internal/faultdns",
	module + "/internal/soak",
	module + "/internal/conformance",
	module + "/internal/deptest",
	module + "/internal/redistest",
}

// TestFloors checks that every import points down: each rule names a
// package and the packages it must not depend on, directly or not.
func TestFloors(t *testing.T) {
	g := loadGraph(t)
	higher := func(names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, module+"/"+n)
		}
		return out
	}
	tests := []struct {
		name      string
		pkg       string
		forbidden []string // import paths, each with the packages under it
	}{
		{name: "dane is pure", pkg: "dane",
			forbidden: append(higher("resolver", "probe", "engine", "cache", "server"), "google.golang.org/grpc")},
		{name: "dnsname is pure", pkg: "dnsname",
			forbidden: append(higher("resolver", "probe", "engine", "cache", "server"), "google.golang.org/grpc")},
		{name: "mtasts is pure", pkg: "mtasts",
			forbidden: append(higher("resolver", "probe", "engine", "cache", "server", "socketmap"), "google.golang.org/grpc")},
		{name: "the MTA-STS manager sits below the decision layer", pkg: "mtasts/manager",
			forbidden: append(higher("engine", "cache", "server", "socketmap"), "google.golang.org/grpc")},
		{name: "front doors do not import each other", pkg: "socketmap",
			forbidden: higher("server", "collector", "web")},
		// internal/vjson, the codecs' framing, is below the engine; the
		// test helpers are no production package's
		// (TestProductionImportsNoTestCode).
		{name: "the web page is a front door of its own", pkg: "web",
			forbidden: higher("server", "socketmap", "collector", "cmd", "internal/config", "internal/tlsconfig", "internal/cmd")},
		{name: "the TLSRPT collector is a front door of its own", pkg: "collector",
			forbidden: append(higher("server", "socketmap", "web", "cmd", "telemetry"), "google.golang.org/grpc")},
		{name: "the decision layer knows no Redis client: the shared store implements its interface", pkg: "cache",
			forbidden: append(higher("shared", "server", "socketmap", "collector", "web", "telemetry", "cmd"), "github.com/redis/go-redis")},
		{name: "the shared store sits on the decision layer's floor, below the front doors", pkg: "shared",
			forbidden: append(higher("server", "socketmap", "collector", "web", "telemetry", "cmd", "internal/config"), "google.golang.org/grpc")},
		{name: "engine knows no cache, front door or gRPC", pkg: "engine",
			forbidden: append(higher("cache", "server"), "google.golang.org/grpc")},
		{name: "danectl runs the engine, not the gRPC server", pkg: "cmd/danectl",
			forbidden: higher("server")},
		{name: "TLS-RPT's core knows no engine, decision layer or front door", pkg: "tlsrpt",
			forbidden: append(higher("resolver", "probe", "engine", "cache", "server", "socketmap", "collector"), "google.golang.org/grpc")},
		{name: "the TLS-RPT reporter knows no engine or front door", pkg: "tlsrpt/reporter",
			forbidden: append(higher("engine", "cache", "server", "socketmap", "collector"), "google.golang.org/grpc")},
		{name: "the session collector sits below the front doors", pkg: "tlsrpt/collect",
			forbidden: append(higher("server", "socketmap", "collector"), "google.golang.org/grpc")},
		{name: "the MTA-STS manager knows its shared level by an interface only", pkg: "mtasts/manager",
			forbidden: append(higher("shared"), "github.com/redis/go-redis")},
		{name: "the TLS-RPT reporter knows the fleet by an interface only", pkg: "tlsrpt/reporter",
			forbidden: append(higher("shared"), "github.com/redis/go-redis")},
		{name: "TLS-RPT's core knows no shared store", pkg: "tlsrpt",
			forbidden: append(higher("shared"), "github.com/redis/go-redis")},
		{name: "the shared store's adapters sit below the front doors", pkg: "shared/fleet",
			forbidden: append(higher("engine", "cache", "server", "socketmap", "collector", "tlsrpt/collect", "cmd"), "google.golang.org/grpc")},
		{name: "report delivery knows no decision layer or front door", pkg: "tlsrpt/deliver",
			forbidden: append(higher("engine", "cache", "server", "socketmap"), "google.golang.org/grpc")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := g.get(t, module+"/"+tt.pkg)
			for _, d := range p.Deps {
				if withinAny(d, tt.forbidden...) {
					t.Errorf("%s depends on %s%s", tt.pkg, d, g.via(p, d))
				}
			}
		})
	}
}

// TestPurePackagesDoNoIO checks that dane, dnsname, mtasts and flight, and every package
// of this module they use, import no I/O package: no network, no files,
// no processes, no clock beyond what arrives as an argument.
func TestPurePackagesDoNoIO(t *testing.T) {
	g := loadGraph(t)
	for _, name := range []string{"dane", "dnsname", "mtasts", "flight"} {
		t.Run(name, func(t *testing.T) {
			root := g.get(t, module+"/"+name)
			for _, path := range append([]string{root.ImportPath}, root.Deps...) {
				if !ours(path) {
					continue
				}
				for _, imp := range g[path].Imports {
					if slices.Contains(ioPackages, imp) {
						t.Errorf("%s imports %s%s", path, imp, g.via(root, path))
					}
				}
			}
		})
	}
}

// TestProductionImportsNoTestCode checks that no production package
// imports package testing or a test-support package: production is every
// package the programs of cmd/ are built from, and every package of the
// module outside internal/ (the API, the clients, the examples), with
// their dependencies; test-support packages are exempt.
func TestProductionImportsNoTestCode(t *testing.T) {
	g := loadGraph(t)
	var roots []*pkg
	for path, p := range g {
		if ours(path) && (within(path, module+"/cmd") || !strings.Contains(path+"/", "/internal/")) {
			roots = append(roots, p)
		}
	}
	if len(roots) < 3 {
		t.Fatalf("found only %d production roots", len(roots))
	}
	production := map[string]*pkg{}
	for _, r := range roots {
		for _, path := range append([]string{r.ImportPath}, r.Deps...) {
			if !withinAny(path, testSupport...) {
				production[path] = r
			}
		}
	}
	for path, root := range production {
		for _, imp := range g[path].Imports {
			if imp == "testing" || withinAny(imp, testSupport...) {
				t.Errorf("production package %s imports %s%s", path, imp, g.via(root, path))
			}
		}
	}
}

// TestRuleHelpers keeps the path matching honest: whole path elements
// only.
func TestRuleHelpers(t *testing.T) {
	tests := []struct {
		name       string
		path, root string
		want       bool
	}{
		{name: "itself", path: module + "/cache", root: module + "/cache", want: true},
		{name: "a package under it", path: "google.golang.org/grpc/codes", root: "google.golang.org/grpc", want: true},
		{name: "a look-alike", path: module + "/cachelike", root: module + "/cache"},
		{name: "a parent", path: module, root: module + "/cache"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := within(tt.path, tt.root); got != tt.want {
				t.Errorf("within(%q, %q) = %v, want %v", tt.path, tt.root, got, tt.want)
			}
		})
	}
}

func TestVia(t *testing.T) {
	g := graph{
		"a": {ImportPath: "a", Imports: []string{"b", "x"}},
		"b": {ImportPath: "b", Imports: []string{"c"}},
		"c": {ImportPath: "c", Imports: []string{"d"}},
	}
	tests := []struct{ name, path, want string }{
		{name: "direct", path: "b", want: ""},
		{name: "one step", path: "c", want: " (via b)"},
		{name: "two steps", path: "d", want: " (via b → c)"},
		{name: "unreachable", path: "z", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := g.via(g["a"], tt.path); got != tt.want {
				t.Errorf("via(a, %s) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}

// via returns " (via a → b → …)", one import chain from p to path, or ""
// when p imports path directly.
func (g graph) via(p *pkg, path string) string {
	prev := map[string]string{p.ImportPath: ""}
	queue := []string{p.ImportPath}
	for len(queue) > 0 && prev[path] == "" {
		cur := queue[0]
		queue = queue[1:]
		q := g[cur]
		if q == nil {
			continue
		}
		for _, imp := range q.Imports {
			if _, seen := prev[imp]; !seen {
				prev[imp] = cur
				queue = append(queue, imp)
			}
		}
	}
	if prev[path] == "" || prev[path] == p.ImportPath {
		return ""
	}
	var chain []string
	for at := prev[path]; at != p.ImportPath; at = prev[at] {
		chain = append(chain, at)
	}
	slices.Reverse(chain)
	return " (via " + strings.Join(chain, " → ") + ")"
}
