package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/daned/daned/internal/testca"
	"github.com/daned/daned/internal/testsmtp"
	"github.com/daned/daned/internal/testworld"
	"github.com/daned/daned/internal/tlsrpttest"
	danev1 "github.com/daned/daned/proto/dane/v1"
	"github.com/daned/daned/tlsrpt"
)

// reportsHost is the name of the HTTPS report reportReceiver.
const reportsHost = "reports.rpt.test"

// reportReceiver is a real HTTPS server taking reports: it keeps every POST and
// answers 503 while down.
type reportReceiver struct {
	mu    sync.Mutex
	down  bool
	posts []post
}

type post struct {
	contentType string
	body        []byte
	status      int
}

func (rc *reportReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	rc.mu.Lock()
	defer rc.mu.Unlock()
	st := http.StatusOK
	if rc.down || r.Method != http.MethodPost || r.URL.Path != "/v1" {
		st = http.StatusServiceUnavailable
	}
	rc.posts = append(rc.posts, post{r.Header.Get("Content-Type"), body, st})
	w.WriteHeader(st)
}

func (rc *reportReceiver) setDown(down bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.down = down
}

func (rc *reportReceiver) delivered() []post {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []post
	for _, p := range rc.posts {
		if p.status == http.StatusOK {
			out = append(out, p)
		}
	}
	return out
}

