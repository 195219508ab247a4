package dane_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps the package pure: no network, no gRPC, no DNS
// library and nothing else of this repository, so that every DANE rule
// stays testable with fixed inputs and no floor below imports a higher one.
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
			if isForbiddenImport(path) {
				t.Errorf("%s imports %q; package dane must stay free of network, gRPC, DNS and repository imports", name, path)
			}
		}
	}
	if checked == 0 {
		t.Fatal("found no non-test Go files to check")
	}
}

// isForbiddenImport reports whether package dane may not import path.
func isForbiddenImport(path string) bool {
	for _, prefix := range []string{"net", "google.golang.org/grpc", "github.com/miekg/dns", "github.com/daned/daned"} {
		if path == prefix || strings.HasPrefix(path, prefix+"/") {
			return true
		}
	}
	return false
}

func TestImportRuleItself(t *testing.T) {
	// The rule works on whole path elements: "network/thing" is not "net".
	for _, tt := range []struct {
		name string
		path string
		bad  bool
	}{
		{"net", "net", true},
		{"net/netip", "net/netip", true},
		{"net/http", "net/http", true},
		{"grpc", "google.golang.org/grpc/codes", true},
		{"miekg", "github.com/miekg/dns", true},
		{"own repo", "github.com/daned/daned/resolver", true},
		{"crypto", "crypto/x509", false},
		{"look-alike", "network/thing", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := isForbiddenImport(tt.path); got != tt.bad {
				t.Errorf("forbidden(%q) = %v, want %v", tt.path, got, tt.bad)
			}
		})
	}
}
