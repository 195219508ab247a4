package socketmap_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/smtp"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/daned/daned/engine"
	"github.com/daned/daned/internal/conformance"
	"github.com/daned/daned/internal/danedtest"
	"github.com/daned/daned/internal/testworld"
	"github.com/daned/daned/socketmap"
)

var updatePostfix = flag.Bool("update-postfix", false, "rewrite the outcome table of docs/POSTFIX.md from this run")

// postfixChildEnv marks the re-executed test binary running inside the
// private namespaces; its value is the file the child writes to.
const postfixChildEnv = "DANED_SOCKETMAP_POSTFIX_CHILD"

const (
	postfixDoc     = "../docs/POSTFIX.md"
	conformanceDoc = "../docs/CONFORMANCE.md"
	postfixBegin   = "<!-- BEGIN GENERATED TABLE: go test ./socketmap/ -run TestPostfix -update-postfix -->"
	postfixEnd     = "<!-- END GENERATED TABLE -->"
	// senderAddr is the Postfix instance's own address (smtpd), outside
	// every testworld block (127.X.Y.0/24 with X ≥ 1).
	senderAddr = "127.0.0.25"
)

// postfixOutcome is what a real Postfix did with one message to a
// scenario's domain through daned's socketmap.
type postfixOutcome struct {
	Scenario string `json:"scenario"`
	RFC      string `json:"rfc"`
	// Reply is daned's socketmap reply to "QUERY <domain>"; Asked counts
	// the lookups Postfix made for the domain (none when Postfix's own
	// MX lookup failed first).
	Reply string `json:"reply"`
	Asked int    `json:"asked"`
	// Verdict is daned's full verdict (with probes), as the gRPC door
	// gives it.
	Verdict string `json:"verdict"`
	Action  string `json:"action"`
	// Status, DSN, Relay and Detail come from Postfix's log line for the
	// recipient; TLS is the level of the TLS session that carried the
	// message ("Verified", "Trusted", "Untrusted"), "" without one.
	Status string `json:"status"`
	DSN    string `json:"dsn"`
	Relay  string `json:"relay"`
	TLS    string `json:"tls"`
	Detail string `json:"detail"`
	// Received: the world's server of the relay host has the message.
	Received bool `json:"received"`
	// Logged is the reason of a TEMP reply as Postfix's log gives it.
	Logged  string `json:"logged,omitempty"`
	Warning string `json:"warning,omitempty"`
}

// expectation is the outcome the RFCs require for a scenario, given
// daned's reply.
type expectation struct {
	reply  string // prefix of the socketmap reply
	status string // sent, deferred or bounced
	tls    string // Verified, Trusted or Untrusted for sent mail
	relay  string // the host that must take the mail, when it matters
}

var (
	daneOK      = expectation{reply: "OK dane-only", status: "sent", tls: "Verified"}
	daneFail    = expectation{reply: "OK dane-only", status: "deferred"}
	noDANE      = expectation{reply: "NOTFOUND ", status: "sent", tls: "Untrusted"}
	dnssecFail  = expectation{reply: "TEMP 4.7.324 dnssec-invalid: ", status: "deferred"}
	noMailReply = expectation{reply: "NOTFOUND ", status: "bounced"}
)

