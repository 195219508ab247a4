package config_test

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/daned/daned/internal/config"
	"github.com/daned/daned/resolver"
)

func TestNewResolver(t *testing.T) {
	if want := map[bool]string{true: "embedded", false: "127.0.0.1:53"}[resolver.EmbeddedAvailable]; config.DefaultResolver != want {
		t.Errorf("DefaultResolver = %q, want %q", config.DefaultResolver, want)
	}

	up := &config.EngineFlags{Resolver: "127.0.0.1:53"}
	if _, err := config.NewResolver(up, config.ResolverFlags{}); err != nil {
		t.Errorf("upstream: %v", err)
	}
	if _, err := config.NewResolver(up, config.ResolverFlags{TrustAnchor: "root.ds"}); err == nil || !strings.Contains(err.Error(), "--resolver embedded") {
		t.Errorf("--trust-anchor with an upstream resolver: %v, want refused", err)
	}

	emb := &config.EngineFlags{Resolver: config.EmbeddedResolver}
	r, err := config.NewResolver(emb, config.ResolverFlags{})
	switch {
	case !resolver.EmbeddedAvailable:
		if !errors.Is(err, resolver.ErrNoCgo) || !strings.Contains(err.Error(), "CGO_ENABLED=1") {
			t.Errorf("embedded without cgo: %v", err)
		}
	case err != nil:
		t.Errorf("embedded: %v", err)
	default:
		if c, ok := r.(io.Closer); !ok {
			t.Errorf("embedded resolver %T is not an io.Closer", r)
		} else {
			c.Close()
		}
	}
	if r, err := config.NewResolver(emb, config.ResolverFlags{TrustAnchor: "/nonexistent/root.ds"}); err == nil || r != nil {
		t.Errorf("missing anchor file: %v %v, want an error and a nil resolver", r, err)
	}
}

func TestResolverFlagsRegister(t *testing.T) {
	var rf config.ResolverFlags
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	rf.Register(fs)
	if err := config.ApplyEnv(fs, func(k string) (string, bool) {
		return map[string]string{"DANED_TRUST_ANCHOR": "/etc/daned/root.ds"}[k], k == "DANED_TRUST_ANCHOR"
	}); err != nil {
		t.Fatal(err)
	}
	if err := fs.Parse([]string{"--root-hints", "/etc/daned/root.hints", "--trust-anchor-auto", "/var/lib/daned/root.key", "--resolver-config", "/etc/daned/unbound.conf"}); err != nil {
		t.Fatal(err)
	}
	want := config.ResolverFlags{TrustAnchor: "/etc/daned/root.ds", TrustAnchorAuto: "/var/lib/daned/root.key", RootHints: "/etc/daned/root.hints", ResolverConfig: "/etc/daned/unbound.conf"}
	if rf != want {
		t.Errorf("flags %+v, want %+v", rf, want)
	}
}