// startReceiver serves HTTPS on a loopback port with a certificate for
// reportsHost from a new root, written to the returned PEM file for
// daned's SSL_CERT_FILE.
func startReceiver(t *testing.T) (*reportReceiver, int, string) {
	t.Helper()
	now := time.Now()
	ca := testca.New(t, "Reports Root", now)
	_, cert := ca.Issue(t, testca.Leaf{DNSNames: []string{reportsHost}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)})
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	rc := &reportReceiver{}
	srv := &http.Server{Handler: rc, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	roots := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(roots, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return rc, ln.Addr().(*net.TCPAddr).Port, roots
}

var committedRE = regexp.MustCompile(`tlsrpt: counts committed" aggregates=\d+ sessions_counted=(\d+)`)

// waitCommitted waits until the process has logged a commit of at least
// n sessions.
func (p *process) waitCommitted(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		for _, m := range committedRE.FindAllStringSubmatch(p.out.String(), -1) {
			if c, _ := strconv.Atoi(m[1]); c >= n {
				return
			}
		}
		select {
		case <-p.done:
			t.Fatalf("daned exited before committing %d sessions:\n%s", n, p.out.String())
		case <-deadline:
			t.Fatalf("daned did not commit %d sessions within 60 s:\n%s", n, p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestTLSRPTEndToEnd: daned counts the sessions an MTA reports over gRPC
// and Postfix reports as datagrams, keeps the counts through kill -9, and
// sends one RFC 8460 report per policy domain and rua, over HTTPS to a
// real HTTPS server and as mail through a real SMTP server (aiosmtpd);
// a reportReceiver that is down gets the same report, same report-id, once it
// is back; policy domains whose TLSRPT record is duplicated or unusable
// get nothing.
func TestTLSRPTEndToEnd(t *testing.T) {
	bin := buildDaned(t)
	rc, port, roots := startReceiver(t)
	relay := testsmtp.Start(t, testsmtp.Options{})
	httpsRUA := fmt.Sprintf("https://%s:%d/v1", reportsHost, port)
	dane := func(name string, records ...string) testworld.ScenarioSpec {
		return testworld.ScenarioSpec{Name: name, Description: "TLS-RPT " + name, RFC: "RFC 8460", Expect: "pass (dane-ee)",
			Hosts:   []testworld.HostSpec{{Name: "mx", TLSA: []testworld.TLSASpec{{Usage: 3, Selector: 1, MatchingType: 1}}}},
			Records: records}
	}
	w := testworld.StartT(t, testworld.Options{Scenarios: []testworld.ScenarioSpec{
		dane("rpt", `_smtp._tls.mx.{z} 300 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@rpt.test,`+httpsRUA+`"`,
			"reports.{z} 300 IN A 127.0.0.1"),
		{Name: "plain", Description: "TLS-RPT without DANE", RFC: "RFC 8460", Expect: "pass (no DANE)", Unsigned: true,
			Hosts:   []testworld.HostSpec{{Name: "mx"}},
			Records: []string{`_smtp._tls.{z} 300 IN TXT "v=TLSRPTv1; rua=` + httpsRUA + `"`}},
		dane("dup", `_smtp._tls.mx.{z} 300 IN TXT "v=TLSRPTv1; rua=mailto:a@dup.test"`, `_smtp._tls.mx.{z} 300 IN TXT "v=TLSRPTv1; rua=mailto:b@dup.test"`),
		dane("badrua", `_smtp._tls.mx.{z} 300 IN TXT "v=TLSRPTv1; rua=ftp://reports.badrua.test/"`),
	}})
	u := testworld.StartUnboundT(t, w)
	allow := []string{"127.0.0.1/32"}
	for _, p := range w.ProbeAllow() {
		allow = append(allow, p.String())
	}
	dir := t.TempDir()
	socket := filepath.Join(dir, "tlsrpt.sock")
	args := []string{"--listen", "127.0.0.1:0", "--metrics-listen", "", "--lame-duck", "0s", "--log-level", "debug",
		"--resolver", u.Addr(), "--probe-port", strconv.Itoa(w.SMTPPort()), "--probe-allow", strings.Join(allow, ","),
		"--state-dir", filepath.Join(dir, "state"), "--mta-sts=false",
		"--tlsrpt", "--tlsrpt-org", "Example Fleet", "--tlsrpt-contact", "mailto:tlsrpt-admin@fleet.test",
		"--tlsrpt-submitter", "fleet.test", "--tlsrpt-smtp", relay.Addr, "--tlsrpt-socket", socket}
	env := []string{"SSL_CERT_FILE=" + roots}
	d := startProcess(t, bin, env, args)
	api := func(p *process) danev1.DaneServiceClient {
		conn, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return danev1.NewDaneServiceClient(conn)
	}
	c := api(d)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The sessions of the day, over gRPC, a minute ago unless that was
	// yesterday.
	now := time.Now().UTC()
	sessionTime := now
	if now.Sub(now.Truncate(24*time.Hour)) > time.Minute {
		sessionTime = now.Add(-time.Minute)
	}
	at := timestamppb.New(sessionTime)
	var batch []*danev1.SessionResult
	add := func(n int, r *danev1.SessionResult) {
		for range n {
			batch = append(batch, r)
		}
	}
	add(5, &danev1.SessionResult{Domain: "rpt.test", MxHost: "mx.rpt.test", Success: true, Time: at})
	add(3, &danev1.SessionResult{Domain: "rpt.test", MxHost: "mx.rpt.test", ResultType: "tlsa-invalid", ReceivingIp: "127.0.0.9", SendingMtaIp: "192.0.2.1", Time: at})
	add(2, &danev1.SessionResult{Domain: "plain.test", MxHost: "mx.plain.test", Success: true, Time: at})
	add(1, &danev1.SessionResult{Domain: "dup.test", MxHost: "mx.dup.test", Success: true, Time: at})
	add(1, &danev1.SessionResult{Domain: "badrua.test", MxHost: "mx.badrua.test", ResultType: "starttls-not-supported", Time: at})
	add(1, &danev1.SessionResult{Domain: "rpt.test", MxHost: "mx.rpt.test", ResultType: "no-such-type", Time: at})
	resp, err := c.ReportSessions(ctx, &danev1.ReportSessionsRequest{Results: batch})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetAccepted() != 12 || len(resp.GetRefused()) != 1 || resp.GetRefused()[0].GetIndex() != 12 {
		t.Fatalf("accepted %d, refused %v", resp.GetAccepted(), resp.GetRefused())
	}
	// And as Postfix's datagrams: three successes and one failure of
	// plain.test without a policy, and one malformed datagram.
	dg, err := net.Dial("unixgram", socket)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		`{"dpv": "1","d": "plain.test","pr": "v=TLSRPTv1; rua=x","policies":[{"policy-type":9,"policy-domain": "plain.test","t":0,"f":0}]}`,
		`{"dpv": "1","d": "plain.test","pr": "v=TLSRPTv1; rua=x","policies":[{"policy-type":9,"policy-domain": "plain.test","t":0,"f":0}]}`,
		`{"dpv": "1","d": "plain.test","pr": "v=TLSRPTv1; rua=x","policies":[{"policy-type":9,"policy-domain": "plain.test","t":0,"f":0}]}`,
		`{"dpv": "1","d": "plain.test","pr": "v=TLSRPTv1; rua=x","policies":[{"policy-type":9,"policy-domain": "plain.test","failure-details":[{"c":201,"s": "192.0.2.1","n": "mx.plain.test","r": "127.0.0.10"}],"t":1,"f":1}]}`,
		`{"dpv": "1","d": `,
	} {
		if _, err := dg.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	dg.Close()
	summary := func(c danev1.DaneServiceClient, domain string) (succ, fail int64) {
		t.Helper()
		r, err := c.TlsRptCounts(ctx, &danev1.TlsRptCountsRequest{Domain: domain})
		if err != nil {
			t.Fatal(err)
		}
		for _, rg := range r.GetRanges() {
			var pols []tlsrpt.PolicyResults
			if err := json.Unmarshal([]byte(rg.GetPoliciesJson()), &pols); err != nil {
				t.Fatal(err)
			}
			for _, p := range pols {
				succ, fail = succ+p.Summary.Successful, fail+p.Summary.Failed
			}
		}
		return succ, fail
	}
	// Datagrams are counted as they are read: wait for them.
	for deadline := time.Now().Add(30 * time.Second); ; {
		if s, f := summary(c, "plain.test"); s == 5 && f == 1 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("plain.test counts %d/%d, want 5 successful and 1 failed:\n%s", s, f, d.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s, f := summary(c, "rpt.test"); s != 5 || f != 3 {
		t.Fatalf("rpt.test counts %d/%d, want 5/3", s, f)
	}
	// kill -9 once every session counted is committed (12 over gRPC, 4
	// from datagrams): nothing is lost.
	d.waitCommitted(t, 16)
	d.kill()
	d = startProcess(t, bin, env, args)
	c = api(d)
	for domain, want := range map[string][2]int64{"rpt.test": {5, 3}, "plain.test": {5, 1}, "dup.test": {1, 0}, "badrua.test": {0, 1}} {
		if s, f := summary(c, domain); s != want[0] || f != want[1] {
			t.Errorf("after kill -9 and a restart, %s counts %d/%d, want %d/%d", domain, s, f, want[0], want[1])
		}
	}

	// The HTTPS reportReceiver is down: mail goes, HTTPS waits.
	rc.setDown(true)
	sent, err := c.SendReports(ctx, &danev1.SendReportsRequest{IncludeCurrentPeriod: true})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{} // policy domain → report-id
	var okN, failN int
	for _, r := range sent.GetReports() {
		if id, ok := ids[r.GetPolicyDomain()]; ok && id != r.GetReportId() {
			t.Errorf("%s: report-ids %s and %s for one report", r.GetPolicyDomain(), id, r.GetReportId())
		}
		ids[r.GetPolicyDomain()] = r.GetReportId()
		if r.GetOk() {
			okN++
		} else {
			failN++
		}
	}
	if okN != 1 || failN != 2 || ids["mx.rpt.test"] == "" || ids["plain.test"] == "" || len(ids) != 2 {
		t.Fatalf("first round: %v", sent.GetReports())
	}
	// Late sessions of the reported range are refused, not counted.
	resp, err = c.ReportSessions(ctx, &danev1.ReportSessionsRequest{Results: batch[:1]})
	if err != nil || resp.GetAccepted() != 0 || !strings.Contains(resp.GetRefused()[0].GetReason(), "reported already") {
		t.Fatalf("a late session: %v %v", resp, err)
	}
	// Back up: the same reports, once.
	rc.setDown(false)
	sent, err = c.SendReports(ctx, &danev1.SendReportsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sent.GetReports()) != 2 {
		t.Fatalf("second round: %v", sent.GetReports())
	}
	for _, r := range sent.GetReports() {
		if !r.GetOk() || r.GetReportId() != ids[r.GetPolicyDomain()] || !strings.HasPrefix(r.GetRua(), "https:") {
			t.Errorf("second round: %v", r)
		}
	}
	if sent, err = c.SendReports(ctx, &danev1.SendReportsRequest{IncludeCurrentPeriod: true}); err != nil || len(sent.GetReports()) != 0 {
		t.Fatalf("third round sent again: %v %v", sent.GetReports(), err)
	}

	// What the receivers got: one report per policy domain and rua, each
	// valid by RFC 8460 §4.4, with exact counts.
	check := func(gz []byte, domain string, succ, fail int64) {
		t.Helper()
		js, err := tlsrpttest.Gunzip(gz)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlsrpttest.Check(js); err != nil {
			t.Fatalf("%s: %v\n%s", domain, err, js)
		}
		var r tlsrpt.Report
		if err := json.Unmarshal(js, &r); err != nil {
			t.Fatal(err)
		}
		var s, f int64
		for _, p := range r.Policies {
			if p.Policy.Domain != domain {
				t.Errorf("%s's report holds policy domain %s", domain, p.Policy.Domain)
			}
			s, f = s+p.Summary.Successful, f+p.Summary.Failed
		}
		if s != succ || f != fail || r.ReportID != ids[domain] || r.OrganizationName != "Example Fleet" || r.ContactInfo != "mailto:tlsrpt-admin@fleet.test" {
			t.Errorf("%s: report %+v, want %d/%d", domain, r, succ, fail)
		}
		if domain == "mx.rpt.test" && (r.Policies[0].Policy.Type != tlsrpt.PolicyTLSA || len(r.Policies[0].Policy.Strings) != 1 ||
			!strings.HasPrefix(r.Policies[0].Policy.Strings[0], "3 1 1 ")) {
			t.Errorf("the DANE policy: %+v", r.Policies[0].Policy)
		}
		t.Logf("%s: %s", domain, js)
	}
	posts := rc.delivered()
	if len(posts) != 2 {
		t.Fatalf("the HTTPS reportReceiver took %d reports, want 2", len(posts))
	}
	for _, p := range posts {
		if p.contentType != "application/tlsrpt+gzip" {
			t.Errorf("content type %q", p.contentType)
		}
		js, _ := tlsrpttest.Gunzip(p.body)
		if strings.Contains(string(js), `"mx.rpt.test"`) {
			check(p.body, "mx.rpt.test", 5, 3)
		} else {
			check(p.body, "plain.test", 5, 1)
		}
	}
	msgs := relay.Messages(t)
	if len(msgs) != 1 || strings.Join(msgs[0].Meta.RcptTos, ",") != "tlsrpt@rpt.test" {
		t.Fatalf("the relay kept %d messages, want one to tlsrpt@rpt.test", len(msgs))
	}
	check(attachment(t, msgs[0].Raw), "mx.rpt.test", 5, 3)
}

// attachment returns the application/tlsrpt+gzip part of a report mail.
func attachment(t *testing.T, raw []byte) []byte {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get("TLS-Required") != "No" || m.Header.Get("TLS-Report-Submitter") != "fleet.test" {
		t.Errorf("headers %v", m.Header)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "tlsrpt" {
		t.Fatalf("content type %s %v %v", mt, params, err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("no application/tlsrpt+gzip part: %v", err)
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "application/tlsrpt+gzip") {
			b, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, bufio.NewReader(p)))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}
