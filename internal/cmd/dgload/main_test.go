//go:build unix

package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daned/daned/collector"
	"github.com/daned/daned/tlsrpt"
)

// sink counts the sessions it gets and says when it has want of them.
type sink struct {
	n    atomic.Int64
	want int64
	done chan struct{}
	bad  atomic.Int64
}

func (s *sink) Add(sessions ...tlsrpt.Session) {
	for _, ss := range sessions {
		if ss.Result != tlsrpt.ResultCertificateHostMismatch {
			s.bad.Add(1)
		}
	}
	if s.n.Add(int64(len(sessions))) == s.want {
		close(s.done)
	}
}

func socketPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "dgload")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s")
}

// TestRunIntoTheCollector sends the built-in sample to an in-process
// collector, waiting while its queue is full, and checks that every
// datagram became a session.
func TestRunIntoTheCollector(t *testing.T) {
	const n = 2000
	s := &sink{want: n, done: make(chan struct{})}
	path := socketPath(t)
	// A queue for every datagram: none is dropped, whatever the load.
	d, err := collector.New(collector.Config{Path: path, Sink: s, Queue: n, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- d.Serve() }()
	defer func() {
		d.Close()
		if err := <-served; !errors.Is(err, collector.ErrClosed) {
			t.Error(err)
		}
	}()
	r, err := run(context.Background(), options{socket: path, datagram: []byte(sample), n: n, duration: time.Minute, block: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.sent != n || r.refused != 0 {
		t.Fatalf("%v, want %d sent and none refused", r, n)
	}
	select {
	case <-s.done:
	case <-time.After(time.Minute):
		t.Fatalf("the collector passed on %d sessions of %d", s.n.Load(), n)
	}
	if s.bad.Load() != 0 {
		t.Errorf("%d sessions were not the sample's certificate-host-mismatch", s.bad.Load())
	}
	t.Log(r)
}

// TestRunCountsRefusals sends, as libtlsrpt does, without waiting to a
// socket nobody reads: past the kernel's queue (net.unix.max_dgram_qlen)
// datagrams are refused, and each is counted once.
func TestRunCountsRefusals(t *testing.T) {
	path := socketPath(t)
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 50
	r, err := run(context.Background(), options{socket: path, datagram: []byte(sample), n: n, duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r.sent+r.refused != n || r.sent == 0 {
		t.Fatalf("%v, want %d sent or refused, some sent", r, n)
	}
	t.Log(r)
}

func TestRunChecksOptions(t *testing.T) {
	good := options{socket: "/nonexistent/s", datagram: []byte(sample), n: 1, duration: time.Second}
	tests := []struct {
		name   string
		modify func(o *options)
	}{
		{name: "no socket", modify: func(o *options) { o.socket = "" }},
		{name: "no datagrams", modify: func(o *options) { o.n = 0 }},
		{name: "negative rate", modify: func(o *options) { o.rate = -1 }},
		{name: "no duration", modify: func(o *options) { o.duration = 0 }},
		{name: "empty datagram", modify: func(o *options) { o.datagram = nil }},
		{name: "no such socket", modify: func(*options) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.modify(&o)
			if r, err := run(context.Background(), o); err == nil {
				t.Errorf("run = %v, want an error", r)
			}
		})
	}
}
