package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/daned/daned/internal/redistest"
	danev1 "github.com/daned/daned/proto/dane/v1"
)

// The shared store's metrics, as daned exports them (docs/SHARED.md).
const (
	metricSharedUp         = "dane_shared_up"
	metricSharedSubscribed = "dane_shared_subscribed"
	metricSharedRejected   = "dane_shared_rejected_total"
	metricSharedInval      = "dane_shared_invalidations_total"
	metricSharedLeases     = "dane_shared_leases_total"
)

// sharedFleet is a world, a real redis-server and replicas sharing it.
type sharedFleet struct {
	*fleet
	redis  *redistest.Server
	rdb    *redis.Client // the test's own connection, to read and plant entries
	secret []byte
}

// startSharedFleet starts a world, Redis, and n replicas sharing it with
// one secret. Each Redis call may take 10 s: on a busy test machine the
// default 100 ms deadline can pass, and a replica that finds the store
// slow rightly validates on its own, which these tests are not about
// (a killed Redis refuses connections at once).
func startSharedFleet(t testing.TB, n int, extra ...string) (*sharedFleet, []*replica) {
	t.Helper()
	w := startFleetWorld(t)
	rs := redistest.Start(t, redistest.Config{})
	// The secret as text: daned trims white space around the file's
	// content.
	secret := []byte(rand.Text() + rand.Text())
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr(), DisableIdentity: true})
	t.Cleanup(func() { rdb.Close() })
	f := &sharedFleet{fleet: newFleet(t, w, append([]string{"--redis", rs.URL(), "--shared-secret", file, "--redis-timeout", "10s"}, extra...)...), redis: rs, rdb: rdb, secret: secret}
	return f, f.startN(n)
}

// TestReplicasShareColdRequests: 300 concurrent cold requests spread
// evenly over three replicas sharing Redis cost the destination one probe
// per address and one query per RRset, and every answer is that one
// validation's verdict; over one domain, and over eleven at once.
func TestReplicasShareColdRequests(t *testing.T) {
	f, replicas := startSharedFleet(t, 3)
	several := []string{}
	for _, d := range fleetDomains {
		several = append(several, d+".test")
	}
	for _, tt := range []struct {
		name    string
		domains []string
	}{
		{"one domain", []string{"fleet.test"}},
		{"several domains", several},
	} {
		t.Run(tt.name, func(t *testing.T) {
			answers := concurrently(t, replicas, tt.domains, 300)
			verdicts := identical(t, tt.domains, answers, true)
			for _, d := range tt.domains {
				destinationCost(t, f.w, d, 1)
				if v := verdicts[d]; v.GetPolicy() != danev1.Policy_POLICY_DANE_REQUIRED {
					t.Errorf("%s: %v", d, v)
				}
			}
		})
	}
}

// TestSharedInvalidateReachesEveryReplica: Invalidate on one replica
// drops the verdict on every replica: once the others say they received
// it, the next answer anywhere is a new validation (a new probe, a later
// checked_at), made once for the fleet.
func TestSharedInvalidateReachesEveryReplica(t *testing.T) {
	f, r := startSharedFleet(t, 3)
	a, b, c := r[0], r[1], r[2]
	const domain = "ee-spki.test"
	first := a.validate(t, domain)
	for _, x := range []*replica{b, c} {
		if got := x.validate(t, domain); !proto.Equal(verdict(got), verdict(first)) {
			t.Fatalf("%s before Invalidate: %v, want A's verdict %v", x.name, got, first)
		}
	}
	destinationCost(t, f.w, domain, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := a.api.Invalidate(ctx, &danev1.InvalidateRequest{Domain: domain}); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*replica{b, c} {
		x.waitMetric(t, metricSharedInval, map[string]string{"direction": "received"}, "≥ 1", func(v float64) bool { return v >= 1 })
	}
	answers := concurrently(t, []*replica{b, c}, []string{domain}, 2)
	for i, got := range answers {
		if !got.GetCheckedAt().AsTime().After(first.GetCheckedAt().AsTime()) || !sameVerdict(got, first) {
			t.Errorf("after Invalidate, %s answered checked_at %v (before: %v): %v", []string{"B", "C"}[i], got.GetCheckedAt().AsTime(), first.GetCheckedAt().AsTime(), got)
		}
	}
	if !proto.Equal(verdict(answers[0]), verdict(answers[1])) {
		t.Errorf("B and C answer different validations after Invalidate:\n%v\n%v", answers[0], answers[1])
	}
	destinationCost(t, f.w, domain, 2)
}

// seal makes a shared entry as docs/SHARED.md lays it out: version,
// expiry (Unix nanoseconds), payload, HMAC-SHA256 over them and the
// Redis key.
func seal(secret []byte, key string, payload []byte, expires time.Time) []byte {
	b := make([]byte, 9, 9+len(payload)+sha256.Size)
	b[0] = 1
	binary.BigEndian.PutUint64(b[1:9], uint64(expires.UnixNano()))
	b = append(b, payload...)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("daned shared entry\x00"))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(key)))
	m.Write(b[:1])
	m.Write(n[:])
	m.Write([]byte(key))
	m.Write(b[1:9])
	m.Write(payload)
	return m.Sum(b)
}

