package mtasts_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps the package pure: no network, no files, no clock
// source and nothing else of this repository, so that every MTA-STS rule
// stays testable with fixed inputs. net/netip (address parsing) and
// crypto/x509 (chain validation against roots the caller passes) are
// allowed.
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatalf("%s: bad import %s", name, imp.Path.Value)
			}
			if forbiddenImport(path) {
				t.Errorf("%s imports %q; package mtasts must stay free of I/O and repository imports", name, path)
			}
		}
	}
	if checked == 0 {
		t.Fatal("found no non-test Go files to check")
	}
}

func forbiddenImport(path string) bool {
	if path == "net/netip" {
		return false
	}
	for _, prefix := range []string{"net", "os", "io/fs", "syscall", "crypto/tls", "github.com/daned/daned", "github.com/miekg/dns", "google.golang.org/grpc", "go.etcd.io"} {
		if path == prefix || strings.HasPrefix(path, prefix+"/") {
			return true
		}
	}
	return false
}

func TestImportRuleItself(t *testing.T) {
	for _, tt := range []struct {
		path string
		bad  bool
	}{
		{"net", true},
		{"net/http", true},
		{"net/netip", false},
		{"os", true},
		{"os/exec", true},
		{"github.com/daned/daned/probe", true},
		{"crypto/x509", false},
		{"network/thing", false},
	} {
		t.Run(tt.path, func(t *testing.T) {
			if got := forbiddenImport(tt.path); got != tt.bad {
				t.Errorf("forbidden(%q) = %v, want %v", tt.path, got, tt.bad)
			}
		})
	}
}
