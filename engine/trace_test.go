package engine_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/daned/daned/engine"
	"github.com/daned/daned/mtasts"
	"github.com/daned/daned/probe"
	"github.com/daned/daned/resolver"
)

func attrOf(s sdktrace.ReadOnlySpan, key string) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func TestSpanTree(t *testing.T) {
	good := selfSigned(t, now.Add(365*24*time.Hour))
	other := selfSigned(t, now.Add(365*24*time.Hour))
	steps := []probe.Step{
		{Stage: probe.StageConnect, Start: now, Duration: time.Millisecond},
		{Stage: probe.StageBanner, Start: now.Add(time.Millisecond), Duration: time.Millisecond},
		{Stage: probe.StageEHLO, Start: now.Add(2 * time.Millisecond), Duration: time.Millisecond},
		{Stage: probe.StageSTARTTLS, Start: now.Add(3 * time.Millisecond), Duration: time.Millisecond},
		{Stage: probe.StageHandshake, Start: now.Add(4 * time.Millisecond), Duration: time.Millisecond},
	}
	tests := []struct {
		name       string
		tlsaCert   string
		wantAction string
		wantError  bool
	}{
		{name: "authenticated", tlsaCert: spki311(good), wantAction: "DELIVER"},
		{name: "mismatch", tlsaCert: spki311(other), wantAction: "DEFER", wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			d := &fakeDNS{answers: map[string]any{
				"example.com./MX":   secure(t, "example.com", dns.TypeMX, 300, "example.com. 300 IN MX 10 mx.example.com."),
				"mx.example.com./A": secure(t, "mx.example.com", dns.TypeA, 300, "mx.example.com. 300 IN A 192.0.2.1"),
				"_25._tcp.mx.example.com./TLSA": secure(t, "_25._tcp.mx.example.com", dns.TypeTLSA, 300,
					"_25._tcp.mx.example.com. 300 IN TLSA "+tt.tlsaCert),
				"mx.example.com./AAAA": &resolver.QueryError{Kind: resolver.ErrServFail, Rcode: dns.RcodeServerFailure},
			}}
			// The AAAA failure would skip the host; answer it after all
			// for this test, and keep a failing lookup span elsewhere.
			d.answers["mx.example.com./AAAA"] = secure(t, "mx.example.com", dns.TypeAAAA, 300)
			res := tlsOK(good)
			res.Steps, res.Addr = steps, netip.AddrPortFrom(ip1, 25)
			p := &fakeProber{results: map[netip.Addr]*probe.Result{ip1: res}}
			e := newEngine(t, d, p, func(c *engine.Config) { c.TracerProvider = tp })
			if _, err := e.Validate(context.Background(), "example.com", engine.Options{}); err != nil {
				t.Fatal(err)
			}
			spans := rec.Ended()
			byName := map[string][]sdktrace.ReadOnlySpan{}
			for _, s := range spans {
				byName[s.Name()] = append(byName[s.Name()], s)
			}
			if len(byName["dane.validate"]) != 1 || len(byName["dane.host"]) != 1 || len(byName["smtp.probe"]) != 1 ||
				len(byName["dane.match"]) != 1 || len(byName["dns.lookup"]) != 4 {
				t.Fatalf("spans: %v", names(spans))
			}
			root, host, pr, match := byName["dane.validate"][0], byName["dane.host"][0], byName["smtp.probe"][0], byName["dane.match"][0]
			if v, _ := attrOf(root, "dane.domain"); v.AsString() != "example.com" {
				t.Errorf("dane.domain = %v", v)
			}
			if v, _ := attrOf(root, "dane.action"); v.AsString() != tt.wantAction {
				t.Errorf("dane.action = %v, want %s", v, tt.wantAction)
			}
			if host.Parent().SpanID() != root.SpanContext().SpanID() {
				t.Error("host span is not a child of the validation")
			}
			for _, s := range []sdktrace.ReadOnlySpan{pr, match} {
				if s.Parent().SpanID() != host.SpanContext().SpanID() {
					t.Errorf("%s is not a child of its host", s.Name())
				}
			}
			mxParent, hostLookups := 0, 0
			for _, l := range byName["dns.lookup"] {
				q, _ := attrOf(l, "dns.question.type")
				sec, _ := attrOf(l, "dns.security")
				if sec.AsString() != "secure" {
					t.Errorf("lookup %s security %q", q.AsString(), sec.AsString())
				}
				switch l.Parent().SpanID() {
				case root.SpanContext().SpanID():
					mxParent++
				case host.SpanContext().SpanID():
					hostLookups++
				}
			}
			if mxParent != 1 || hostLookups != 3 {
				t.Errorf("lookups under validation %d (want the MX), under host %d (want A, AAAA, TLSA)", mxParent, hostLookups)
			}
			if v, _ := attrOf(pr, "network.peer.address"); v.AsString() != "192.0.2.1" {
				t.Errorf("network.peer.address = %v", v)
			}
			if v, _ := attrOf(pr, "tls.protocol.version"); v.AsString() == "" {
				t.Error("no tls.protocol.version")
			}
			if got := len(pr.Events()); got != len(steps) {
				t.Errorf("%d probe events, want one per step (%d)", got, len(steps))
			} else if pr.Events()[1].Name != probe.StageBanner.String() || !pr.Events()[1].Time.Equal(steps[1].Start) {
				t.Errorf("event %q at %v, want the banner step at its time", pr.Events()[1].Name, pr.Events()[1].Time)
			}
			matched, _ := attrOf(match, "dane.tlsa.matched")
			if tt.wantError {
				if root.Status().Code != codes.Error || match.Status().Code != codes.Error || host.Status().Code != codes.Error {
					t.Errorf("failure not marked: root %v host %v match %v", root.Status(), host.Status(), match.Status())
				}
				if matched.AsInt64() != -1 {
					t.Errorf("dane.tlsa.matched = %d on a mismatch", matched.AsInt64())
				}
			} else {
				if root.Status().Code == codes.Error || matched.AsInt64() != 0 {
					t.Errorf("root status %v, matched %d", root.Status(), matched.AsInt64())
				}
			}
		})
	}
}

