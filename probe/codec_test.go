package probe_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/daned/daned/internal/testcert"
	"github.com/daned/daned/internal/testworld"
	"github.com/daned/daned/probe"
)

// codecSentinels are what errors.Is must answer the same about an error
// before and after the trip.
var codecSentinels = append(append([]error(nil), sentinels...),
	probe.ErrChainLimit, context.Canceled, context.DeadlineExceeded, os.ErrDeadlineExceeded)

// errDiff compares two errors as a reader of a Result does: the text and
// what errors.Is says about every sentinel.
func errDiff(path string, a, b error) string {
	if (a == nil) != (b == nil) {
		return fmt.Sprintf("%s: %v became %v", path, a, b)
	}
	if a == nil {
		return ""
	}
	if a.Error() != b.Error() {
		return fmt.Sprintf("%s: %q became %q", path, a, b)
	}
	for _, s := range codecSentinels {
		if errors.Is(a, s) != errors.Is(b, s) {
			return fmt.Sprintf("%s: errors.Is(err, %q) was %v, is %v", path, s, errors.Is(a, s), errors.Is(b, s))
		}
	}
	return ""
}

// resultDiff returns "" when two results are the same for every reader:
// certificates compared by DER, times by the instant, errors by errDiff,
// every other field as reflect.DeepEqual sees it.
func resultDiff(a, b *probe.Result) string {
	if (a == nil) != (b == nil) {
		return "one result is nil"
	}
	if a == nil {
		return ""
	}
	if (a.Chain == nil) != (b.Chain == nil) || len(a.Chain) != len(b.Chain) {
		return fmt.Sprintf("chain of %d became %d", len(a.Chain), len(b.Chain))
	}
	for i := range a.Chain {
		if !bytes.Equal(a.Chain[i].Raw, b.Chain[i].Raw) {
			return fmt.Sprintf("certificate %d differs", i)
		}
	}
	if d := errDiff("Err", a.Err, b.Err); d != "" {
		return d
	}
	if (a.Steps == nil) != (b.Steps == nil) || len(a.Steps) != len(b.Steps) {
		return fmt.Sprintf("%d steps became %d", len(a.Steps), len(b.Steps))
	}
	for i := range a.Steps {
		sa, sb := a.Steps[i], b.Steps[i]
		if d := errDiff(fmt.Sprintf("Steps[%d].Err", i), sa.Err, sb.Err); d != "" {
			return d
		}
		if sa.Stage != sb.Stage || sa.Duration != sb.Duration || !sa.Start.Equal(sb.Start) {
			return fmt.Sprintf("step %d: %+v became %+v", i, sa, sb)
		}
	}
	ca, cb := *a, *b
	ca.Chain, cb.Chain, ca.Err, cb.Err, ca.Steps, cb.Steps = nil, nil, nil, nil, nil, nil
	if !reflect.DeepEqual(ca, cb) {
		return fmt.Sprintf("%+v became %+v", ca, cb)
	}
	return ""
}

func roundTripResult(t *testing.T, r *probe.Result) {
	t.Helper()
	b, err := probe.MarshalResult(r)
	if err != nil {
		t.Fatalf("MarshalResult: %v", err)
	}
	got, err := probe.UnmarshalResult(b)
	if err != nil {
		t.Fatalf("UnmarshalResult: %v", err)
	}
	if d := resultDiff(r, got); d != "" {
		t.Fatalf("the round trip changed the result: %s", d)
	}
}

