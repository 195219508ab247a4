package fleet_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/daned/daned/internal/fakeclock"
	"github.com/daned/daned/internal/redistest"
	"github.com/daned/daned/internal/testca"
	"github.com/daned/daned/internal/tlsrpttest"
	"github.com/daned/daned/shared"
	"github.com/daned/daned/shared/fleet"
	"github.com/daned/daned/state"
	"github.com/daned/daned/tlsrpt"
	"github.com/daned/daned/tlsrpt/deliver"
	"github.com/daned/daned/tlsrpt/reporter"
)

var day = time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)

// receiver is the report receivers' HTTPS server: every rua host of
// the tests, on loopback, with a certificate from a test CA. It takes
// every report delivered, from any replica.
type receiver struct {
	mu   sync.Mutex
	got  []delivered
	addr string
	ca   *x509.CertPool
}

type delivered struct {
	replica, rua string
	report       tlsrpt.Report
}

func startReceiver(t *testing.T) *receiver {
	t.Helper()
	now := time.Now()
	ca := testca.New(t, "Report receivers' CA", now)
	_, cert := ca.Issue(t, testca.Leaf{DNSNames: []string{"r.a.example", "r.b.example"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)})
	rcv := &receiver{ca: ca.Pool()}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err == nil && req.Header.Get("Content-Type") != deliver.MediaTypeGzip {
			err = fmt.Errorf("content type %q", req.Header.Get("Content-Type"))
		}
		var js []byte
		if err == nil {
			js, err = tlsrpttest.Gunzip(body)
		}
		if err == nil {
			err = tlsrpttest.Check(js)
		}
		var rep tlsrpt.Report
		if err == nil {
			err = json.Unmarshal(js, &rep)
		}
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		rcv.mu.Lock()
		rcv.got = append(rcv.got, delivered{req.Header.Get("X-Test-Replica"), "https://" + req.Host + req.URL.Path, rep})
		rcv.mu.Unlock()
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	rcv.addr = srv.Listener.Addr().String()
	return rcv
}

// tagged names the replica that sends each request.
type tagged struct {
	next    http.RoundTripper
	replica string
}

func (tr tagged) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("X-Test-Replica", tr.replica)
	return tr.next.RoundTrip(req)
}

// sender delivers a replica's reports as daned does (tlsrpt/deliver),
// over HTTPS to the receiver, whatever the rua host.
func (r *receiver) sender(t *testing.T, replica string) reporter.Sender {
	t.Helper()
	var d net.Dialer
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, r.addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: r.ca, MinVersion: tls.VersionTLS12},
	}
	t.Cleanup(tr.CloseIdleConnections)
	dl, err := deliver.New(deliver.Config{HTTPClient: &http.Client{Transport: tagged{tr, replica}, Timeout: 30 * time.Second},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return httpsSender{dl}
}

type httpsSender struct{ d *deliver.Deliverer }

func (s httpsSender) Send(ctx context.Context, rua string, r state.TLSRPTReport) error {
	return s.d.Deliver(ctx, rua, deliver.Report{PolicyDomain: r.PolicyDomain, Submitter: "sender.example", ReportID: r.ReportID,
		Begin: r.Begin, End: r.End, Gzip: r.Gzip})
}

func (httpsSender) Permanent(err error) bool { return deliver.IsPermanent(err) }

// totals returns, per policy domain and rua, the reports' summed counts
// and how many reports there were.
func (r *receiver) totals() map[string]tally {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]tally{}
	for _, d := range r.got {
		for _, p := range d.report.Policies {
			k := p.Policy.Domain + " " + d.rua
			t := out[k]
			t.Reports++
			t.OK += p.Summary.Successful
			t.Failed += p.Summary.Failed
			for _, fd := range p.FailureDetails {
				t.Details += fd.Count
			}
			out[k] = t
		}
	}
	return out
}

type tally struct{ Reports, OK, Failed, Details int64 }

type txt map[string][]string

func (t txt) LookupTXT(_ context.Context, name string) ([]string, error) { return t[name], nil }

var records = txt{
	"_smtp._tls.mx.a.example.": {"v=TLSRPTv1; rua=https://r.a.example/v1"},
	"_smtp._tls.mx.b.example.": {"v=TLSRPTv1; rua=https://r.b.example/tlsrpt"},
}

// fleetWorld is a fleet of replicas sharing one Redis and one clock.
type fleetWorld struct {
	clk   *fakeclock.Clock
	redis *redisServer
	rcv   *receiver
}

