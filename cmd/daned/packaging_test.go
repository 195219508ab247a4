package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// packagingDir holds the systemd units and the /etc/default/daned example.
const packagingDir = "../../packaging"

// maxExposure is the highest `systemd-analyze security` exposure, times
// ten, the units may have: 2.0 of 10 is "OK" on systemd's scale. The
// units score 1.2 (systemd 252); a change that weakens the sandbox past
// this fails the test.
const maxExposure = 20

// units are the unit files of packaging/ and the name each is checked
// under (a template needs an instance).
var units = []struct{ file, name string }{
	{"daned.service", "daned.service"},
	{"daned@.service", "daned@a.service"},
}

// checkUnit writes text as name into a directory of its own, runs
// `systemd-analyze verify` on it and fails when it exits non-zero or says
// anything at all (it only warns, and exits 0, about an unknown key, an
// unparsable value or an unknown system call group), then `systemd-analyze
// security --offline` with maxExposure as its threshold. It returns the
// exposure line.
func checkUnit(analyze, name, text string) (string, error) {
	dir, err := os.MkdirTemp("", "daned-unit-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return "", err
	}
	out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		return "", errors.New("systemd-analyze verify: " + errString(err) + "\n" + string(out))
	}
	out, err = exec.Command(analyze, "security", "--offline=yes", "--threshold="+strconv.Itoa(maxExposure), path).CombinedOutput()
	score := ""
	for l := range strings.SplitSeq(string(out), "\n") {
		if strings.Contains(l, "Overall exposure level") {
			score = strings.TrimSpace(strings.TrimPrefix(l, "→"))
		}
	}
	if err != nil || score == "" {
		return "", errors.New("systemd-analyze security: " + errString(err) + ": " + score + "\n" + string(out))
	}
	return score, nil
}

func errString(err error) string {
	if err == nil {
		return "exit status 0 with output"
	}
	return err.Error()
}

// unitText reads a unit of packaging/ with ExecStart pointed at bin:
// verify checks that the program exists and is executable.
func unitText(t *testing.T, file, bin string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(packagingDir, file))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if !strings.Contains(text, "\nExecStart=/usr/bin/daned ") {
		t.Fatalf("%s: ExecStart does not run /usr/bin/daned", file)
	}
	return strings.Replace(text, "\nExecStart=/usr/bin/daned ", "\nExecStart="+bin+" ", 1)
}

// TestSystemdUnits checks the units of packaging/ with systemd's own
// tools, offline: `systemd-analyze verify` must accept them without a
// word, and `systemd-analyze security` must rate their sandbox at most
// maxExposure. Broken copies must fail the same check, so that it is
// known to catch what it is for.
func TestSystemdUnits(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian package systemd, in the Makefile's TEST_DEPS): the units in packaging/ are NOT verified")
	}
	bin := buildDaned(t)
	for _, u := range units {
		t.Run(u.file, func(t *testing.T) {
			text := unitText(t, u.file, bin)
			score, err := checkUnit(analyze, u.name, text)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %s", u.file, score)
		})
	}
	broken := []struct {
		name      string
		old, repl string
	}{
		{"misspelt key", "\nProtectSystem=strict\n", "\nProtectSystm=strict\n"},
		{"bad value", "\nProtectSystem=strict\n", "\nProtectSystem=bogus\n"},
		{"unknown system call group", "\nSystemCallFilter=@system-service\n", "\nSystemCallFilter=@no-such-group\n"},
		{"missing binary", "\nExecStart=" + bin + " ", "\nExecStart=/nonexistent/daned "},
		{"weaker sandbox", "\nProtectSystem=strict\n", "\nProtectSystem=no\nProtectHome=no\nPrivateDevices=no\nPrivateTmp=no\nCapabilityBoundingSet=~\n"},
	}
	text := unitText(t, "daned.service", bin)
	for _, b := range broken {
		t.Run("broken/"+b.name, func(t *testing.T) {
			if !strings.Contains(text, b.old) {
				t.Fatalf("the unit has no %q to break", b.old)
			}
			if _, err := checkUnit(analyze, "daned.service", strings.Replace(text, b.old, b.repl, 1)); err == nil {
				t.Fatal("the check accepted the broken unit")
			}
		})
	}
}

// TestDefaultFileListsEveryFlag checks packaging/daned.default, the
// /etc/default/daned example: every variable it names is one daned reads,
// and every flag's variable is there, so an admin finds them all.
func TestDefaultFileListsEveryFlag(t *testing.T) {
	var help syncBuffer
	if err := run(context.Background(), []string{"--help"}, &help, nil); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("run --help: %v", err)
	}
	envRE := regexp.MustCompile(`\((DANED_[A-Z0-9_]+), default`)
	var flags []string
	for _, m := range envRE.FindAllStringSubmatch(help.String(), -1) {
		flags = append(flags, m[1])
	}
	if len(flags) < 40 {
		t.Fatalf("--help lists %d variables; want every flag's", len(flags))
	}
	b, err := os.ReadFile(filepath.Join(packagingDir, "daned.default"))
	if err != nil {
		t.Fatal(err)
	}
	lineRE := regexp.MustCompile(`(?m)^#?(DANED_[A-Z0-9_]+)=`)
	var listed []string
	for _, m := range lineRE.FindAllStringSubmatch(string(b), -1) {
		listed = append(listed, m[1])
	}
	for _, v := range listed {
		if v != "DANED_OPTS" && !slices.Contains(flags, v) {
			t.Errorf("daned.default sets %s, which no flag reads", v)
		}
	}
	for _, v := range flags {
		if !slices.Contains(listed, v) {
			t.Errorf("daned.default lacks %s", v)
		}
	}
	for _, u := range units {
		unit, err := os.ReadFile(filepath.Join(packagingDir, u.file))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(unit), "\nEnvironmentFile=-/etc/default/daned\n") || !strings.Contains(string(unit), "$DANED_OPTS") {
			t.Errorf("%s does not read /etc/default/daned and pass $DANED_OPTS", u.file)
		}
	}
}

// TestTemplateSandboxIsTheUnits keeps daned@.service's sandbox the same
// as daned.service's, line for line, as its header promises.
func TestTemplateSandboxIsTheUnits(t *testing.T) {
	sandbox := func(file string) string {
		b, err := os.ReadFile(filepath.Join(packagingDir, file))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		start, end := strings.Index(s, "\n# Sandbox."), strings.Index(s, "\n[Install]")
		if start < 0 || end < start {
			t.Fatalf("%s has no sandbox section before [Install]", file)
		}
		return s[start:end]
	}
	if a, b := sandbox("daned.service"), sandbox("daned@.service"); a != b {
		t.Fatalf("the sandbox of daned@.service differs from daned.service's:\n%s\n---\n%s", a, b)
	}
}