// postfixExpect holds, for every scenario of the standard catalogue, the
// delivery outcome the RFCs require. A scenario missing here fails the
// test: a new scenario needs its outcome decided.
var postfixExpect = map[string]expectation{
	"ee-spki.test":         daneOK,
	"ee-cert.test":         daneOK,
	"ta.test":              daneOK,
	"ta-intermediate.test": daneOK,
	"mismatch.test":        daneFail, // RFC 7672 §3: no record matches
	"nostarttls.test":      daneFail, // RFC 7672 §2.2: TLS is mandatory
	"unsigned.test":        noDANE,   // RFC 7672 §2.2.1: opportunistic TLS
	"notlsa.test":          noDANE,   // RFC 7672 §2.2 (3): secure denial
	// Bogus zones: Postfix's own MX lookup fails before any policy
	// lookup; either way the mail waits (RFC 7672 §2.1.1).
	"expired-rrsig.test": {status: "deferred"},
	"ds-mismatch.test":   {status: "deferred"},
	"future-rrsig.test":  {status: "deferred"},
	"no-dnskey.test":     {status: "deferred"},
	// RFC 7672 §2.1.2: a failed TLSA lookup makes the host unusable.
	"tlsa-servfail.test":       dnssecFail,
	"tlsa-timeout.test":        dnssecFail,
	"tlsa-nosig.test":          dnssecFail,
	"tlsa-nodenial.test":       dnssecFail,
	"tlsa-nodenial-nsec3.test": dnssecFail,
	// RFC 7672 §3.1.3: only unusable records: TLS without authentication.
	"pkix-only.test":          {reply: "OK dane", status: "sent", tls: "Untrusted"},
	"tlsa-all-malformed.test": {reply: "OK dane", status: "sent", tls: "Untrusted"},
	// RFC 7672 §2.2.1: mx1 fails authentication, mx2 takes the mail.
	"two-mx.test":                  {reply: "OK dane-only", status: "sent", tls: "Verified", relay: "mx2.two-mx.test"},
	"nullmx.test":                  noMailReply, // RFC 7505 §3
	"nxdomain.test":                noMailReply, // RFC 5321 §5.1
	"ta-expired.test":              daneFail,
	"refused.test":                 daneFail,
	"nsec3-notlsa.test":            noDANE,
	"nsec3-ee.test":                daneOK,
	"starttls-refused.test":        daneFail,
	"ee-expired.test":              daneOK, // RFC 7672 §3.1.1: dates ignored for DANE-EE
	"ee-notyet.test":               daneOK,
	"ta-notyet.test":               daneFail,
	"ta-badname.test":              daneFail,
	"ta-wildcard.test":             daneOK,
	"ta-domain-name.test":          daneOK,
	"ta-leaf-only.test":            daneFail,
	"ta-full-cert.test":            daneOK,
	"ta-cn-only.test":              daneOK,
	"ta-cn-san.test":               daneFail,
	"ta-expired-intermediate.test": daneFail,
	// RFC 7672 §2.2.1: the more-preferred host without TLSA is not
	// pre-empted by the one with TLSA.
	"partial-tlsa.test": {reply: "OK dane", status: "sent", tls: "Untrusted", relay: "mx1.partial-tlsa.test"},
	"cname-mx.test":     daneOK,
	"tlsa-cname.test":   daneOK,
	// RFC 7672 §2.2.1: insecure MX, secure host: DANE may be used, and
	// Postfix reports it as Trusted, not Verified.
	"insecure-mx.test":           {reply: "OK dane", status: "sent", tls: "Trusted"},
	"ipv6.test":                  daneOK,
	"big-tlsa.test":              daneOK,
	"digest-agility.test":        daneOK,
	"cname-orig-tlsa.test":       daneOK,
	"cname-two-link.test":        noDANE, // RFC 7671 §7
	"cname-insecure-target.test": daneOK,
	"cname-insecure-start.test":  noDANE, // RFC 7672 §2.2.2
	"mx-cname.test":              daneOK,
	"mx-servfail-a.test":         {reply: "OK dane-only", status: "sent", tls: "Verified", relay: "mx2.mx-servfail-a.test"},
	"all-hosts-fail.test":        daneFail,
	"multi-addr.test":            daneOK,
	"insecure-host.test":         noDANE,
	"implicit-mx.test":           daneOK,
	"agility-weak-match.test":    daneFail, // RFC 7671 §9
	"tlsa-malformed.test":        daneOK,
	"tlsa-uppercase.test":        daneOK,
}

