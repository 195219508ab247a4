package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/daned/daned/internal/testworld"
	danev1 "github.com/daned/daned/proto/dane/v1"
)

// fleetDomains are catalogue scenarios the replica tests validate, each
// of whose MX addresses a validation probes: DANE-EE and DANE-TA passes
// (NSEC3, digest agility, an expired leaf among them), a mismatch, a
// server without STARTTLS, and two MX hosts.
var fleetDomains = []string{"ee-spki", "ee-cert", "ta", "ta-intermediate", "mismatch", "nostarttls", "two-mx", "nsec3-ee", "digest-agility", "ee-expired"}

// startFleetWorld starts a world of fleetDomains and unsigned.test (from
// the catalogue), fleet.test and held.test (for World.Hold), both
// DANE-EE, fleet.test's MX host with two addresses.
func startFleetWorld(t testing.TB) *testworld.World {
	t.Helper()
	var specs []testworld.ScenarioSpec
	for _, s := range testworld.Catalogue() {
		if slices.Contains(fleetDomains, s.Name) || s.Name == "unsigned" {
			specs = append(specs, s)
		}
	}
	ee := []testworld.TLSASpec{{Usage: 3, Selector: 1, MatchingType: 1}}
	specs = append(specs,
		testworld.ScenarioSpec{Name: "fleet", Description: "DANE-EE 3 1 1; the MX host has two addresses", RFC: "RFC 7672 §3.1.1", Expect: "pass (dane-ee)",
			Hosts: []testworld.HostSpec{{Name: "mx", ExtraAddrs: 1, TLSA: ee}}},
		testworld.ScenarioSpec{Name: "held", Description: "DANE-EE 3 1 1, for tests that hold its server", RFC: "RFC 7672 §3.1.1", Expect: "pass (dane-ee)",
			Hosts: []testworld.HostSpec{{Name: "mx", TLSA: ee}}})
	return testworld.StartT(t, testworld.Options{Scenarios: specs})
}

// replica is one daned process of a fleet and a gRPC client of it.
type replica struct {
	*process
	name string
	api  danev1.DaneServiceClient
}

// fleet starts daned replicas against a world. Each replica validates
// DNSSEC itself (the embedded resolver, with its own cache, as a replica
// on its own machine would), so that what one replica looks up costs the
// world's name servers one query no matter what the others do.
type fleet struct {
	t    testing.TB
	w    *testworld.World
	bin  string
	args []string
}

// newFleet prepares replicas of daned for w, with extra flags: the
// embedded resolver's trust anchor and configuration (the world's stub
// zones), probes allowed into the world, MTA-STS off.
func newFleet(t testing.TB, w *testworld.World, extra ...string) *fleet {
	t.Helper()
	dir := t.TempDir()
	ta := filepath.Join(dir, "root.ds")
	conf := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(ta, []byte(w.TrustAnchor()), 0o644); err != nil {
		t.Fatal(err)
	}
	// infra-cache-min-rtt: libunbound retransmits a query whose answer
	// takes longer than its retransmit timeout (376 ms for a server it has
	// not timed yet). On a loaded machine the world's name servers can take
	// that long, and a retransmission reaches them as a second query of the
	// same RRset: a floor of 5 s keeps one lookup one query, which is what
	// the tests count. rrset-roundrobin: libunbound rotates the records of
	// an RRset it answers from its cache, so that replicas validating on
	// their own would list a host's TLSA records (and the index of the one
	// that matched) in different orders: the authority's order keeps their
	// verdicts comparable field by field.
	text := "server:\n\tdo-not-query-localhost: no\n\tlocal-zone: \"test.\" nodefault\n\tqname-minimisation: no\n\tinfra-cache-min-rtt: 5000\n\trrset-roundrobin: no\n\n" + w.StubZones()
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var allow []string
	for _, p := range w.ProbeAllow() {
		allow = append(allow, p.String())
	}
	args := []string{"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--lame-duck", "0s", "--log-level", "info",
		"--resolver", "embedded", "--trust-anchor", ta, "--resolver-config", conf, "--resolver-timeout", "2s",
		"--probe-port", strconv.Itoa(w.SMTPPort()), "--probe-allow", strings.Join(allow, ","), "--helo-name", "daned.test",
		"--probe-timeout", "20s", "--probe-step-timeout", "10s", "--mta-sts=false"}
	return &fleet{t: t, w: w, bin: buildDaned(t), args: append(args, extra...)}
}

// start runs one replica named name (with extra flags).
func (f *fleet) start(name string, extra ...string) *replica {
	f.t.Helper()
	p := startProcess(f.t, f.bin, nil, append(slices.Clone(f.args), extra...))
	f.t.Cleanup(func() {
		if f.t.Failed() {
			f.t.Logf("replica %s's warnings:\n%s", name, warnings(p.out.String()))
		}
	})
	conn, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { conn.Close() })
	return &replica{process: p, name: name, api: danev1.NewDaneServiceClient(conn)}
}

