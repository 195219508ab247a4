package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/socketmap"
)

type fixed struct{}

func (fixed) Validate(_ context.Context, domain string, _ engine.Options) (*engine.Result, error) {
	return &engine.Result{Domain: domain, MXState: engine.DNSSecure, Verdict: dane.Verdict{Policy: dane.PolicyDANERequired, Action: dane.ActionDeliver},
		Hosts: []engine.Host{{Name: "mx." + domain, Policy: dane.PolicyDANERequired, Usable: true}}}, nil
}

// TestRun drives an in-process socketmap server in both modes and checks
// that every request is counted once, with its reply word.
func TestRun(t *testing.T) {
	s, err := socketmap.New(socketmap.Config{Validator: fixed{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	defer func() {
		s.Close()
		if err := <-done; !errors.Is(err, socketmap.ErrServerClosed) {
			t.Error(err)
		}
	}()
	for _, pipeline := range []int{1, 8} {
		r, err := run(context.Background(), options{addr: ln.Addr().String(), name: "QUERY", domains: []string{"a.example", ".b.example"},
			n: 3000, conns: 4, pipeline: pipeline, maxTime: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.latency) != 3000 || r.errors != 0 || r.replies["OK"]+r.replies["NOTFOUND"] != 3000 || r.replies["OK"] == 0 || r.replies["NOTFOUND"] == 0 {
			t.Errorf("pipeline %d: %d answered, %d errors, replies %v", pipeline, len(r.latency), r.errors, r.replies)
		}
		t.Log(r)
	}
}