// TestPostfix delivers one message to every scenario of the test world
// through a real Postfix (Debian's) whose smtp_tls_policy_maps is
// daned's socketmap, and checks each outcome: delivered with the right
// TLS level, deferred, or bounced, as the RFCs require. It also checks
// that Postfix's action is the action of daned's full verdict.
//
// It runs inside private network and mount namespaces (the test
// re-executes itself under unshare), where the world's SMTP servers also
// listen on port 25, a validating Unbound on 127.0.0.1:53 and a private
// resolv.conf serve Postfix, and the Postfix instance has its own
// configuration and queue directories, chroot off. The machine's own
// resolv.conf, ports and Postfix are never touched.
func TestPostfix(t *testing.T) {
	if out := os.Getenv(postfixChildEnv); out != "" {
		runPostfixChild(t, out)
		return
	}
	results := runPostfixInNamespaces(t)
	byName := map[string]postfixOutcome{}
	for _, r := range results {
		byName[r.Scenario] = r
	}
	for name := range postfixExpect {
		if _, ok := byName[name]; !ok {
			t.Errorf("%s: expected an outcome, but it is not a scenario of the world", name)
		}
	}
	for _, r := range results {
		exp, ok := postfixExpect[r.Scenario]
		if !ok {
			t.Errorf("%s: no expected outcome: decide it from the RFCs and add it to postfixExpect (got %+v)", r.Scenario, r)
			continue
		}
		if r.Warning != "" {
			t.Errorf("%s: %s", r.Scenario, r.Warning)
		}
		if !strings.HasPrefix(r.Reply, exp.reply) {
			t.Errorf("%s: daned replied %q, want %q…", r.Scenario, r.Reply, exp.reply)
		}
		if r.Status != exp.status {
			t.Errorf("%s: Postfix status=%s (%s), want %s", r.Scenario, r.Status, r.Detail, exp.status)
		}
		if exp.status == "sent" {
			if r.TLS != exp.tls {
				t.Errorf("%s: delivered over %q TLS, want %q", r.Scenario, r.TLS, exp.tls)
			}
			if !r.Received {
				t.Errorf("%s: Postfix says sent to %s, but that server has no such message", r.Scenario, r.Relay)
			}
		}
		if exp.status != "sent" && r.Received {
			t.Errorf("%s: Postfix says %s, yet a server of the world received the message", r.Scenario, r.Status)
		}
		if exp.relay != "" && r.Relay != exp.relay {
			t.Errorf("%s: delivered by %s, want %s", r.Scenario, r.Relay, exp.relay)
		}
		if want := map[string]string{"DELIVER": "sent", "DEFER": "deferred", "REJECT": "bounced"}[r.Action]; want != r.Status {
			t.Errorf("%s: daned's verdict is %s but Postfix through the socketmap did status=%s", r.Scenario, r.Verdict, r.Status)
		}
		if strings.HasPrefix(exp.reply, "TEMP") && !strings.HasPrefix(r.Logged, strings.TrimPrefix(exp.reply, "TEMP ")) {
			t.Errorf("%s: Postfix's log does not give daned's reason (%q)", r.Scenario, r.Logged)
		}
		if exp.reply != "" && exp.status != "bounced" && r.Asked == 0 {
			t.Errorf("%s: Postfix never asked daned's socketmap", r.Scenario)
		}
	}
	table := renderPostfixTable(results)
	// The same table stands in docs/POSTFIX.md and, next to the gRPC
	// conformance results, in docs/CONFORMANCE.md.
	for _, path := range []string{postfixDoc, conformanceDoc} {
		doc, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.Index(doc, []byte(postfixBegin))
		j := -1
		if i >= 0 {
			if k := bytes.Index(doc[i:], []byte(postfixEnd)); k >= 0 {
				j = i + k // the end marker after this table's begin marker
			}
		}
		if i < 0 || j < i {
			t.Fatalf("%s lacks the markers %q … %q", path, postfixBegin, postfixEnd)
		}
		newDoc := string(doc[:i+len(postfixBegin)]) + "\n\n" + table + "\n" + string(doc[j:])
		if *updatePostfix {
			if err := os.WriteFile(path, []byte(newDoc), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if newDoc != string(doc) {
			t.Errorf("%s is out of date: rerun `go test ./socketmap/ -run TestPostfix -update-postfix`; the table would be:\n%s", path, table)
		}
	}
}

var worldAddr = regexp.MustCompile(`127\.\d+\.\d+\.\d+`)

func renderPostfixTable(results []postfixOutcome) string {
	var b strings.Builder
	b.WriteString("| scenario | RFC | daned's socketmap reply | lookups | Postfix | TLS | relay | Postfix's reason | daned verdict (gRPC, with probes) |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	cell := func(s string) string {
		if s == "" {
			return "—"
		}
		return strings.ReplaceAll(s, "|", `\|`)
	}
	for _, r := range results {
		reply := r.Reply
		if len(reply) > 60 {
			reply = reply[:60] + "…"
		}
		status := r.Status
		if r.Status != "sent" {
			status += " (" + r.DSN + ")"
		}
		why := ""
		if r.Status != "sent" {
			why = r.Detail
			if r.Logged != "" {
				why += "; log: " + r.Logged
			}
			// The world's block is chosen at random: the table shows none
			// of its addresses.
			why = worldAddr.ReplaceAllString(why, "127.X.Y.n")
			if len(why) > 110 {
				why = why[:110] + "…"
			}
		}
		fmt.Fprintf(&b, "| `%s` | %s | `%s` | %d | %s | %s | %s | %s | %s |\n", r.Scenario, cell(r.RFC), reply, r.Asked, status, cell(r.TLS), cell(r.Relay), cell(why), cell(r.Verdict))
	}
	return b.String()
}

// runPostfixInNamespaces re-executes this test inside `unshare --net
// --mount --propagation private` and returns what the child measured.
func runPostfixInNamespaces(t *testing.T) []postfixOutcome {
	t.Helper()
	unshare, err := conformance.UnshareBinary()
	if err != nil {
		t.Fatalf("%v (this test must not be skipped)", err)
	}
	for _, f := range []func() (string, error){conformance.IPBinary, testworld.UnboundBinary, postfixBinary} {
		if _, err := f(); err != nil {
			t.Fatalf("%v (this test must not be skipped; `make debian-tools` installs everything)", err)
		}
	}
	if os.Geteuid() != 0 {
		t.Fatal("the Postfix test needs root: it creates network and mount namespaces, binds port 25 and 53 inside them, bind-mounts a private /etc/resolv.conf there and runs a Postfix instance")
	}
	out := filepath.Join(t.TempDir(), "results.json")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := []string{"--net", "--mount", "--propagation", "private", "--", os.Args[0],
		"-test.run=^TestPostfix$", "-test.count=1", "-test.timeout=5m", "-test.v"}
	cmd := exec.CommandContext(ctx, unshare, args...)
	cmd.Env = append(os.Environ(), postfixChildEnv+"="+out)
	cmd.WaitDelay = 5 * time.Second
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child in private namespaces (%s %s): %v\n%s", unshare, strings.Join(args, " "), err, b)
	}
	if testing.Verbose() {
		t.Logf("child:\n%s", b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("child wrote no results: %v\n%s", err, b)
	}
	if keep := os.Getenv("DANED_POSTFIX_RESULTS"); keep != "" {
		if err := os.WriteFile(keep, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var results []postfixOutcome
	if err := json.Unmarshal(data, &results); err != nil {
		t.Fatal(err)
	}
	if len(results) == 0 {
		t.Fatal("no scenario measured")
	}
	return results
}

// errNoPostfix names the package to install.
var errNoPostfix = errors.New("postfix not found: install it with " +
	"`echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections && " +
	"DEBIAN_FRONTEND=noninteractive apt-get install -y postfix` (or `make debian-tools`)")

// postfixBinary finds postfix(1).
func postfixBinary() (string, error) {
	if p, err := exec.LookPath("postfix"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/postfix", "/usr/local/sbin/postfix"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errNoPostfix
}

// countingValidator counts the validations of each domain.
type countingValidator struct {
	next socketmap.Validator
	mu   sync.Mutex
	n    map[string]int
}

func (c *countingValidator) Validate(ctx context.Context, domain string, opts engine.Options) (*engine.Result, error) {
	c.mu.Lock()
	c.n[strings.ToLower(strings.TrimSuffix(domain, "."))]++
	c.mu.Unlock()
	return c.next.Validate(ctx, domain, opts)
}

func (c *countingValidator) count(domain string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[domain]
}

// runPostfixChild is the part of TestPostfix that runs inside the private
// namespaces: it owns every 127/8 address, ports 25 and 53, and its mounts.
func runPostfixChild(t *testing.T, out string) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ip, err := conformance.IPBinary()
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"link", "set", "lo", "up"}, {"addr", "add", senderAddr + "/32", "dev", "lo"}} {
		if b, err := exec.CommandContext(ctx, ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, b)
		}
	}

	w := testworld.StartT(t, testworld.Options{})
	if err := w.ServeSMTPAlsoOn(25); err != nil {
		t.Fatal(err)
	}
	u, err := testworld.StartUnboundOn(ctx, w, t.TempDir(), 53)
	if err != nil {
		t.Fatalf("unbound on 127.0.0.1:53: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("unbound logs:\n%s", u.Logs())
		}
		_ = u.Close()
	})
	rc := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(rc, []byte(conformance.ResolvConf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount(rc, "/etc/resolv.conf", "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("bind-mount a private /etc/resolv.conf: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount("/etc/resolv.conf", 0) })

	// daned: the engine on the world, and its socketmap.
	ec := danedtest.EngineConfig(w, "127.0.0.1:53")
	ec.ProbePort = 25 // where Postfix delivers, in this private network namespace
	ec.ProbeStepTimeout = 4 * time.Second
	built, err := ec.Build()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = built.Close() })
	counter := &countingValidator{next: built.Engine, n: map[string]int{}}
	srv, err := socketmap.New(socketmap.Config{Validator: counter, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-served
	})

	pf := startPostfix(t, ctx, ln.Addr().(*net.TCPAddr).Port)

	scenarios := w.Scenarios()
	if err := inject(senderAddr+":25", scenarios); err != nil {
		t.Fatalf("handing the messages to Postfix: %v\n%s", err, pf.log())
	}
	recipients := make([]string, len(scenarios))
	for i, sc := range scenarios {
		recipients[i] = "u@" + sc.Domain
	}
	lines, err := pf.waitForStatus(ctx, recipients, 3*time.Minute)
	if err != nil {
		t.Fatalf("%v\n%s", err, pf.log())
	}

	// daned's own view: the socketmap reply and the full verdict.
	// Every host of the world, helpers' included (an MX may point into a
	// helper zone).
	hosts := map[string]bool{}
	for _, spec := range testworld.Catalogue() {
		for _, h := range spec.Hosts {
			name := h.Name + "." + spec.Name + ".test"
			if h.Name == "@" {
				name = spec.Name + ".test"
			}
			hosts[name] = true
		}
	}
	results := make([]postfixOutcome, len(scenarios))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, sc := range scenarios {
		st := lines[recipients[i]]
		results[i] = postfixOutcome{Scenario: sc.Domain, RFC: sc.RFC, Asked: counter.count(sc.Domain),
			Status: st.status, DSN: st.dsn, Relay: st.relay, TLS: st.tls, Detail: st.detail}
		for _, l := range strings.Split(pf.log(), "\n") {
			// warning: socketmap:inet:127.0.0.1:PORT:QUERY socketmap server temporary error: 4.7.324 dnssec-invalid: …
			if _, reason, ok := strings.Cut(l, "socketmap server temporary error: "); ok && strings.Contains(reason, sc.Domain) {
				results[i].Logged = reason
			}
		}
		for h := range hosts {
			for _, m := range w.Received(h) {
				if !slices.ContainsFunc(m.To, func(to string) bool { return strings.Contains(to, "<"+recipients[i]+">") }) {
					continue
				}
				results[i].Received = true
				if m.TLS != (st.tls != "") {
					results[i].Warning = fmt.Sprintf("%s received the message with TLS=%v, but Postfix logged TLS %q", h, m.TLS, st.tls)
				}
			}
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i].Reply = queryOnce(ln.Addr().String(), "QUERY "+sc.Domain)
			vctx, cancel := context.WithTimeout(ctx, 40*time.Second)
			defer cancel()
			res, err := built.Engine.Validate(vctx, sc.Domain, engine.Options{})
			if err != nil {
				results[i].Warning = "daned's full validation failed: " + err.Error()
				return
			}
			v := res.Verdict
			code := v.Status.Code
			if code == "" {
				code = "—"
			}
			results[i].Action = v.Action.String()
			results[i].Verdict = fmt.Sprintf("%s / %s / %s / %s", v.Action, v.Policy, v.Reason, code)
		})
	}
	wg.Wait()
	b, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// queryOnce asks daned's socketmap one question on a fresh connection.
