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
		if transient := transientRows(string(doc), newDoc); transient != "" {
			// Both daned and Postfix saw the world's DNS fail for these
			// scenarios (a loaded machine starves the loopback resolver),
			// and agreed on it: not a change of either's behaviour, which
			// is what this check is for.
			t.Logf("the run differs from %s only where both daned and Postfix saw a DNS failure:\n%s", docPath, transient)
			return
		}
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

// transientRows returns the rows of newDoc that differ from doc when each
// of them is a scenario where daned and Postfix agreed on a DNS failure
// ("dns-failure" for daned's hosts and for Postfix's, "yes"), and "" when
// any other row differs, or lines were added or removed.
func transientRows(doc, newDoc string) string {
	old, cur := strings.Split(doc, "\n"), strings.Split(newDoc, "\n")
	if len(old) != len(cur) {
		return ""
	}
	var rows []string
	for i := range cur {
		if cur[i] == old[i] {
			continue
		}
		cells := strings.Split(cur[i], "|")
		if len(cells) < 8 || !strings.Contains(cells[4], "dns-failure") || !strings.Contains(cells[5], "dns-failure") ||
			strings.TrimSpace(cells[6]) != "yes" {
			return ""
		}
		rows = append(rows, cur[i])
	}
	return strings.Join(rows, "\n")
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

func TestTransientRows(t *testing.T) {
	row := func(verdict, host, postfix, agree string) string {
		return "| `ee-spki.test` | RFC 7672 §3.1.1 | " + verdict + " | " + host + " | " + postfix + " | " + agree + " |  |"
	}
	ok := row("DELIVER / DANE_REQUIRED / OK / —", "mx.ee-spki.test: verified", "DELIVER — mx.ee-spki.test: verified", "yes")
	dnsFail := row("DEFER / UNSPECIFIED / TLSA_LOOKUP_FAILED / 4.7.324", "mx.ee-spki.test: dns-failure", "DEFER — mx.ee-spki.test: dns-failure", "yes")
	tests := []struct {
		name, doc, run string
		transient      bool
	}{
		{"both saw the DNS fail", "a\n" + ok + "\nb", "a\n" + dnsFail + "\nb", true},
		{"daned alone saw it", "a\n" + ok, "a\n" + row("DEFER / UNSPECIFIED / TLSA_LOOKUP_FAILED / 4.7.324", "mx.ee-spki.test: dns-failure", "DELIVER — mx.ee-spki.test: verified", "no"), false},
		{"another verdict changed", "a\n" + ok, "a\n" + row("DEFER / DANE_REQUIRED / TLSA_NO_MATCH / 4.7.323", "mx.ee-spki.test: auth-failure", "DEFER — mx.ee-spki.test: auth-failure", "yes"), false},
		{"a row added", "a\n" + ok, "a\n" + ok + "\n" + dnsFail, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := transientRows(tt.doc, tt.run) != ""; got != tt.transient {
				t.Errorf("transient = %v, want %v", got, tt.transient)
			}
		})
	}
}