// TestSharedForgedEntryRejected: whoever can write to Redis but lacks the
// shared secret cannot make the fleet serve a weaker verdict: an entry
// planted at a DANE domain's verdict key (the verdict of a domain without
// DANE copied there, a flipped MAC, a MAC under another secret, garbage,
// an authentic but expired entry) is ignored, counted, and the domain is
// validated again. The control: the same weaker payload sealed with the
// fleet's secret is served, which shows that the planted entries are read
// and only their authentication stops them.
func TestSharedForgedEntryRejected(t *testing.T) {
	f, r := startSharedFleet(t, 3)
	a, b, c := r[0], r[1], r[2]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A weaker verdict: opportunistic TLS, delivery allowed without
	// authentication.
	const donor = "unsigned.test"
	weak := a.validate(t, donor)
	if weak.GetPolicy() != danev1.Policy_POLICY_OPPORTUNISTIC {
		t.Fatalf("%s: %v, want an opportunistic verdict", donor, weak)
	}
	donorKey := "daned:v:0:" + donor
	entry, err := f.rdb.Get(ctx, donorKey).Bytes()
	if err != nil {
		t.Fatalf("the donor's shared verdict at %s: %v", donorKey, err)
	}
	payload := entry[9 : len(entry)-sha256.Size]
	// The donor's verdict claiming to be about domain (the payload is
	// a version byte and JSON, engine.MarshalResult).
	about := func(domain string) []byte {
		p := bytes.Replace(payload, []byte(`"domain":"`+donor+`"`), []byte(`"domain":"`+domain+`"`), 1)
		if bytes.Equal(p, payload) {
			t.Fatalf("no domain field in the donor's payload %q", payload)
		}
		return p
	}
	later := time.Now().Add(time.Hour)
	other := make([]byte, 32)
	rand.Read(other)
	tests := []struct {
		name   string
		domain string
		forge  func(key string) []byte
		reason string // the rejected counter's label; "" for the control
	}{
		{"another domain's entry", "ee-spki.test", func(string) []byte { return entry }, "forged"},
		{"a flipped MAC", "ee-cert.test", func(string) []byte {
			e := slices.Clone(entry)
			e[len(e)-1] ^= 1
			return e
		}, "forged"},
		{"another secret", "ta.test", func(k string) []byte { return seal(other, k, about("ta.test"), later) }, "forged"},
		{"garbage", "nsec3-ee.test", func(string) []byte { return []byte("OK weaker, trust me") }, "malformed"},
		{"expired", "digest-agility.test", func(k string) []byte {
			return seal(f.secret, k, about("digest-agility.test"), time.Now().Add(-time.Minute))
		}, "expired"},
		{"control: the fleet's secret", "ee-expired.test", func(k string) []byte { return seal(f.secret, k, about("ee-expired.test"), later) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "daned:v:0:" + tt.domain
			if err := f.rdb.Set(ctx, key, tt.forge(key), time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
			labels := map[string]string{"reason": tt.reason}
			before := b.metric(t, metricSharedRejected, labels)
			got := b.validate(t, tt.domain)
			if tt.reason == "" {
				if got.GetPolicy() != danev1.Policy_POLICY_OPPORTUNISTIC || !got.GetFromCache() {
					t.Fatalf("an authentic entry was not served: %v", got)
				}
				destinationCost(t, f.w, tt.domain, 0)
				return
			}
			if n := b.metric(t, metricSharedRejected, labels); n <= before {
				t.Errorf("rejected{reason=%q} is %v, was %v before", tt.reason, n, before)
			}
			if got.GetFromCache() || got.GetPolicy() != danev1.Policy_POLICY_DANE_REQUIRED || got.GetAction() != danev1.Action_ACTION_DELIVER {
				t.Fatalf("B answered %v, want a new DANE verdict", got)
			}
			// The entry B made in its place is what C serves.
			if again := c.validate(t, tt.domain); !proto.Equal(verdict(again), verdict(got)) {
				t.Errorf("C answered %v, want B's %v", again, got)
			}
			destinationCost(t, f.w, tt.domain, 1)
		})
	}
}

// TestSharedRedisKilledMidLoad: Redis dies under steady load over three
// replicas: no caller sees an error or a verdict other than the domain's
// (each replica goes on with its local cache and its own validations);
// Redis restarted on its port, every replica says it is back, and
// sharing resumes: a cold domain costs one probe per address again.
func TestSharedRedisKilledMidLoad(t *testing.T) {
	f, replicas := startSharedFleet(t, 3)
	load := []string{"ee-spki.test", "ta.test", "mismatch.test", "nostarttls.test", "two-mx.test"}
	want := identical(t, load, concurrently(t, replicas, load, 30), true)
	var (
		mu       sync.Mutex
		failures []string
		answered atomic.Int64
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		stopLoad = sync.OnceFunc(func() { close(stop); wg.Wait() })
		checkOne = func(r *replica, d string) {
			got, err := r.tryValidate(d)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				failures = append(failures, r.name+" "+d+": "+err.Error())
			case !sameVerdict(got, want[d]):
				failures = append(failures, r.name+" "+d+": "+got.String())
			}
			answered.Add(1)
		}
	)
	for i := range 6 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				checkOne(replicas[i%3], load[(i+n)%len(load)])
			}
		})
	}
	t.Cleanup(stopLoad)
	waitAnswered := func(n int64) {
		t.Helper()
		target := answered.Load() + n
		deadline := time.Now().Add(time.Minute)
		for answered.Load() < target {
			if time.Now().After(deadline) {
				t.Fatalf("the load stalled at %d answers", answered.Load())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitAnswered(300)
	f.redis.Kill()
	for _, r := range replicas {
		r.waitMetric(t, metricSharedUp, nil, "0", func(v float64) bool { return v == 0 })
	}
	waitAnswered(300)
	// Cold during the outage: each replica validates it alone, right.
	outage := "ee-cert.test"
	for _, got := range concurrently(t, replicas, []string{outage}, 3) {
		if got.GetPolicy() != danev1.Policy_POLICY_DANE_REQUIRED || got.GetAction() != danev1.Action_ACTION_DELIVER {
			t.Errorf("%s during the outage: %v", outage, got)
		}
	}
	destinationCost(t, f.w, outage, 3)
	f.redis.Restart()
	for _, r := range replicas {
		r.waitMetric(t, metricSharedUp, nil, "1", func(v float64) bool { return v == 1 })
		r.waitMetric(t, metricSharedSubscribed, nil, "1", func(v float64) bool { return v == 1 })
	}
	waitAnswered(300)
	stopLoad()
	if len(failures) > 0 {
		t.Fatalf("%d of %d answers failed or differed, e.g. %s", len(failures), answered.Load(), failures[0])
	}
	t.Logf("%d answers, none failed or weaker", answered.Load())
	cold := "ta-intermediate.test"
	identical(t, []string{cold}, concurrently(t, replicas, []string{cold}, 30), true)
	destinationCost(t, f.w, cold, 1)
}

// TestSharedLeaseHolderKilled: replica A takes the lease of a domain and
// is killed (SIGKILL) while it probes; B, asked meanwhile, waits for the
// lease, takes it over once it expires and answers the domain's verdict;
// C then gets B's verdict without a further probe.
func TestSharedLeaseHolderKilled(t *testing.T) {
	f, r := startSharedFleet(t, 3, "--redis-lease", "2s")
	a, b, c := r[0], r[1], r[2]
	const domain = "held.test"
	h, _ := f.w.Host("mx." + domain)
	release := f.w.Hold(h.Name)
	t.Cleanup(release)
	go func() { _, _ = a.tryValidate(domain) }() // dies with A
	waitFor(t, "A's probe", func() bool { return f.w.Connections(h.Addrs[0]) == 1 })
	answer := make(chan *danev1.ValidateResponse, 1)
	failed := make(chan error, 1)
	go func() {
		got, err := b.tryValidate(domain)
		if err != nil {
			failed <- err
			return
		}
		answer <- got
	}()
	b.waitMetric(t, metricSharedLeases, map[string]string{"outcome": "waited"}, "≥ 1", func(v float64) bool { return v >= 1 })
	a.kill()
	release()
	var got *danev1.ValidateResponse
	select {
	case got = <-answer:
	case err := <-failed:
		t.Fatalf("B: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("B did not answer within 2 minutes")
	}
	if got.GetPolicy() != danev1.Policy_POLICY_DANE_REQUIRED || got.GetAction() != danev1.Action_ACTION_DELIVER || got.GetFromCache() {
		t.Fatalf("B answered %v, want its own DANE verdict", got)
	}
	// The verdict's lease, and the probe's (A held both).
	if n := b.metric(t, metricSharedLeases, map[string]string{"outcome": "taken_over"}); n < 1 {
		t.Errorf("B took over %v leases, want at least the verdict's", n)
	} else {
		t.Logf("B took over %v leases", n)
	}
	if again := c.validate(t, domain); !proto.Equal(verdict(again), verdict(got)) {
		t.Errorf("C answered %v, want B's verdict", again)
	}
	if n := f.w.Connections(h.Addrs[0]); n != 2 {
		t.Errorf("%d probes of %s, want A's and B's", n, h.Addrs[0])
	}
}

// waitFor waits until cond holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