func queryOnce(addr, req string) string {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "error: " + err.Error()
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(45 * time.Second))
	if _, err := nc.Write(socketmap.AppendNetstring(nil, req)); err != nil {
		return "error: " + err.Error()
	}
	p, err := socketmap.ReadNetstring(bufio.NewReader(nc), nil, socketmap.MaxReply)
	if err != nil {
		return "error: " + err.Error()
	}
	return string(p)
}

// inject hands one message per scenario to Postfix's smtpd, with the
// null sender so that no bounce is generated.
func inject(addr string, scenarios []testworld.Scenario) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("tester.daned.test"); err != nil {
		return err
	}
	for _, sc := range scenarios {
		if err := c.Mail(""); err != nil {
			return err
		}
		if err := c.Rcpt("u@" + sc.Domain); err != nil {
			return fmt.Errorf("RCPT u@%s: %w", sc.Domain, err)
		}
		wc, err := c.Data()
		if err != nil {
			return err
		}
		fmt.Fprintf(wc, "From: <>\r\nTo: <u@%s>\r\nSubject: %s\r\n\r\ndaned socketmap end-to-end test\r\n", sc.Domain, sc.Domain)
		if err := wc.Close(); err != nil {
			return err
		}
	}
	return c.Quit()
}

// postfix is a running private Postfix instance.
type postfix struct {
	bin, dir, maillog string
	cmd               *exec.Cmd
	exited            chan struct{}
}