// codecResults are results of every shape: success with a chain, and a
// failure of each kind, built the way Probe builds them.
func codecResults(t testing.TB) map[string]*probe.Result {
	at := time.Date(2026, 6, 1, 12, 0, 0, 42, time.UTC)
	ca := testcert.New(t, testcert.Spec{CommonName: "ca", CA: true, NotBefore: at.Add(-time.Hour), NotAfter: at.Add(time.Hour)})
	leaf := testcert.New(t, testcert.Spec{CommonName: "mx.example.com", Parent: ca, NotBefore: at.Add(-time.Hour), NotAfter: at.Add(time.Hour)})
	addr := netip.MustParseAddrPort("[2001:db8::25]:25")
	failed := func(stage probe.Stage, err error) *probe.Result {
		steps := []probe.Step{}
		for s := probe.StageConnect; s < stage; s++ {
			steps = append(steps, probe.Step{Stage: s, Start: at, Duration: time.Millisecond})
		}
		steps = append(steps, probe.Step{Stage: stage, Start: at, Duration: time.Second, Err: err})
		return &probe.Result{Addr: addr, ServerName: "mx.example.com", Banner: "mx.example.com ESMTP",
			STARTTLSOffered: stage > probe.StageEHLO, Reached: stage, Steps: steps, Elapsed: 2 * time.Second, Err: err}
	}
	ok := &probe.Result{Addr: addr, ServerName: "mx.example.com", Banner: "mx.example.com ESMTP ready",
		STARTTLSOffered: true, TLS: true, TLSVersion: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256,
		Chain: []*x509.Certificate{leaf.Cert, ca.Cert}, Reached: probe.StageDone, Elapsed: 12 * time.Millisecond}
	for s := probe.StageConnect; s < probe.StageDone; s++ {
		ok.Steps = append(ok.Steps, probe.Step{Stage: s, Start: at.Add(time.Duration(s) * time.Millisecond), Duration: time.Millisecond})
	}
	return map[string]*probe.Result{
		"success":          ok,
		"zero":             {},
		"connect refused":  failed(probe.StageConnect, fmt.Errorf("connect: %w: %w", probe.ErrConnect, errors.New("connection refused"))),
		"dial timeout":     failed(probe.StageConnect, fmt.Errorf("connect: %w: %w", probe.ErrTimeout, os.ErrDeadlineExceeded)),
		"cancelled":        failed(probe.StageBanner, fmt.Errorf("banner: %w: %w (%v)", probe.ErrTimeout, context.Canceled, "use of closed connection")),
		"caller deadline":  failed(probe.StageEHLO, fmt.Errorf("ehlo: %w: %w (%v)", probe.ErrTimeout, context.DeadlineExceeded, "i/o timeout")),
		"smtp error":       failed(probe.StageBanner, fmt.Errorf("banner: %w: greeting 554 go away", probe.ErrSMTP)),
		"no STARTTLS":      failed(probe.StageEHLO, fmt.Errorf("ehlo: %w: EHLO reply does not list STARTTLS", probe.ErrNoSTARTTLS)),
		"STARTTLS refused": failed(probe.StageSTARTTLS, fmt.Errorf("starttls: %w: STARTTLS answered 454 later", probe.ErrSTARTTLSRefused)),
		"handshake":        failed(probe.StageHandshake, fmt.Errorf("handshake: %w: remote error: tls: handshake failure", probe.ErrHandshake)),
		"chain over the limit": failed(probe.StageHandshake, fmt.Errorf("handshake: %w: %w: 17 certificates, the limit is 16",
			probe.ErrHandshake, probe.ErrChainLimit)),
	}
}

func TestResultCodec(t *testing.T) {
	for name, r := range codecResults(t) {
		t.Run(name, func(t *testing.T) { roundTripResult(t, r) })
	}
}

func TestMarshalResultRefuses(t *testing.T) {
	for name, r := range map[string]*probe.Result{
		"nil":                     nil,
		"certificate without DER": {Chain: []*x509.Certificate{{}}},
		"too big":                 {Banner: strings.Repeat("x", probe.MaxEncodedResult)},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := probe.MarshalResult(r); err == nil {
				t.Fatal("encoded; want an error")
			}
		})
	}
}

func TestUnmarshalResultRefuses(t *testing.T) {
	good, err := probe.MarshalResult(codecResults(t)["success"])
	if err != nil {
		t.Fatal(err)
	}
	v := func(s string) []byte { return append([]byte{good[0]}, s...) }
	tests := []struct {
		name    string
		in      []byte
		version bool
	}{
		{"empty", nil, false},
		{"unknown version", append([]byte{good[0] + 1}, good[1:]...), true},
		{"truncated", good[:len(good)/2], false},
		{"unknown field", v(`{"addr":"","later":true}`), false},
		{"unknown stage", v(`{"reached":6}`), false},
		{"unknown step stage", v(`{"steps":[{"stage":-1}]}`), false},
		{"too many steps", v(`{"steps":[{},{},{},{},{},{}]}`), false},
		{"unknown wrapped error", v(`{"err":{"text":"x","wraps":["io.EOF"]}}`), false},
		{"bad certificate", v(`{"chain":["MAA="]}`), false},
		{"bad address", v(`{"addr":"1.2.3.4"}`), false},
		{"trailing data", append(append([]byte(nil), good...), "{}"...), false},
		{"over the limit", v(string(make([]byte, probe.MaxEncodedResult))), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := probe.UnmarshalResult(tc.in)
			if err == nil {
				t.Fatalf("decoded %+v; want an error", r)
			}
			if errors.Is(err, probe.ErrCodecVersion) != tc.version {
				t.Fatalf("err = %v; want ErrCodecVersion: %v", err, tc.version)
			}
		})
	}
}

