package server_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/daned/daned/engine"
	"github.com/daned/daned/internal/danedtest"
	"github.com/daned/daned/internal/testworld"
	"github.com/daned/daned/probe"
	danev1 "github.com/daned/daned/proto/dane/v1"
	"github.com/daned/daned/resolver"
	"github.com/daned/daned/server"
)

var update = flag.Bool("update", false, "rewrite server/testdata/*.golden from the responses of this run")

// goldenEnv is a test world, a real Unbound validating it, and daned
// serving real gRPC on loopback, with the engine's clock fixed at the
// world's reference time.
type goldenEnv struct {
	world  *testworld.World
	unb    *testworld.Unbound
	client danev1.DaneServiceClient
	norm   *normalizer
}

// startGolden is startE2E with a fixed engine clock. The engine is built
// here rather than through config.EngineFlags.Build, which has no clock
// setting: the flags never need one, only the tests do.
func startGolden(t *testing.T, opts testworld.Options) *goldenEnv {
	t.Helper()
	if opts.Now.IsZero() {
		// Whole seconds: certificate dates have no fraction, so every
		// timestamp of a response is then a whole offset from now.
		// Unbound checks RRSIG dates against the real clock, so the
		// reference stays the real time.
		opts.Now = time.Now().UTC().Truncate(time.Second)
	}
	w := testworld.StartT(t, opts)
	u := testworld.StartUnboundT(t, w)
	res, err := resolver.New(resolver.Config{Server: u.Addr(), Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	pr, err := probe.New(probe.Config{HeloName: "daned.test", Port: w.SMTPPort(), Timeout: 10 * time.Second, StepTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	now := w.Now()
	eng, err := engine.New(engine.Config{
		Resolver:         res,
		Prober:           pr,
		Targets:          probe.TargetPolicy{Allow: w.ProbeAllow()},
		Now:              func() time.Time { return now },
		InsecureMX:       engine.InsecureMXDANE,
		MaxMXHosts:       10,
		ProbeConcurrency: 32,
		FailureTTL:       30 * time.Second,
		Timeout:          30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Verdicts: danedtest.Verdicts(t, eng, 0)})
	if err != nil {
		t.Fatal(err)
	}
	conn := danedtest.Serve(t, srv)
	return &goldenEnv{world: w, unb: u, client: danev1.NewDaneServiceClient(conn), norm: newNormalizer(w, u)}
}

func (e *goldenEnv) validate(t *testing.T, domain string) *danev1.ValidateResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := e.client.Validate(ctx, &danev1.ValidateRequest{Domain: domain})
	if err != nil {
		t.Fatalf("Validate(%q): %v", domain, err)
	}
	if got, want := resp.GetCheckedAt().AsTime(), e.world.Now(); !got.Equal(want) {
		t.Errorf("checked_at %v, want the engine's fixed clock %v", got, want)
	}
	return resp
}

// goldenDir holds one <domain>.golden per scenario.
const goldenDir = "testdata"

// TestGolden pins the whole response of every scenario of the standard
// catalogue. Run `go test ./server -run TestGolden -update` after a
// deliberate change and review the diff of server/testdata.
func TestGolden(t *testing.T) {
	e := startGolden(t, testworld.Options{})
	want := map[string]bool{}
	for _, d := range idnGoldenDomains() {
		want[d] = true // written by TestGoldenIDN
	}
	for _, d := range stsGoldenDomains() {
		want[d] = true // written by TestGoldenSTS
	}
	t.Run("scenarios", func(t *testing.T) {
		for _, sc := range e.world.Scenarios() {
			want[sc.Domain] = true
			t.Run(sc.Domain, func(t *testing.T) {
				t.Parallel()
				checkGolden(t, e.norm, e.validate(t, sc.Domain))
			})
		}
	})
	checkStale(t, want)
}

// checkGolden compares the normalised response with testdata/<domain>.golden,
// or rewrites that file under -update.
func checkGolden(t *testing.T, n *normalizer, resp *danev1.ValidateResponse) {
	t.Helper()
	got := marshalGolden(t, n.normalize(resp))
	path := filepath.Join(goldenDir, resp.GetDomain()+".golden")
	if *update {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		t.Fatalf("%s is missing: run `go test ./server -run TestGolden -update` and review it", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("response differs from %s (- want, + got); if the change is deliberate, run `go test ./server -run TestGolden -update`:\n%s",
			path, lineDiff(string(want), string(got)))
	}
}

// checkStale fails on golden files of scenarios that no longer exist (or
// removes them under -update).
func checkStale(t *testing.T, want map[string]bool) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.golden"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		d := strings.TrimSuffix(filepath.Base(f), ".golden")
		if want[d] {
			continue
		}
		if *update {
			t.Logf("removing %s: no scenario %s any more", f, d)
			if err := os.Remove(f); err != nil {
				t.Error(err)
			}
			continue
		}
		t.Errorf("%s belongs to no scenario: remove it, or run `go test ./server -run TestGolden -update`", f)
	}
}

// marshalGolden renders a response as protojson in a stable layout:
// protojson deliberately varies its whitespace between builds, so the
// output is re-indented by encoding/json.
func marshalGolden(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := protojson.MarshalOptions{Multiline: true, UseProtoNames: true, Indent: "  "}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var compact, out bytes.Buffer
	if err := json.Compact(&compact, b); err != nil {
		t.Fatal(err)
	}
	if err := json.Indent(&out, compact.Bytes(), "", "  "); err != nil {
		t.Fatal(err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// goldenEpoch stands for the world's reference time ("now") in golden
// files: every timestamp t of a response is written as goldenEpoch +
// (t - now), so checked_at is 2000-01-01T00:00:00Z and a certificate
// valid from now-1h shows not_before 1999-12-31T23:00:00Z. The files stay
// valid protojson.
var goldenEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// normalizer replaces what legitimately varies between runs, and only
// that: the addresses and ports of the loopback world (random per run),
// the keys and certificates (generated per run, so every TLSA datum,
// certificate hash and the text quoting them), the reference time and
// dates derived from it, and probe durations.
//
// Volatile values are replaced by names, not erased: a certificate hash
// becomes the certificate it belongs to ("{spki-sha256 of leaf
// mx.ee-spki.test}"), an address the host and index it was published for
// ("{addr mx.ee-spki.test #0}"), a time its offset from now. A response
// that reports the wrong certificate or address therefore still differs.
type normalizer struct {
	world   *testworld.World
	mu      sync.Mutex      // guards the maps: subtests normalise in parallel
	known   map[string]bool // host names already added
	now     time.Time
	started time.Time // before Unbound cached any of the world's records
	block   netip.Prefix
	addrs   map[string]string // address text → placeholder
	hexes   map[string]string // lower-case hex → placeholder
	ports   map[string]string // port text → placeholder
	byShort map[string]string // first 16 hex digits → placeholder, for abbreviated data
}

func newNormalizer(w *testworld.World, u *testworld.Unbound) *normalizer {
	n := &normalizer{
		world:   w,
		known:   map[string]bool{},
		now:     w.Now(),
		started: time.Now(),
		block:   w.Block(),
		addrs:   map[string]string{},
		hexes:   map[string]string{},
		ports:   map[string]string{},
		byShort: map[string]string{},
	}
	n.ports[strconv.Itoa(w.SMTPPort())] = "{smtp port}"
	n.ports[strconv.Itoa(w.DNSPort())] = "{dns port}"
	if p := w.HTTPSPort(); p != 0 {
		n.ports[strconv.Itoa(p)] = "{https port}"
	}
	if _, p, err := net.SplitHostPort(u.Addr()); err == nil {
		n.ports[p] = "{unbound port}"
	}
	for _, z := range w.Zones() {
		if ap, err := netip.ParseAddrPort(z.Addr); err == nil {
			n.addrs[ap.Addr().String()] = "{ns " + z.Name + "}"
		}
	}
	n.addCert(w.PKI().Root.Cert, "root CA")
	n.addCert(w.PKI().Intermediate.Cert, "intermediate CA")
	for _, sc := range w.Scenarios() {
		for _, h := range sc.Hosts {
			n.addHost(h)
		}
	}
	return n
}

// addHost names a host's addresses, its leaf and its TLSA data.
func (n *normalizer) addHost(h testworld.Host) {
	if n.known[h.Name] {
		return
	}
	n.known[h.Name] = true
	i := 0
	for _, ap := range h.Addrs {
		if n.block.Contains(ap.Addr()) {
			n.addrs[ap.Addr().String()] = fmt.Sprintf("{addr %s #%d}", h.Name, i)
			i++
		}
	}
	for i, c := range h.Chain {
		if i == 0 {
			n.addCert(c, "leaf "+h.Name)
		} else {
			n.addCert(c, c.Subject.CommonName) // the world's CAs are named above
		}
	}
	// Records of certificates that are not in the world (OfOther): named
	// by the record that publishes them.
	for j, rec := range h.TLSA {
		f := strings.Fields(rec)
		if len(f) == 4 {
			n.addHex(strings.ToLower(f[3]), fmt.Sprintf("{tlsa data #%d of %s}", j, h.Name))
		}
	}
}

// learn adds the hosts a response names that belong to no listed
// scenario (the hosts of helper zones, reached through an MX or CNAME).
func (n *normalizer) learn(r *danev1.ValidateResponse) {
	for _, mx := range r.GetMxHosts() {
		for _, name := range append([]string{mx.GetName(), mx.GetTlsaBaseDomain()}, mx.GetCnameChain()...) {
			if h, ok := n.world.Host(name); ok {
				n.addHost(h)
			}
		}
	}
}

func (n *normalizer) addCert(c *x509.Certificate, label string) {
	for _, sel := range []uint8{0, 1} {
		for _, mt := range []uint8{0, 1, 2} {
			what := [...]string{"cert", "spki"}[sel] + "-" + [...]string{"full", "sha256", "sha512"}[mt]
			n.addHex(testworld.TLSAData(c, sel, mt), "{"+what+" of "+label+"}")
		}
	}
}

func (n *normalizer) addHex(h, label string) {
	if len(h) < 16 {
		return
	}
	if _, ok := n.hexes[h]; ok {
		return // the first name wins: certificates before records
	}
	n.hexes[h] = label
	if _, ok := n.byShort[h[:16]]; !ok {
		n.byShort[h[:16]] = label
	}
}

// normalize returns a normalised copy of r. It walks the message by
// reflection, so a field added to the API is covered without a change
// here: every string goes through text, every Timestamp is shifted to
// goldenEpoch, and every Duration named "elapsed" (a measurement) becomes
// zero. TTLs, enums, booleans, counts and indexes are kept as they are.
func (n *normalizer) normalize(r *danev1.ValidateResponse) *danev1.ValidateResponse {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.learn(r)
	c := proto.Clone(r).(*danev1.ValidateResponse)
	n.walk(c.ProtoReflect())
	return c
}

func (n *normalizer) walk(m protoreflect.Message) {
	switch v := m.Interface().(type) {
	case *timestamppb.Timestamp:
		t := goldenEpoch.Add(v.AsTime().Sub(n.now))
		v.Seconds, v.Nanos = t.Unix(), int32(t.Nanosecond())
		return
	case *durationpb.Duration:
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
		switch {
		case fd.IsList():
			l := val.List()
			for i := 0; i < l.Len(); i++ {
				if fd.Kind() == protoreflect.StringKind {
					l.Set(i, protoreflect.ValueOfString(n.text(l.Get(i).String())))
				} else if fd.Message() != nil {
					n.walk(l.Get(i).Message())
				}
			}
		case fd.IsMap():
			panic("normalizer: map fields are not handled: " + fd.FullName())
		case fd.Kind() == protoreflect.StringKind:
			m.Set(fd, protoreflect.ValueOfString(n.text(val.String())))
		case fd.Message() != nil:
			if fd.Message().FullName() == "google.protobuf.Duration" {
				switch fd.Name() {
				case "elapsed":
					m.Set(fd, protoreflect.ValueOfMessage((&durationpb.Duration{}).ProtoReflect()))
				case "ttl":
					m.Set(fd, protoreflect.ValueOfMessage(durationpb.New(worldTTL(val.Message().Interface().(*durationpb.Duration).AsDuration(), time.Since(n.started))).ProtoReflect()))
				}
				return true
			}
			n.walk(val.Message())
		}
		return true
	})
}

// worldTTL undoes Unbound's cache countdown: every record of the world
// has a TTL of 300s (negative answers 60s), and Unbound serves a record
// that another scenario put in its cache with its TTL counted down in
// whole seconds (insecure-mx.test reuses mx.ee-spki.test), so a verdict
// TTL may be short by up to the seconds the test has run. A TTL below one
// of the world's TTLs by no more than that (elapsed, plus Unbound's
// whole-second rounding) is written as that TTL, however slow a loaded
// machine makes the run; any other (the 30s failure TTL, a wrong TTL) is
// kept.
func worldTTL(d, elapsed time.Duration) time.Duration {
	slack := elapsed.Truncate(time.Second) + 2*time.Second
	for _, t := range []time.Duration{60 * time.Second, 300 * time.Second} {
		if d > t-slack && d < t && d > 30*time.Second {
			return t
		}
	}
	return d
}

var (
	// A timed-out DNS query is reported with its socket error; whether
	// the attempt's read deadline or the validation's context fired
	// first is a race, and the socket's ports are random.
	sockTimeout = regexp.MustCompile(`(context deadline exceeded: )?(read|write) (udp|tcp) \S+->\S+: i/o timeout`)
	hexRun      = regexp.MustCompile(`\b[0-9a-f]{16,}\b`)
	ipv4        = regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b`)
	hostPort    = regexp.MustCompile(`(\b\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]):(\d{1,5})\b`)
	timestamp   = regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})`)
	date        = regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}\b`)
)

// text replaces the volatile parts of a string: hex runs of 16 digits or
// more, addresses of the world, their ports, RFC 3339 timestamps and
// dates. Everything else (names, reasons, RFC references, wording) is
// kept.
func (n *normalizer) text(s string) string {
	s = hexRun.ReplaceAllStringFunc(s, func(h string) string {
		if l, ok := n.hexes[h]; ok {
			return l
		}
		if len(h) == 16 {
			if l, ok := n.byShort[h]; ok {
				return l // abbreviated data, followed by "…"
			}
		}
		return fmt.Sprintf("{hex %d}", len(h))
	})
	s = sockTimeout.ReplaceAllString(s, "{socket timeout}")
	// Ports first, while the address before them is still literal: the
	// world's and Unbound's ports are random, any other is ephemeral.
	s = hostPort.ReplaceAllStringFunc(s, func(m string) string {
		sub := hostPort.FindStringSubmatch(m)
		if l, ok := n.ports[sub[2]]; ok {
			return sub[1] + ":" + l
		}
		return sub[1] + ":{ephemeral port}"
	})
	s = ipv4.ReplaceAllStringFunc(s, func(a string) string {
		if l, ok := n.addrs[a]; ok {
			return l
		}
		if ip, err := netip.ParseAddr(a); err == nil && n.block.Contains(ip) {
			return "{addr in the world's block}"
		}
		return a
	})
	s = timestamp.ReplaceAllStringFunc(s, func(ts string) string {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return ts
		}
		return "{now" + offset(t.Sub(n.now)) + "}"
	})
	s = date.ReplaceAllStringFunc(s, func(d string) string {
		t, err := time.Parse(time.DateOnly, d)
		if err != nil {
			return d
		}
		today := n.now.UTC().Truncate(24 * time.Hour)
		return "{date today" + offset(t.Sub(today)) + "}"
	})
	return s
}

// offset renders a duration as "+30d", "-1h", "+0s".
func offset(d time.Duration) string {
	sign := "+"
	if d < 0 {
		sign, d = "-", -d
	}
	if d != 0 && d%(24*time.Hour) == 0 {
		return sign + strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return sign + d.String()
}

// lineDiff is a small line diff (longest common subsequence) for failure
// messages.
func lineDiff(a, b string) string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			out.WriteString("  " + x[i] + "\n")
			i, j = i+1, j+1
		case j < len(y) && (i == len(x) || lcs[i][j+1] >= lcs[i+1][j]):
			out.WriteString("+ " + y[j] + "\n")
			j++
		default:
			out.WriteString("- " + x[i] + "\n")
			i++
		}
	}
	return out.String()
}

// idnScenario is a DANE-EE destination whose zone is an A-label:
// xn--bcher-kva.test is bücher.test.
func idnScenario() testworld.ScenarioSpec {
	return testworld.ScenarioSpec{
		Name:        "xn--bcher-kva",
		Description: "internationalised destination bücher.test (A-label zone); DANE-EE 3 1 1 of the server's key",
		RFC:         "RFC 5891, RFC 7672 §3.1.1",
		Expect:      "pass (dane-ee)",
		Hosts:       []testworld.HostSpec{{Name: "mx", TLSA: []testworld.TLSASpec{{Usage: 3, Selector: 1, MatchingType: 1}}}},
	}
}

// idnGoldenDomains are the golden files TestGoldenIDN writes.
func idnGoldenDomains() []string { return []string{idnScenario().Name + ".test"} }

// TestGoldenIDN validates an internationalised destination end to end:
// the U-label input is resolved as its A-label (IDNA 2008), and the
// whole response is pinned like the catalogue's.
func TestGoldenIDN(t *testing.T) {
	e := startGolden(t, testworld.Options{Scenarios: []testworld.ScenarioSpec{idnScenario()}})
	const aLabel = "xn--bcher-kva.test"

	for _, in := range []string{"bücher.test", "BÜCHER.TEST.", "Bu\u0308cher.test", "xn--bcher-kva.test", "XN--BCHER-KVA.test."} {
		t.Run(in, func(t *testing.T) {
			r := e.validate(t, in)
			if r.GetDomain() != aLabel {
				t.Errorf("domain %q, want %q", r.GetDomain(), aLabel)
			}
			if r.GetAction() != danev1.Action_ACTION_DELIVER || r.GetPolicy() != danev1.Policy_POLICY_DANE_REQUIRED || r.GetReason() != danev1.Reason_REASON_OK {
				t.Fatalf("verdict %v/%v/%v, want DELIVER/DANE_REQUIRED/OK: %s %v", r.GetAction(), r.GetPolicy(), r.GetReason(), r.GetStatusText(), r.GetMxHosts())
			}
			if hs := r.GetMxHosts(); len(hs) != 1 || hs[0].GetName() != "mx."+aLabel || hs[0].GetTlsaBaseDomain() != "mx."+aLabel {
				t.Errorf("hosts %v, want mx.%s in A-labels", hs, aLabel)
			}
			for _, a := range r.GetMxHosts()[0].GetAddresses() {
				if !a.GetAuthenticated() || a.MatchedTlsaIndex == nil {
					t.Errorf("%s not authenticated: %s", a.GetIp(), a.GetDetail())
				}
			}
			if in == "bücher.test" {
				checkGolden(t, e.norm, r)
			}
		})
	}
	if sni := e.world.SNISeen("mx." + aLabel); len(sni) == 0 || sni[0] != "mx."+aLabel {
		t.Errorf("SNI %q, want the A-label host name", sni)
	}

	// Names that IDNA 2008 refuses are caller errors, not verdicts.
	for _, in := range []string{
		"☕.test",            // emoji: DISALLOWED
		"\u0301bücher.test", // leading combining mark
		"aא.test",           // Latin and Hebrew in one label: Bidi rule
		"xn--zz.test",       // malformed Punycode
		"xn--bcher-kva-.test",
		"bü cher.test",
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := e.client.Validate(ctx, &danev1.ValidateRequest{Domain: in})
		cancel()
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "invalid domain") {
			t.Errorf("Validate(%q): %v, want InvalidArgument", in, err)
		}
	}
}