// warnings returns the lines of a daned log above info.
func warnings(log string) string {
	var out []string
	for l := range strings.Lines(log) {
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

// startN runs n replicas, named A, B, C…
func (f *fleet) startN(n int, extra ...string) []*replica {
	f.t.Helper()
	out := make([]*replica, n)
	for i := range out {
		out[i] = f.start(string(rune('A'+i)), extra...)
	}
	return out
}

// validate asks r about domain, with a generous deadline.
func (r *replica) validate(t testing.TB, domain string) *danev1.ValidateResponse {
	t.Helper()
	resp, err := r.tryValidate(domain)
	if err != nil {
		t.Fatalf("%s: Validate %s: %v", r.name, domain, err)
	}
	return resp
}

func (r *replica) tryValidate(domain string) (*danev1.ValidateResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return r.api.Validate(ctx, &danev1.ValidateRequest{Domain: domain})
}

// verdict is what a caller acts on: the response without what differs
// from one answer of a verdict to the next (whether it came from a cache,
// the remaining TTL, the trace id).
func verdict(r *danev1.ValidateResponse) *danev1.ValidateResponse {
	v := proto.Clone(r).(*danev1.ValidateResponse)
	v.FromCache, v.Ttl, v.TraceId = false, nil, ""
	return v
}

// sameVerdict is verdict(a) == verdict(b) up to what differs between
// two validations of one domain: checked_at, the probe times, and the
// order of a host's addresses (each resolver may rotate an RRset), with
// the host's detail, which names the address that decided.
func sameVerdict(a, b *danev1.ValidateResponse) bool {
	strip := func(r *danev1.ValidateResponse) *danev1.ValidateResponse {
		v := verdict(r)
		v.CheckedAt = nil
		for _, h := range v.GetMxHosts() {
			h.Detail = ""
			for _, a := range h.GetAddresses() {
				a.Elapsed = nil
			}
			slices.SortFunc(h.Addresses, func(x, y *danev1.AddressResult) int { return strings.Compare(x.GetIp(), y.GetIp()) })
		}
		return v
	}
	return proto.Equal(strip(a), strip(b))
}

// concurrently sends n Validate requests at once, the i-th for
// domains[i%len(domains)] to replicas[i%len(replicas)], and returns the
// answers in order. Any error fails the test.
func concurrently(t *testing.T, replicas []*replica, domains []string, n int) []*danev1.ValidateResponse {
	t.Helper()
	out := make([]*danev1.ValidateResponse, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			out[i], errs[i] = replicas[i%len(replicas)].tryValidate(domains[i%len(domains)])
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d (%s on %s): %v", i, domains[i%len(domains)], replicas[i%len(replicas)].name, err)
		}
	}
	return out
}

// destinationCost checks what validating domain cost its destination:
// want connections (probes) to each address of its MX hosts, and want
// queries for each RRset its name server was asked about (its MX, the
// A/AAAA and TLSA RRsets of its hosts, its DNSKEY: DNSSEC's chain above
// the zone is asked of the parents, and not counted here).
func destinationCost(t *testing.T, w *testworld.World, domain string, want int64) {
	t.Helper()
	sc, ok := w.Scenario(domain)
	if !ok {
		t.Fatalf("no scenario %s", domain)
	}
	for _, h := range sc.Hosts {
		for _, a := range h.Addrs {
			if n := w.Connections(a); n != want {
				t.Errorf("%s: %s (%s) was probed %d times, want %d", domain, a, h.Name, n, want)
			}
		}
	}
	asked := w.QueriesAt(domain)
	if want > 0 && asked[testworld.Question{Name: dns.Fqdn(domain), Type: dns.TypeMX}] == 0 {
		t.Errorf("%s: its MX RRset was never asked for (asked: %v)", domain, asked)
	}
	for q, n := range asked {
		if n != want {
			t.Errorf("%s: %s %s was asked %d times, want %d", domain, q.Name, dns.TypeToString[q.Type], n, want)
		}
	}
	t.Logf("%s: %d RRsets asked of its name server, %d each; %d addresses probed %d times each", domain, len(asked), want, countAddrs(sc), want)
}

func countAddrs(sc testworld.Scenario) int {
	n := 0
	for _, h := range sc.Hosts {
		n += len(h.Addrs)
	}
	return n
}

// identical checks that every answer about a domain carries the same
// verdict, and returns those verdicts by domain. With oneValidation the
// answers must be one validation's: the same checked_at and probe times
// too.
func identical(t *testing.T, domains []string, answers []*danev1.ValidateResponse, oneValidation bool) map[string]*danev1.ValidateResponse {
	t.Helper()
	first := map[string]*danev1.ValidateResponse{}
	for i, r := range answers {
		d := domains[i%len(domains)]
		if r.GetDomain() != d {
			t.Fatalf("request %d for %s answered about %q", i, d, r.GetDomain())
		}
		if f, ok := first[d]; !ok {
			first[d] = r
		} else if oneValidation && !proto.Equal(verdict(f), verdict(r)) || !sameVerdict(f, r) {
			t.Fatalf("%s: answers differ:\n%v\n%v", d, verdict(f), verdict(r))
		}
	}
	return first
}

// TestReplicasWithoutRedisEachValidate is the control of the sharing
// tests: replicas without --redis each validate on their own, so 300
// concurrent cold requests spread over three cost every address three
// probes and every RRset three queries (one per replica: each coalesces
// its own requests), and the counters the sharing tests rely on see it.
func TestReplicasWithoutRedisEachValidate(t *testing.T) {
	w := startFleetWorld(t)
	replicas := newFleet(t, w).startN(3)
	domains := []string{"fleet.test"}
	for _, d := range fleetDomains {
		domains = append(domains, d+".test")
	}
	answers := concurrently(t, replicas, domains, 300)
	v := identical(t, domains, answers, false)
	for _, d := range domains {
		t.Logf("%s: %v %v %v", d, v[d].GetPolicy(), v[d].GetAction(), v[d].GetReason())
		destinationCost(t, w, d, 3)
	}
}
