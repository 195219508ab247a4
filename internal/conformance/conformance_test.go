package conformance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/daned/daned/internal/conformance"
	"github.com/daned/daned/internal/testworld"
)

var updateDoc = flag.Bool("update-conformance", false, "rewrite the table of docs/CONFORMANCE.md from this run")

// docPath is the conformance document, relative to this package.
const docPath = "../../docs/CONFORMANCE.md"

// Markers around the generated part of the document.
const (
	beginMarker = "<!-- BEGIN GENERATED TABLE: go test ./internal/conformance/ -run TestConformance -update-conformance -->"
	endMarker   = "<!-- END GENERATED TABLE -->"
)

// disagreement is an expected, explained difference between daned and
// Postfix on one scenario.
type disagreement struct {
	// diffs are exactly the differences Compare reports.
	diffs []string
	// rfc cites the text that decides; right names the side it favours
	// and why.
	rfc   string
	right string
}

// expected lists the disagreements that are understood. Any other
// difference fails the test, and so does an entry that no longer occurs.
var expected = map[string]disagreement{}

// TestConformance runs posttls-finger and daned's engine on every
// scenario of the test world, inside private namespaces, and compares
// their outcomes host by host.
func TestConformance(t *testing.T) {
	if out := os.Getenv(childEnv); out != "" {
		runChild(t, out)
		return
	}
	results := runInNamespaces(t)
	if len(results) == 0 {
		t.Fatal("no scenarios measured")
	}
	var comps []conformance.Comparison
	agree, explained := 0, 0
	for _, r := range results {
		c := conformance.Compare(r)
		comps = append(comps, c)
		exp, isExpected := expected[r.Scenario]
		switch {
		case c.Agree() && !isExpected:
			agree++
		case c.Agree() && isExpected:
			t.Errorf("%s: daned and Postfix now agree; remove it from the expected disagreements", r.Scenario)
		case isExpected && slices.Equal(c.Diffs, exp.diffs):
			explained++
		default:
			t.Errorf("%s: unexplained disagreement between daned and Postfix:\n  %s\n%s", r.Scenario, strings.Join(c.Diffs, "\n  "), dump(r))
		}
	}
	for name := range expected {
		if !slices.ContainsFunc(results, func(r conformance.Result) bool { return r.Scenario == name }) {
			t.Errorf("expected disagreement for %s, which is not a scenario of the world", name)
		}
	}
	t.Logf("%d scenarios: %d agree, %d explained disagreements, %d unexplained", len(results), agree, explained, len(results)-agree-explained)

	table := renderTable(results, comps)
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("%v (run with -update-conformance after creating it with the markers %q and %q)", err, beginMarker, endMarker)
	}
	newDoc, err := replaceTable(string(doc), table)
	if err != nil {
		t.Fatal(err)
	}
	if *updateDoc {
		if err := os.WriteFile(docPath, []byte(newDoc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if newDoc != string(doc) {
		t.Errorf("%s is out of date: rerun `go test ./internal/conformance/ -run TestConformance -update-conformance`; the table would be:\n%s", docPath, table)
	}
}

// dump is a failure message's detail: both sides' raw material.
func dump(r conformance.Result) string {
	var b strings.Builder
	d, _ := json.MarshalIndent(r.Daned, "  ", "  ")
	fmt.Fprintf(&b, "  daned: %s\n", d)
	runs := []conformance.Run{r.Domain}
	for _, h := range r.Hosts {
		runs = append(runs, h)
	}
	for _, run := range runs {
		fmt.Fprintf(&b, "  $ %s  (%s) %s\n", run.Command, run.Elapsed, run.Error)
		for _, l := range strings.Split(run.Output, "\n") {
			if strings.Contains(l, "dns_") || strings.Contains(l, "TLS") || strings.Contains(l, "<") || strings.Contains(l, "failed") || strings.Contains(l, "onnect") || strings.Contains(l, "error") {
				fmt.Fprintf(&b, "    %s\n", l)
			}
		}
	}
	return b.String()
}

func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}

func renderTable(results []conformance.Result, comps []conformance.Comparison) string {
	var b strings.Builder
	agree, explained := 0, 0
	for _, c := range comps {
		if c.Agree() {
			agree++
		} else if _, ok := expected[c.Scenario]; ok {
			explained++
		}
	}
	fmt.Fprintf(&b, "%d scenarios: %d agree, %d expected disagreements (explained below), %d unexplained.\n\n",
		len(comps), agree, explained, len(comps)-agree-explained)
	b.WriteString("| scenario | RFC | daned verdict (action / policy / reason / code) | daned per host | Postfix (posttls-finger) | agree? | deciding RFC text |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- |\n")
	for i, r := range results {
		c := comps[i]
		verdict := "no verdict: " + r.DanedError
		if d := r.Daned; d != nil {
			code := d.Code
			if code == "" {
				code = "—"
			}
			verdict = fmt.Sprintf("%s / %s / %s / %s", d.Action, d.Policy, d.Reason, code)
		}
		ag, why := "yes", ""
		if !c.Agree() {
			ag = "**no**"
			if e, ok := expected[r.Scenario]; ok {
				ag = "no (expected)"
				why = e.rfc + " — " + e.right
			} else {
				why = "UNEXPLAINED: " + strings.Join(c.Diffs, "; ")
			}
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s | %s |\n", r.Scenario, cell(r.RFC), cell(verdict),
			cell(c.DanedSummary()), cell(c.PostfixSummary()), ag, cell(why))
	}
	return b.String()
}

func replaceTable(doc, table string) (string, error) {
	i := strings.Index(doc, beginMarker)
	j := strings.Index(doc, endMarker)
	if i < 0 || j < i {
		return "", fmt.Errorf("%s lacks the markers %q … %q", docPath, beginMarker, endMarker)
	}
	var b bytes.Buffer
	b.WriteString(doc[:i+len(beginMarker)])
	b.WriteString("\n\n")
	b.WriteString(table)
	b.WriteString("\n")
	b.WriteString(doc[j:])
	return b.String(), nil
}

// runInNamespaces re-executes this test inside `unshare --net --mount
// --propagation private` and returns what the child measured.
func runInNamespaces(t *testing.T) []conformance.Result {
	t.Helper()
	unshare, err := conformance.UnshareBinary()
	if err != nil {
		t.Fatalf("%v (this test must not be skipped)", err)
	}
	for _, f := range []func() (string, error){conformance.FingerBinary, conformance.IPBinary, testworld.UnboundBinary} {
		if _, err := f(); err != nil {
			t.Fatalf("%v (this test must not be skipped; `make debian-tools` installs everything)", err)
		}
	}
	if os.Geteuid() != 0 {
		t.Fatal("the conformance test needs root: it creates network and mount namespaces (unshare --net --mount), binds ports 25 and 53 inside them and bind-mounts a private /etc/resolv.conf there")
	}
	out := filepath.Join(t.TempDir(), "results.json")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := []string{"--net", "--mount", "--propagation", "private", "--", os.Args[0],
		"-test.run=^TestConformance$", "-test.count=1", "-test.timeout=3m", "-test.v"}
	cmd := exec.CommandContext(ctx, unshare, args...)
	cmd.Env = append(os.Environ(), childEnv+"="+out)
	cmd.WaitDelay = 5 * time.Second
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child in private namespaces (%s %s): %v\n%s", unshare, strings.Join(args, " "), err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("child wrote no results: %v\n%s", err, b)
	}
	if keep := os.Getenv("DANED_CONFORMANCE_RESULTS"); keep != "" {
		if err := os.WriteFile(keep, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var results []conformance.Result
	if err := json.Unmarshal(data, &results); err != nil {
		t.Fatal(err)
	}
	return results
}