// mainCF is the instance's main.cf: DNSSEC lookups and the dane level,
// with daned's socketmap as the TLS policy table, as docs/POSTFIX.md
// recommends; everything else keeps the instance private and quick.
const mainCF = `compatibility_level = 3.6
queue_directory = {dir}/queue
data_directory = {dir}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = sender.daned.test
mydomain = daned.test
myorigin = $myhostname
mydestination =
relayhost =
inet_interfaces = {addr}
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_tls_security_level = none
maillog_file = {dir}/maillog
maillog_file_prefixes = {dir}
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtp_host_lookup = dns
smtp_dns_support_level = dnssec
smtp_tls_security_level = dane
smtp_tls_policy_maps = socketmap:inet:127.0.0.1:{port}:QUERY
smtp_tls_loglevel = 1
smtp_connect_timeout = 10s
smtp_helo_timeout = 20s
smtp_connection_cache_on_demand = no
queue_run_delay = 3600s
minimal_backoff_time = 3600s
maximal_backoff_time = 7200s
`

// masterCF runs every service without chroot.
const masterCF = `smtp      inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`

// startPostfix writes a private instance (config, queue and data
// directories in a fresh directory the postfix user can reach), starts
// its master in the foreground and waits for it; t.Cleanup stops it.
func startPostfix(t *testing.T, ctx context.Context, socketmapPort int) *postfix {
	t.Helper()
	bin, err := postfixBinary()
	if err != nil {
		t.Fatal(err)
	}
	pu, err := user.Lookup("postfix")
	if err != nil {
		t.Fatalf("the postfix user: %v (install Postfix from Debian)", err)
	}
	uid, _ := strconv.Atoi(pu.Uid)
	// Not t.TempDir: its parents are private to root, and Postfix's
	// daemons run as the postfix user.
	dir, err := os.MkdirTemp("", "daned-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	for _, d := range []string{dir, filepath.Join(dir, "etc"), filepath.Join(dir, "queue"), filepath.Join(dir, "data")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(filepath.Join(dir, "data"), uid, -1); err != nil {
		t.Fatal(err)
	}
	cf := strings.NewReplacer("{dir}", dir, "{addr}", senderAddr, "{port}", strconv.Itoa(socketmapPort)).Replace(mainCF)
	if err := os.WriteFile(filepath.Join(dir, "etc", "main.cf"), []byte(cf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "master.cf"), []byte(masterCF), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &postfix{bin: bin, dir: dir, maillog: filepath.Join(dir, "maillog"), exited: make(chan struct{})}
	p.cmd = exec.Command(bin, "-c", filepath.Join(dir, "etc"), "start-fg")
	stderr, err := os.Create(filepath.Join(dir, "postfix.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	p.cmd.Stdout, p.cmd.Stderr = stderr, stderr
	// Its own process group, so that a stop that fails can still kill
	// every process of the instance.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() { p.stop(t) })
	if err := p.waitFor(ctx, 30*time.Second, func(log string) bool { return strings.Contains(log, "daemon started") }); err != nil {
		t.Fatalf("Postfix did not start: %v\n%s", err, p.log())
	}
	return p
}

// stop stops the instance: postfix stop, then SIGKILL to its process
// group if it lingers.
func (p *postfix) stop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_ = exec.CommandContext(ctx, p.bin, "-c", filepath.Join(p.dir, "etc"), "stop").Run()
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		t.Log("postfix stop did not end the master; killing its process group")
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
	if t.Failed() {
		t.Logf("Postfix log:\n%s", p.log())
	}
}

// log returns the instance's log and start-up output.
func (p *postfix) log() string {
	b, _ := os.ReadFile(p.maillog)
	o, _ := os.ReadFile(filepath.Join(p.dir, "postfix.out"))
	return string(b) + string(o)
}

// waitFor polls the log (bounded) until cond holds or the master exits.
func (p *postfix) waitFor(ctx context.Context, limit time.Duration, cond func(string) bool) error {
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond(p.log()) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not in Postfix's log within %v", limit)
		}
		select {
		case <-p.exited:
			return errors.New("the Postfix master exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// statusLine is Postfix's first delivery status for a recipient.
type statusLine struct {
	status, dsn, relay, tls, detail string
}

var (
	// postfix/smtp[123]: 4AbC: to=<u@x.test>, relay=mx.x.test[127.1.2.3]:25, delay=…, dsn=2.0.0, status=sent (250 …)
	statusRE = regexp.MustCompile(`postfix/(?:smtp|error)\[(\d+)\]: \w+: to=<([^>]+)>, relay=([^,]+), .*dsn=([0-9.]+), status=(\w+) \((.*)\)$`)
	// postfix/smtp[123]: Verified TLS connection established to mx.x.test[127.1.2.3]:25: TLSv1.3 …
	tlsRE = regexp.MustCompile(`postfix/smtp\[(\d+)\]: (Verified|Trusted|Untrusted|Anonymous) TLS connection established to ([^\[]+)\[`)
)

// waitForStatus polls the log (bounded) until every recipient has a
// status line and returns each recipient's first one, with the TLS level
// of the session that delivered it.
func (p *postfix) waitForStatus(ctx context.Context, recipients []string, limit time.Duration) (map[string]statusLine, error) {
	var got map[string]statusLine
	err := p.waitFor(ctx, limit, func(log string) bool {
		got = parseStatus(log)
		for _, r := range recipients {
			if _, ok := got[r]; !ok {
				return false
			}
		}
		return true
	})
	if err != nil {
		var missing []string
		for _, r := range recipients {
			if _, ok := got[r]; !ok {
				missing = append(missing, r)
			}
		}
		return nil, fmt.Errorf("no delivery status for %v: %w", missing, err)
	}
	return got, nil
}

// parseStatus reads the status lines of a Postfix log. A session's TLS
// line precedes its status line in the same smtp process.
func parseStatus(log string) map[string]statusLine {
	got := map[string]statusLine{}
	type tlsSeen struct{ level, host string }
	last := map[string]tlsSeen{}
	for _, l := range strings.Split(log, "\n") {
		if m := tlsRE.FindStringSubmatch(l); m != nil {
			last[m[1]] = tlsSeen{m[2], m[3]}
			continue
		}
		m := statusRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		pid, rcpt, relay := m[1], m[2], m[3]
		host, _, _ := strings.Cut(relay, "[")
		st := statusLine{status: m[5], dsn: m[4], relay: host, detail: m[6]}
		if s, ok := last[pid]; ok && s.host == host && st.status == "sent" {
			st.tls = s.level
		}
		delete(last, pid)
		if _, seen := got[rcpt]; !seen {
			got[rcpt] = st
		}
	}
	return got
}