func TestLookupFailureSpan(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	d := &fakeDNS{answers: map[string]any{
		"example.com./MX": &resolver.QueryError{Kind: resolver.ErrBogus, Security: resolver.Bogus, Rcode: dns.RcodeServerFailure},
	}}
	e := newEngine(t, d, &fakeProber{}, func(c *engine.Config) { c.TracerProvider = tp })
	if _, err := e.Validate(context.Background(), "example.com", engine.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, s := range rec.Ended() {
		if s.Name() != "dns.lookup" {
			continue
		}
		sec, _ := attrOf(s, "dns.security")
		rc, _ := attrOf(s, "dns.response_code")
		if s.Status().Code != codes.Error || sec.AsString() != "bogus" || rc.AsString() != "SERVFAIL" {
			t.Fatalf("bogus lookup span: status %v security %q rcode %q", s.Status(), sec.AsString(), rc.AsString())
		}
		return
	}
	t.Fatal("no lookup span")
}

func names(spans []sdktrace.ReadOnlySpan) string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return fmt.Sprint(out)
}

// TestSpanMTASTS: the policy source is asked in a span of its own under
// the validation, and lookups made through TraceLookups (the policy
// source's TXT lookup) are spans under it.
func TestSpanMTASTS(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	d := &fakeDNS{answers: map[string]any{
		"example.com./MX":   insecure(t, "example.com", dns.TypeMX, 300, "example.com. 300 IN MX 10 mx.example.com."),
		"mx.example.com./A": insecure(t, "mx.example.com", dns.TypeA, 300, "mx.example.com. 300 IN A 192.0.2.1"),
	}}
	txt := engine.TraceLookups(d, tp)
	src := policyFunc(func(ctx context.Context, domain string) mtasts.PolicyResult {
		if _, err := txt.Lookup(ctx, "_mta-sts."+domain, dns.TypeTXT); err != nil {
			t.Error(err)
		}
		return mtasts.PolicyResult{Domain: domain, Failure: mtasts.ReasonPolicyFetchFailed, Detail: "HTTP 404"}
	})
	e := newEngine(t, d, &fakeProber{}, func(c *engine.Config) { c.TracerProvider, c.MTASTS, c.WebPKIRoots = tp, src, x509.NewCertPool() })
	if _, err := e.Validate(context.Background(), "example.com", engine.Options{PolicyOnly: true}); err != nil {
		t.Fatal(err)
	}
	var sts, lookup sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		switch {
		case s.Name() == "mta_sts.policy":
			sts = s
		case s.Name() == "dns.lookup":
			if v, _ := attrOf(s, "dns.question.type"); v.AsString() == "TXT" {
				lookup = s
			}
		}
	}
	if sts == nil || lookup == nil {
		t.Fatalf("spans: %v", names(rec.Ended()))
	}
	if lookup.Parent().SpanID() != sts.SpanContext().SpanID() {
		t.Error("the TXT lookup span is not a child of the mta_sts.policy span")
	}
	if v, _ := attrOf(sts, "mta_sts.failure"); v.AsString() != "sts-policy-fetch-error" || sts.Status().Code != codes.Error {
		t.Errorf("mta_sts.policy span: failure %q, status %v", v.AsString(), sts.Status())
	}
}

type policyFunc func(ctx context.Context, domain string) mtasts.PolicyResult

func (f policyFunc) Policy(ctx context.Context, domain string) mtasts.PolicyResult {
	return f(ctx, domain)
}
