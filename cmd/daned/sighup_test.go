package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGHUPWhileStartingDoesNotEndDaned sends SIGHUP to a daned process
// that is still starting, before its listener exists, and checks that
// daned lives on, serves, and reloads its TLS files for that SIGHUP once
// it serves. SIGHUP's default action ends a process: a reload request
// that came too early used to kill daned.
//
// daned is held mid-start on --root-hints, a FIFO: it blocks reading it
// until the test closes its end, and the test can open its end only once
// daned is reading. So the SIGHUP lands after main began and before the
// gRPC listener, every time, without sleeping.
func TestSIGHUPWhileStartingDoesNotEndDaned(t *testing.T) {
	bin := buildDaned(t)
	dir := t.TempDir()
	hints := filepath.Join(dir, "root.hints")
	if err := syscall.Mkfifo(hints, 0o600); err != nil {
		t.Fatal(err)
	}
	ca := newCA(t, "daned test CA")
	srv := ca.serverCert(t, "daned")
	out := &syncBuffer{}
	cmd := exec.Command(bin, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--lame-duck", "0s",
		"--resolver", "embedded", "--root-hints", hints,
		"--tls-cert", writeFile(t, dir, "cert.pem", srv.CertPEM), "--tls-key", writeFile(t, dir, "key.pem", srv.KeyPEM))
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	// died fails the test if daned has exited.
	died := func(when string) {
		t.Helper()
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			t.Fatalf("daned exited %s: %v\n%s", when, err, out.String())
		default:
		}
	}

	// daned is reading the FIFO once its write end opens (ENXIO until
	// then).
	var w *os.File
	for deadline := time.Now().Add(20 * time.Second); w == nil; {
		f, err := os.OpenFile(hints, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		switch {
		case err == nil:
			w = f
		case !errors.Is(err, syscall.ENXIO):
			t.Fatal(err)
		case time.Now().After(deadline):
			t.Fatalf("daned never read --root-hints:\n%s", out.String())
		default:
			died("before reading --root-hints")
			time.Sleep(5 * time.Millisecond)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitDelivered(t, cmd.Process.Pid, syscall.SIGHUP)
	if err := w.Close(); err != nil { // EOF: daned goes on starting
		t.Fatal(err)
	}
	died("on a SIGHUP while starting")

	for _, want := range []string{"daned serving", "TLS reloaded"} {
		for deadline := time.Now().Add(20 * time.Second); !strings.Contains(out.String(), want); {
			died("after a SIGHUP while starting")
			if time.Now().After(deadline) {
				t.Fatalf("daned never logged %q:\n%s", want, out.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("daned ended with %v after SIGTERM, want a clean exit:\n%s", err, out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("daned did not stop on SIGTERM")
	}
}

// waitDelivered waits until sig is no longer pending for process pid
// (Linux /proc/PID/status): a handler, or the default action, has taken
// it.
func waitDelivered(t *testing.T, pid int, sig syscall.Signal) {
	t.Helper()
	bit := uint64(1) << (uint(sig) - 1)
	for deadline := time.Now().Add(10 * time.Second); ; {
		pending, err := pendingSignals(pid)
		if err != nil {
			return // the process is gone: the caller sees why
		}
		if pending&bit == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("signal %v still pending after 10s", sig)
		}
		time.Sleep(time.Millisecond)
	}
}

// pendingSignals is the union of the process-wide (ShdPnd) and the
// main thread's (SigPnd) pending signal masks.
func pendingSignals(pid int) (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var mask uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "ShdPnd" && name != "SigPnd") {
			continue
		}
		m, err := strconv.ParseUint(strings.TrimSpace(val), 16, 64)
		if err != nil {
			return 0, err
		}
		mask |= m
	}
	return mask, sc.Err()
}