func newFleetWorld(t *testing.T) *fleetWorld {
	return &fleetWorld{clk: fakeclock.New(day.Add(12 * time.Hour)), redis: startRedis(t), rcv: startReceiver(t)}
}

// replica is one daned: its own state store, aggregator and reporter.
type replica struct {
	id    string
	dir   string
	store *state.Store
	agg   *tlsrpt.Aggregator
	rep   *reporter.Reporter
	fl    *fleet.Reports
}

func (w *fleetWorld) replica(t *testing.T, dir, secret string, mod func(*reporter.Config)) *replica {
	t.Helper()
	st, err := state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := st.ReplicaID()
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	agg, err := tlsrpt.NewAggregator(tlsrpt.AggregatorConfig{Store: st, Now: w.clk.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	fl, err := fleet.NewReports(fleet.Config{Store: w.redis.backend(t, secret, w.clk.Now), Now: w.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	cfg := reporter.Config{Aggregator: agg, Store: st, Sender: w.rcv.sender(t, id), TXT: records,
		Organization: "Example Sender", Contact: "tlsrpt@sender.example", Submitter: "sender.example",
		Now: w.clk.Now, Jitter: func(n time.Duration) time.Duration { return n / 2 }, Logger: quiet,
		Fleet: fl, Replica: id}
	if mod != nil {
		mod(&cfg)
	}
	rep, err := reporter.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{id: id, dir: dir, store: st, agg: agg, rep: rep, fl: fl}
	t.Cleanup(r.stop)
	return r
}

// stop ends the replica as a kill would, but for the last second's
// commit: nothing handed in, no lease released.
func (r *replica) stop() {
	if r.store != nil {
		_ = r.agg.Close()
		_ = r.store.Close()
		r.store = nil
	}
}

func (r *replica) tick(t *testing.T) time.Time {
	t.Helper()
	return r.rep.Tick(context.Background())
}

// counted returns how many policies' counts the replica's store keeps.
func (r *replica) counted(t *testing.T) int {
	t.Helper()
	n := 0
	if err := r.store.TLSRPTCounts(func(string, json.RawMessage) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// cut is when the replicas cut the day: 2 minutes after it.
var cut = day.Add(24*time.Hour + 2*time.Minute)

// deliverAll moves the clock past the reports' random delay (half of an
// hour here) and lets every replica deliver.
func (w *fleetWorld) deliverAll(t *testing.T, rs ...*replica) {
	t.Helper()
	if w.clk.Now().Before(cut.Add(31 * time.Minute)) {
		w.clk.Set(cut.Add(31 * time.Minute))
	}
	for _, r := range rs {
		r.tick(t)
	}
}

func (w *fleetWorld) expect(t *testing.T, want map[string]tally) {
	t.Helper()
	got := w.rcv.totals()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("delivered %v\nwant %v", got, want)
	}
}

// TestOneReportForTheFleet: sessions counted on three replicas end up in
// one report per policy domain and rua, with the summed counts, sent by
// one replica; the others drop their counts once it is done.
func TestOneReportForTheFleet(t *testing.T) {
	w := newFleetWorld(t)
	a, b, c := w.replica(t, t.TempDir(), "s3cret", nil), w.replica(t, t.TempDir(), "s3cret", nil), w.replica(t, t.TempDir(), "s3cret", nil)
	a.agg.Add(tlsrpttest.Sessions(day, "mx.a.example", 5, 2)...)
	b.agg.Add(tlsrpttest.Sessions(day, "mx.a.example", 3, 1)...)
	b.agg.Add(tlsrpttest.Sessions(day, "mx.b.example", 2, 0)...)
	c.agg.Add(tlsrpttest.Sessions(day, "mx.b.example", 0, 1)...)
	for _, r := range []*replica{a, b, c} {
		r.tick(t) // hands in the counts so far
	}
	// danectl tlsrpt show on any replica: the fleet's counts.
	live, err := c.rep.FleetLive(context.Background(), "example")
	if err != nil {
		t.Fatal(err)
	}
	var shown []string
	for _, lc := range live {
		for _, p := range lc.Policies {
			shown = append(shown, fmt.Sprintf("%s %+v", lc.PolicyDomain, p.Summary))
		}
	}
	if want := "[mx.a.example {Successful:8 Failed:3} mx.b.example {Successful:2 Failed:1}]"; fmt.Sprint(shown) != want {
		t.Fatalf("fleet counts %v, want %s", shown, want)
	}
	w.clk.Set(cut)
	a.tick(t) // cuts, hands in its final counts, takes the lease, waits for b and c
	if len(w.rcv.totals()) != 0 || a.counted(t) != 1 {
		t.Fatal("a reported before every replica handed in its final counts")
	}
	b.tick(t)
	c.tick(t)
	a.tick(t) // every final count is in: a reports
	b.tick(t) // b and c see the done marker and drop their counts
	c.tick(t)
	for _, r := range []*replica{a, b, c} {
		if n := r.counted(t); n != 0 {
			t.Errorf("replica %s keeps %d counts after the period was reported", r.id, n)
		}
	}
	w.deliverAll(t, a, b, c)
	w.expect(t, map[string]tally{
		"mx.a.example https://r.a.example/v1":     {Reports: 1, OK: 8, Failed: 3, Details: 3},
		"mx.b.example https://r.b.example/tlsrpt": {Reports: 1, OK: 2, Failed: 1, Details: 1},
	})
	for _, d := range w.rcv.got {
		if d.replica != a.id {
			t.Errorf("replica %s delivered a report; only the period's reporter %s should", d.replica, a.id)
		}
	}
	// Nothing more, ever.
	w.clk.Set(day.Add(47 * time.Hour))
	w.deliverAll(t, a, b, c)
	if n := len(w.rcv.got); n != 2 {
		t.Fatalf("%d deliveries, want 2", n)
	}
}

// TestKilledReplicaReportsLater: a replica killed before it handed in its
// counts, or after handing in only a running count, is reported without;
// its counts stay in its store and it reports them itself when it is
// back. Nothing is lost.
func TestKilledReplicaReportsLater(t *testing.T) {
	tests := []struct {
		name   string
		handIn bool // the killed replica handed in its running count
	}{
		{"never handed in", false},
		{"running count handed in", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newFleetWorld(t)
			a, b := w.replica(t, t.TempDir(), "s3cret", nil), w.replica(t, t.TempDir(), "s3cret", nil)
			a.agg.Add(tlsrpttest.Sessions(day, "mx.a.example", 5, 0)...)
			b.agg.Add(tlsrpttest.Sessions(day, "mx.a.example", 3, 1)...)
			a.tick(t)
			if tt.handIn {
				b.tick(t)
			}
			b.stop() // killed
			w.clk.Set(cut)
			a.tick(t)
			if tt.handIn {
				// a waits for b's final counts, up to ten minutes.
				w.clk.Set(cut.Add(5 * time.Minute))
				if a.tick(t); len(w.rcv.totals()) != 0 {
					t.Fatal("reported while waiting")
				}
				w.clk.Set(cut.Add(10 * time.Minute))
				a.tick(t)
			}
			w.deliverAll(t, a)
			w.expect(t, map[string]tally{"mx.a.example https://r.a.example/v1": {Reports: 1, OK: 5}})

			b = w.replica(t, b.dir, "s3cret", nil) // back, with its store
			if b.counted(t) != 1 {
				t.Fatal("the killed replica's counts are gone")
			}
			b.tick(t)
			w.clk.Advance(time.Hour)
			b.tick(t)
			w.expect(t, map[string]tally{"mx.a.example https://r.a.example/v1": {Reports: 2, OK: 8, Failed: 1, Details: 1}})
			if b.counted(t) != 0 {
				t.Fatal("b keeps counts it reported")
			}
		})
	}
}

// expired waits until Redis expires key (a keyspace notification).
func (w *fleetWorld) expired(t *testing.T, key string) func() {
	t.Helper()
	c := w.redis.client(t)
	ctx := context.Background()
	if err := c.ConfigSet(ctx, "notify-keyspace-events", "Ex").Err(); err != nil {
		t.Fatal(err)
	}
	sub := c.Subscribe(ctx, "__keyevent@0__:expired")
	if _, err := sub.Receive(ctx); err != nil { // the subscription is in place
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		defer sub.Close()
		for {
			select {
			case m := <-sub.Channel():
				if m.Payload == key {
					return
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("%s did not expire", key)
			}
		}
	}
}

// TestReporterDiesAfterLease: the replica that took the period's lease
// dies; once the lease runs out another reports the period, with the
// dead one's final counts, which it then drops when it is back.
func TestReporterDiesAfterLease(t *testing.T) {
	w := newFleetWorld(t)
	short := func(c *reporter.Config) { c.LeaseTTL = 300 * time.Millisecond }
	a, b := w.replica(t, t.TempDir(), "s3cret", short), w.replica(t, t.TempDir(), "s3cret", short)
	a.agg.Add(tlsrpttest.Sessions(day, "mx.a.example", 5, 0)...)
	b.agg.Add(tlsrpttest.Sessions(day, "mx.a.example", 3, 1)...)
	a.tick(t)
	b.tick(t)
	w.clk.Set(cut)
	lease := "daned:r:20261129T000000Z:lease"
	wait := w.expired(t, lease)
	a.tick(t) // takes the lease, waits for b
	a.stop()  // and dies
	b.tick(t) // hands in its final counts; the lease is a's
	if len(w.rcv.totals()) != 0 {
		t.Fatal("reported while a held the lease")
	}
	wait()
	b.tick(t) // takes over
	w.deliverAll(t, b)
	w.expect(t, map[string]tally{"mx.a.example https://r.a.example/v1": {Reports: 1, OK: 8, Failed: 1, Details: 1}})
	a = w.replica(t, a.dir, "s3cret", short)
	a.tick(t)
	w.deliverAll(t, a)
	if a.counted(t) != 0 || len(w.rcv.got) != 1 {
		t.Fatalf("a keeps %d counts; %d deliveries, want 1", a.counted(t), len(w.rcv.got))
	}
}

// TestRedisDownAtTheCut: with Redis unreachable at the cut the counts are
// kept; when it is back they are reported as one; if it stays away for
// AloneAfter each replica reports its own.
func TestRedisDownAtTheCut(t *testing.T) {
	t.Run("back", func(t *testing.T) {
		w := newFleetWorld(t)
		a, b := w.replica(t, t.TempDir(), "s3cret", nil), w.replica(t, t.TempDir(), "s3cret", nil)
		a.agg.Add(tlsrpttest.Sessions(day, "mx.a.example", 5, 0)...)
		b.agg.Add(tlsrpttest.Sessions(day, "mx.a.example", 3, 1)...)
		a.tick(t)
		b.tick(t)
		w.redis.kill()
		w.clk.Set(cut)
		a.tick(t)
		b.tick(t)
		if a.counted(t) != 1 || b.counted(t) != 1 {
			t.Fatal("counts dropped while Redis was down")
		}
		w.redis.restart() // empty: what was handed in is gone
		w.clk.Set(cut.Add(time.Hour))
		a.tick(t) // leads, and waits for the others to hand in again
		b.tick(t)
		w.clk.Advance(2 * time.Minute)
		a.tick(t)
		b.tick(t)
		w.deliverAll(t, a, b)
		w.expect(t, map[string]tally{"mx.a.example https://r.a.example/v1": {Reports: 1, OK: 8, Failed: 1, Details: 1}})
		if a.counted(t)+b.counted(t) != 0 {
			t.Fatal("counts kept after the report")
		}
	})
	t.Run("gone", func(t *testing.T) {
		w := newFleetWorld(t)
		a, b := w.replica(t, t.TempDir(), "s3cret", nil), w.replica(t, t.TempDir(), "s3cret", nil)
		a.agg.Add(tlsrpttest.Sessions(day, "mx.a.example", 5, 0)...)
		b.agg.Add(tlsrpttest.Sessions(day, "mx.a.example", 3, 1)...)
		w.redis.kill()
		w.clk.Set(cut)
		a.tick(t)
		b.tick(t)
		w.clk.Set(day.Add(30 * time.Hour)) // six hours after the day
		a.tick(t)
		b.tick(t)
		w.clk.Advance(time.Minute)
		w.deliverAll(t, a, b)
		w.expect(t, map[string]tally{"mx.a.example https://r.a.example/v1": {Reports: 2, OK: 8, Failed: 1, Details: 1}})
	})
}

// TestForgedCountsRefused: counts written to Redis without the secret
// (over a replica's own, or as a replica of their own) are never
// reported; the replica whose counts were overwritten reports its real
// ones itself.
func TestForgedCountsRefused(t *testing.T) {
	w := newFleetWorld(t)
	a, b := w.replica(t, t.TempDir(), "s3cret", nil), w.replica(t, t.TempDir(), "s3cret", nil)
	a.agg.Add(tlsrpttest.Sessions(day, "mx.a.example", 5, 0)...)
	b.agg.Add(tlsrpttest.Sessions(day, "mx.a.example", 3, 1)...)
	a.tick(t)
	b.tick(t)
	w.clk.Set(cut)
	b.tick(t) // b cuts, hands in its final counts and leads: a has not handed in its final counts yet
	// Someone with write access to Redis but not the secret.
	evil, err := fleet.NewReports(fleet.Config{Store: w.redis.backend(t, "guessed", w.clk.Now), Now: w.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	forged := w.replica(t, t.TempDir(), "guessed", nil) // only to make a share
	forged.agg.Add(tlsrpttest.Sessions(day, "mx.a.example", 1000, 0)...)
	cl, err := forged.agg.Cut(day.Add(24 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	shares, err := cl.Shares(day)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	exp := day.Add(72 * time.Hour)
	if err := evil.Publish(ctx, day, "evil", shares, shares.Digest(), exp); err != nil {
		t.Fatal(err)
	}
	a.tick(t)                                                                          // a hands in its final counts (the lease is b's)
	if err := evil.Publish(ctx, day, a.id, shares, shares.Digest(), exp); err != nil { // over a's
		t.Fatal(err)
	}
	b.tick(t) // b reports without a's counts, which it cannot trust
	a.tick(t) // a finds its counts left out and reports them alone
	w.deliverAll(t, a, b)
	w.expect(t, map[string]tally{"mx.a.example https://r.a.example/v1": {Reports: 2, OK: 8, Failed: 1, Details: 1}})
	if st := b.fl.Stats(); st.Rejected < 2 {
		t.Fatalf("%+v: want the forged entries counted", st)
	}
	var from []string
	for _, d := range w.rcv.got {
		from = append(from, d.replica)
	}
	slices.Sort(from)
	if want := []string{a.id, b.id}; slices.Compare(from, slices.Sorted(slices.Values(want))) != 0 {
		t.Fatalf("delivered by %v, want one each from %v", from, want)
	}
}

// TestSendNow: danectl tlsrpt send reports the ended periods through the
// fleet at once; the current period cannot be reported early.
func TestSendNow(t *testing.T) {
	w := newFleetWorld(t)
	a, b := w.replica(t, t.TempDir(), "s3cret", nil), w.replica(t, t.TempDir(), "s3cret", nil)
	a.agg.Add(tlsrpttest.Sessions(day, "mx.a.example", 5, 0)...)
	b.agg.Add(tlsrpttest.Sessions(day, "mx.a.example", 3, 1)...)
	a.tick(t) // hand in the running counts
	b.tick(t)
	ctx := context.Background()
	if _, err := a.rep.SendNow(ctx, true); err == nil {
		t.Fatal("the current period was reported early")
	}
	w.clk.Set(day.Add(24*time.Hour + time.Minute)) // before the usual cut
	if _, err := b.rep.SendNow(ctx, false); err != nil {
		t.Fatal(err)
	}
	sent, err := a.rep.SendNow(ctx, false) // b leads and waits for a
	if err != nil || len(sent) != 0 {
		t.Fatalf("a sent %+v (%v)", sent, err)
	}
	if sent, err = b.rep.SendNow(ctx, false); err != nil || len(sent) != 1 || !sent[0].OK {
		t.Fatalf("b sent %+v (%v)", sent, err)
	}
	w.expect(t, map[string]tally{"mx.a.example https://r.a.example/v1": {Reports: 1, OK: 8, Failed: 1, Details: 1}})
}

// TestManyPolicies: a period with more policies than one call carries is
// handed in and merged whole.
func TestManyPolicies(t *testing.T) {
	w := newFleetWorld(t)
	a, b := w.replica(t, t.TempDir(), "s3cret", nil), w.replica(t, t.TempDir(), "s3cret", nil)
	const n = 300 // more than a chunk
	for i := range n {
		mx := fmt.Sprintf("mx%d.many.example", i)
		a.agg.Add(tlsrpttest.Sessions(day, mx, 1, 0)...)
		if i%2 == 0 {
			b.agg.Add(tlsrpttest.Sessions(day, mx, 2, 0)...)
		}
	}
	a.tick(t)
	b.tick(t)
	w.clk.Set(cut)
	a.tick(t)
	b.tick(t)
	a.tick(t)
	b.tick(t)
	reps, err := a.store.TLSRPTReports()
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != n || a.counted(t)+b.counted(t) != 0 {
		t.Fatalf("%d reports made (want %d); %d and %d counts kept", len(reps), n, a.counted(t), b.counted(t))
	}
	var total int64
	for _, r := range reps {
		js, err := tlsrpttest.Gunzip(r.Gzip)
		if err != nil {
			t.Fatal(err)
		}
		var rep tlsrpt.Report
		if err := json.Unmarshal(js, &rep); err != nil {
			t.Fatal(err)
		}
		total += rep.Policies[0].Summary.Successful
	}
	if want := int64(n + 2*((n+1)/2)); total != want {
		t.Fatalf("%d sessions reported, want %d", total, want)
	}
}

// noDone is the shared store failing just after the reports were made:
// the done marker cannot be written.
type noDone struct{ reporter.Fleet }

func (noDone) SetDone(context.Context, time.Time, []byte, time.Time) error {
	return errors.New("connection reset by peer")
}

// TestReporterDiesBeforeDone: the reporter stops after it made the
// reports but before the others were told; back, it tells them, and the
// period is not reported a second time.
func TestReporterDiesBeforeDone(t *testing.T) {
	w := newFleetWorld(t)
	a := w.replica(t, t.TempDir(), "s3cret", func(c *reporter.Config) { c.Fleet = noDone{c.Fleet} })
	b := w.replica(t, t.TempDir(), "s3cret", nil)
	a.agg.Add(tlsrpttest.Sessions(day, "mx.a.example", 5, 0)...)
	b.agg.Add(tlsrpttest.Sessions(day, "mx.a.example", 3, 1)...)
	a.tick(t)
	b.tick(t)
	w.clk.Set(cut)
	a.tick(t) // a leads, and waits for b
	b.tick(t)
	a.tick(t)
	a.stop() // the reports are made, the marker not written
	b.tick(t)
	if b.counted(t) != 1 {
		t.Fatal("b dropped its counts before the marker")
	}
	a = w.replica(t, a.dir, "s3cret", nil)
	a.tick(t) // writes the marker it kept
	b.tick(t)
	w.deliverAll(t, a, b)
	w.expect(t, map[string]tally{"mx.a.example https://r.a.example/v1": {Reports: 1, OK: 8, Failed: 1, Details: 1}})
	if b.counted(t) != 0 {
		t.Fatal("b keeps counts that were reported")
	}
}

// TestUnderACL: the fleet's policies and reports work as a Redis user
// with exactly the rights docs/SHARED.md gives daned.
func TestUnderACL(t *testing.T) {
	w := &fleetWorld{clk: fakeclock.New(day.Add(12 * time.Hour)), rcv: startReceiver(t),
		redis: &redisServer{redistest.Start(t, redistest.Config{User: "daned", Password: "a-long-password", ACL: shared.ACL("daned:")})}}
	a, b := w.replica(t, t.TempDir(), "s3cret", nil), w.replica(t, t.TempDir(), "s3cret", nil)
	a.agg.Add(tlsrpttest.Sessions(day, "mx.a.example", 5, 0)...)
	b.agg.Add(tlsrpttest.Sessions(day, "mx.a.example", 3, 1)...)
	a.tick(t)
	b.tick(t)
	w.clk.Set(cut)
	a.tick(t)
	b.tick(t)
	a.tick(t)
	b.tick(t)
	w.deliverAll(t, a, b)
	w.expect(t, map[string]tally{"mx.a.example https://r.a.example/v1": {Reports: 1, OK: 8, Failed: 1, Details: 1}})

	st := w.redis.backend(t, "s3cret", w.clk.Now)
	p, err := fleet.NewPolicies(fleet.Config{Store: st, Now: w.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := w.clk.Now()
	sp := state.STSPolicy{Domain: "example.test", ID: "1", Text: enforce, Mode: "enforce", MaxAge: 24 * time.Hour, FetchedAt: now, Expires: now.Add(24 * time.Hour)}
	if err := p.PutSharedPolicy(ctx, sp); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := p.SharedPolicy(ctx, "example.test"); err != nil || !ok || got.Text != enforce {
		t.Fatalf("SharedPolicy: %+v %v %v", got, ok, err)
	}
	if err := p.DeleteSharedPolicy(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*replica{a, b} {
		if s := r.fl.Stats(); s.Errors != 0 {
			t.Errorf("replica %s: %d errors under the ACL", r.id, s.Errors)
		}
	}
}
