package fleet_test

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a real redis-server on a loopback port of its own.
type redisServer struct {
	t    *testing.T
	addr string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

func startRedis(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed (Debian redis-server; the Makefile's TEST_DEPS installs it)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &redisServer{t: t, addr: addr, dir: t.TempDir()}
	s.start()
	t.Cleanup(s.kill)
	return s
}

func (s *redisServer) start() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.addr)
	s.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--pidfile", filepath.Join(s.dir, "redis.pid"))
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	ready := make(chan struct{})
	s.done = make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		seen := false
		for sc.Scan() {
			if !seen && strings.Contains(sc.Text(), "Ready to accept connections") {
				seen = true
				close(ready)
			}
		}
		_ = s.cmd.Wait()
		close(s.done)
	}()
	select {
	case <-ready:
	case <-s.done:
		s.t.Fatal("redis-server exited before it was ready")
	case <-time.After(30 * time.Second):
		s.t.Fatal("redis-server not ready after 30s")
	}
}

// kill stops the server at once (SIGKILL); idempotent.
func (s *redisServer) kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// restart starts the server again on its address, empty.
func (s *redisServer) restart() { s.t.Helper(); s.start() }

func (s *redisServer) client(t *testing.T) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// backend is the shared store as the fleet uses it, over a real Redis:
// an HMAC-SHA256 over the key, the expiry and the value.
type backend struct {
	c      *redis.Client
	secret []byte
	now    func() time.Time
}

func (s *redisServer) backend(t *testing.T, secret string, now func() time.Time) backend {
	t.Helper()
	return backend{s.client(t), []byte(secret), now}
}

func (b backend) Prefix() string { return "daned:" }

func (b backend) Run(ctx context.Context, _ string, f func(context.Context, redis.Cmdable) error) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return f(ctx, b.c)
}

func (b backend) mac(key string, exp int64, v []byte) []byte {
	m := hmac.New(sha256.New, b.secret)
	fmt.Fprintf(m, "%d:%s", len(key), key)
	binary.Write(m, binary.BigEndian, exp)
	m.Write(v)
	return m.Sum(nil)
}

func (b backend) Seal(key string, v []byte, expires time.Time) []byte {
	exp := expires.UnixMilli()
	out := binary.BigEndian.AppendUint64(nil, uint64(exp))
	out = append(out, b.mac(key, exp, v)...)
	return append(out, v...)
}

func (b backend) Open(key string, blob []byte) ([]byte, error) {
	if len(blob) < 8+32 {
		return nil, errors.New("short")
	}
	exp := int64(binary.BigEndian.Uint64(blob))
	v := blob[40:]
	if !hmac.Equal(blob[8:40], b.mac(key, exp, v)) {
		return nil, errors.New("bad mac")
	}
	if b.now().UnixMilli() >= exp {
		return nil, errors.New("expired")
	}
	return v, nil
}