// TestResultCodecWorld probes every address of the test world, the
// catalogue and the hostile servers (tarpit, drip, endless reply,
// stalled and garbage handshakes), and a probe cancelled by its caller,
// and checks that each result survives the codec.
func TestResultCodecWorld(t *testing.T) {
	w := testworld.StartT(t, testworld.Options{Extra: testworld.HostileScenarios()})
	p := newProber(t, probe.Config{Port: w.SMTPPort(), Timeout: 4 * time.Second, StepTimeout: 2 * time.Second})
	type target struct {
		addr netip.Addr
		sni  string
	}
	var targets []target
	for _, sc := range w.Scenarios() {
		for _, h := range sc.Hosts {
			for _, a := range h.Addrs {
				targets = append(targets, target{a.Addr(), h.Name})
			}
		}
	}
	results := make([]*probe.Result, len(targets)+1)
	var wg sync.WaitGroup
	slots := make(chan struct{}, 16)
	for i, tg := range targets {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			results[i] = p.Probe(context.Background(), tg.addr, tg.sni)
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	results[len(targets)] = p.Probe(ctx, targets[0].addr, targets[0].sni)
	wg.Wait()

	seen := map[string]bool{}
	for i, r := range results {
		t.Run(fmt.Sprintf("%d/%v", i, r.Addr), func(t *testing.T) { roundTripResult(t, r) })
		for _, s := range codecSentinels {
			if errors.Is(r.Err, s) {
				seen[s.Error()] = true
			}
		}
		if r.Err == nil {
			seen["success"] = true
		}
	}
	for _, want := range []error{probe.ErrConnect, probe.ErrTimeout, probe.ErrSMTP, probe.ErrNoSTARTTLS,
		probe.ErrSTARTTLSRefused, probe.ErrHandshake, context.Canceled} {
		if !seen[want.Error()] {
			t.Errorf("no probe of the world failed with %q", want)
		}
	}
	if !seen["success"] {
		t.Error("no probe of the world succeeded")
	}
	t.Logf("%d probe results round-tripped", len(results))
}

// FuzzUnmarshalResult feeds UnmarshalResult anything: it must return a
// result or an error, never panic, and what it decodes must encode and
// decode again to the same result.
func FuzzUnmarshalResult(f *testing.F) {
	for name, r := range codecResults(f) {
		if name == "success" {
			// Seeds stay small: the fuzzer minimises each input it
			// finds interesting, and big ones make that slow.
			small := *r
			small.Chain = small.Chain[:1]
			r = &small
		}
		b, err := probe.MarshalResult(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := probe.UnmarshalResult(b)
		if err != nil {
			return
		}
		again, err := probe.MarshalResult(r)
		if err != nil {
			t.Fatalf("a decoded result does not encode: %v", err)
		}
		r2, err := probe.UnmarshalResult(again)
		if err != nil {
			t.Fatalf("a re-encoded result does not decode: %v", err)
		}
		if d := resultDiff(r, r2); d != "" {
			t.Fatalf("second round trip changed the result: %s", d)
		}
	})
}

// BenchmarkResultCodec encodes and decodes a successful probe with a
// chain of two certificates (decoding parses them again), and a failure.
func BenchmarkResultCodec(b *testing.B) {
	results := codecResults(b)
	for _, name := range []string{"success", "handshake"} {
		r := results[name]
		enc, err := probe.MarshalResult(r)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name+"/marshal", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := probe.MarshalResult(r); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(enc)), "bytes")
		})
		b.Run(name+"/unmarshal", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := probe.UnmarshalResult(enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
