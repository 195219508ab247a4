//go:build cgo

package resolver_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/daned/daned/internal/testworld"
	"github.com/daned/daned/resolver"
)

// embeddedConfig writes, for w, the trust anchor (the world's root DS) and
// an unbound.conf with the world's stub zones (they carry ports, which
// root hints cannot), `local-zone: "test." nodefault` (libunbound refuses
// the RFC 6761 name otherwise) and `do-not-query-localhost: no`.
func embeddedConfig(t testing.TB, w *testworld.World) resolver.EmbeddedConfig {
	t.Helper()
	dir := t.TempDir()
	ta := filepath.Join(dir, "root.ds")
	conf := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(ta, []byte(w.TrustAnchor()), 0o644); err != nil {
		t.Fatal(err)
	}
	text := "server:\n\tdo-not-query-localhost: no\n\tlocal-zone: \"test.\" nodefault\n\tqname-minimisation: no\n\n" + w.StubZones()
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return resolver.EmbeddedConfig{TrustAnchorFile: ta, ConfigFile: conf}
}

func startEmbedded(t testing.TB, cfg resolver.EmbeddedConfig) *resolver.Embedded {
	t.Helper()
	r, err := resolver.NewEmbedded(cfg)
	if err != nil {
		t.Fatalf("NewEmbedded: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func TestEmbeddedLookup(t *testing.T) {
	w := testworld.StartT(t, testworld.Options{})
	r := startEmbedded(t, embeddedConfig(t, w))

	tests := []struct {
		name    string
		qname   string
		qtype   uint16
		sec     resolver.Security
		rcode   int
		records int
		chain   []string
		ttl     uint32
	}{
		{name: "secure MX", qname: "EE-SPKI.test", qtype: dns.TypeMX, sec: resolver.Secure, records: 1, ttl: 300},
		{name: "secure TLSA", qname: "_25._tcp.mx.ee-spki.test.", qtype: dns.TypeTLSA, sec: resolver.Secure, records: 1, ttl: 300},
		{name: "secure NXDOMAIN is an answer with the RFC 2308 TTL", qname: "nxdomain.test", qtype: dns.TypeMX, sec: resolver.Secure, rcode: dns.RcodeNameError, ttl: 60},
		{name: "secure TLSA denial", qname: "_25._tcp.mx.notlsa.test", qtype: dns.TypeTLSA, sec: resolver.Secure, rcode: dns.RcodeNameError, ttl: 60},
		{name: "secure NODATA", qname: "mx.ee-spki.test", qtype: dns.TypeTXT, sec: resolver.Secure, ttl: 60},
		{name: "CNAME at the TLSA name", qname: "_25._tcp.mx.tlsa-cname.test", qtype: dns.TypeTLSA, sec: resolver.Secure, records: 1,
			chain: []string{"tlsa-for-mx.tlsa-cname.test."}, ttl: 300},
		{name: "CNAME to an address", qname: "alias.cname-mx.test", qtype: dns.TypeA, sec: resolver.Secure, records: 1,
			chain: []string{"mx.cname-mx.test."}, ttl: 300},
		{name: "unsigned zone is insecure", qname: "mx.unsigned.test", qtype: dns.TypeA, sec: resolver.Insecure, records: 1, ttl: 300},
		{name: "insecure MX", qname: "insecure-mx.test", qtype: dns.TypeMX, sec: resolver.Insecure, records: 1, ttl: 300},
		{name: "large TLSA RRset (TCP)", qname: "_25._tcp.mx.big-tlsa.test", qtype: dns.TypeTLSA, sec: resolver.Secure, records: 4, ttl: 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			a, err := r.Lookup(ctx, tt.qname, tt.qtype)
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			if a.Name != dns.CanonicalName(tt.qname) || a.Type != tt.qtype || a.Security != tt.sec || a.Rcode != tt.rcode ||
				len(a.Records) != tt.records || !reflect.DeepEqual(a.Chain, tt.chain) || a.TTL != tt.ttl {
				t.Errorf("answer %s %s %v rcode %d records %v chain %v TTL %d; want %v rcode %d, %d records, chain %v, TTL %d",
					a.Name, dns.TypeToString[a.Type], a.Security, a.Rcode, a.Records, a.Chain, a.TTL, tt.sec, tt.rcode, tt.records, tt.chain, tt.ttl)
			}
			for _, rr := range a.Records {
				if rr.Header().Rrtype != tt.qtype || !strings.EqualFold(rr.Header().Name, a.Final()) {
					t.Errorf("record %v is not %s at %s", rr, dns.TypeToString[tt.qtype], a.Final())
				}
			}
		})
	}
}

// bogusCases are the broken-DNSSEC scenarios and the phrase each must
// yield, in both modes.
var bogusCases = []struct {
	qname  string
	qtype  uint16
	reason string
	text   string // in libunbound's or Unbound's own words
}{
	{"expired-rrsig.test", dns.TypeMX, resolver.ReasonSigExpired, "signature expired"},
	{"future-rrsig.test", dns.TypeMX, resolver.ReasonSigNotYetValid, "signature before inception date"},
	{"ds-mismatch.test", dns.TypeMX, resolver.ReasonDSMismatch, "no keys have a DS"},
	{"no-dnskey.test", dns.TypeMX, resolver.ReasonDNSKEYMissing, "No DNSKEY record"},
	{"_25._tcp.mx.tlsa-nosig.test", dns.TypeTLSA, resolver.ReasonRRSIGMissing, "no signatures"},
}

func TestEmbeddedBogus(t *testing.T) {
	w := testworld.StartT(t, testworld.Options{})
	r := startEmbedded(t, embeddedConfig(t, w))
	for _, tc := range bogusCases {
		t.Run(tc.qname, func(t *testing.T) {
			// Twice: the second answer comes from libunbound's cache of
			// bogus keys and must say the same.
			for i := 0; i < 2; i++ {
				_, err := r.Lookup(context.Background(), tc.qname, tc.qtype)
				checkBogus(t, err, tc.reason, tc.text)
			}
		})
	}
}

func checkBogus(t *testing.T, err error, reason, text string) {
	t.Helper()
	var qe *resolver.QueryError
	if !errors.Is(err, resolver.ErrBogus) || !errors.As(err, &qe) {
		t.Fatalf("err = %v, want ErrBogus", err)
	}
	if qe.Security != resolver.Bogus || qe.Reason != reason {
		t.Errorf("Security %v Reason %q, want bogus %q", qe.Security, qe.Reason, reason)
	}
	if msg := err.Error(); !strings.Contains(msg, "DNSSEC validation failed: "+reason) || !strings.Contains(msg, text) {
		t.Errorf("Error() = %q, want the phrase %q and the validator's text %q", msg, reason, text)
	}
}

func TestEmbeddedFailures(t *testing.T) {
	w := testworld.StartT(t, testworld.Options{})
	r := startEmbedded(t, embeddedConfig(t, w))

	t.Run("SERVFAIL from the authority", func(t *testing.T) {
		_, err := r.Lookup(context.Background(), "_25._tcp.mx.tlsa-servfail.test", dns.TypeTLSA)
		var qe *resolver.QueryError
		if !errors.Is(err, resolver.ErrServFail) || !errors.As(err, &qe) || qe.Security != resolver.SecurityUnknown {
			t.Fatalf("err = %v, want ErrServFail", err)
		}
	})
	t.Run("dead authority: ErrTimeout at the context deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := r.Lookup(ctx, "_25._tcp.mx.tlsa-timeout.test", dns.TypeTLSA)
		if !errors.Is(err, resolver.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want ErrTimeout wrapping the deadline", err)
		}
		// Without the deadline Unbound waits well over 30 s: a bound far
		// above 300ms and far below that tells the two apart under load.
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("returned after %v; the deadline was 300ms", d)
		}
	})
	t.Run("Config.Timeout bounds a lookup", func(t *testing.T) {
		cfg := embeddedConfig(t, w)
		cfg.Timeout = 200 * time.Millisecond
		r := startEmbedded(t, cfg)
		start := time.Now()
		_, err := r.Lookup(context.Background(), "_25._tcp.mx.dead.test", dns.TypeTLSA)
		if !errors.Is(err, resolver.ErrTimeout) {
			t.Fatalf("err = %v, want ErrTimeout", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("returned after %v; the timeout was 200ms", d)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := r.Lookup(ctx, "ee-spki.test", dns.TypeMX)
		if !errors.Is(err, resolver.ErrTimeout) || !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want ErrTimeout wrapping context.Canceled", err)
		}
	})
	t.Run("invalid name is not a QueryError", func(t *testing.T) {
		_, err := r.Lookup(context.Background(), "a..b", dns.TypeA)
		var qe *resolver.QueryError
		if err == nil || errors.As(err, &qe) {
			t.Fatalf("err = %v, want a plain error", err)
		}
	})
	t.Run("after Close", func(t *testing.T) {
		r, err := resolver.NewEmbedded(embeddedConfig(t, w))
		if err != nil {
			t.Fatal(err)
		}
		// A lookup in flight at Close ends too.
		done := make(chan error, 1)
		go func() {
			_, err := r.Lookup(context.Background(), "_25._tcp.mx.tlsa-timeout.test", dns.TypeTLSA)
			done <- err
		}()
		time.Sleep(100 * time.Millisecond)
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, resolver.ErrNetwork) {
				t.Errorf("in-flight lookup: %v, want ErrNetwork", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("in-flight lookup did not end at Close")
		}
		if _, err := r.Lookup(context.Background(), "ee-spki.test", dns.TypeMX); !errors.Is(err, resolver.ErrNetwork) {
			t.Errorf("lookup after Close: %v, want ErrNetwork", err)
		}
		if err := r.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}

func TestEmbeddedConcurrent(t *testing.T) {
	w := testworld.StartT(t, testworld.Options{})
	r := startEmbedded(t, embeddedConfig(t, w))
	names := []string{"ee-spki.test", "ee-cert.test", "ta.test", "two-mx.test", "unsigned.test", "nxdomain.test", "expired-rrsig.test"}
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			name := names[i%len(names)]
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			a, err := r.Lookup(ctx, name, dns.TypeMX)
			switch name {
			case "expired-rrsig.test":
				if !errors.Is(err, resolver.ErrBogus) {
					t.Errorf("%s: %v, want bogus", name, err)
				}
			case "unsigned.test":
				if err != nil || a.Security != resolver.Insecure {
					t.Errorf("%s: %v %v, want insecure", name, a, err)
				}
			default:
				if err != nil || a.Security != resolver.Secure {
					t.Errorf("%s: %v %v, want secure", name, a, err)
				}
			}
		}(i)
	}
	wg.Wait()
}

func TestEmbeddedTrustAnchors(t *testing.T) {
	w := testworld.StartT(t, testworld.Options{})
	cfg := embeddedConfig(t, w)

	t.Run("built-in IANA anchors do not validate the test world", func(t *testing.T) {
		c := cfg
		c.TrustAnchorFile = ""
		r := startEmbedded(t, c)
		_, err := r.Lookup(context.Background(), "ee-spki.test", dns.TypeMX)
		if !errors.Is(err, resolver.ErrBogus) {
			t.Fatalf("err = %v, want bogus: the world's root key is not the IANA one", err)
		}
	})
	t.Run("RFC 5011 anchor file is seeded and used", func(t *testing.T) {
		c := cfg
		c.AutoTrustAnchorFile = filepath.Join(t.TempDir(), "root.key")
		r := startEmbedded(t, c)
		a, err := r.Lookup(context.Background(), "ee-spki.test", dns.TypeMX)
		if err != nil || a.Security != resolver.Secure {
			t.Fatalf("%v %v, want secure", a, err)
		}
		b, err := os.ReadFile(c.AutoTrustAnchorFile)
		if err != nil || !strings.Contains(string(b), "DS") && !strings.Contains(string(b), "DNSKEY") {
			t.Fatalf("anchor file: %q %v", b, err)
		}
	})
	t.Run("missing files are reported at creation", func(t *testing.T) {
		for _, c := range []resolver.EmbeddedConfig{
			{TrustAnchorFile: "/nonexistent/root.ds"},
			{RootHintsFile: "/nonexistent/root.hints"},
			{ConfigFile: "/nonexistent/unbound.conf"},
		} {
			if r, err := resolver.NewEmbedded(c); err == nil {
				r.Close()
				t.Errorf("NewEmbedded(%+v) succeeded", c)
			}
		}
	})
	t.Run("a malformed anchor is reported at creation", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.ds")
		if err := os.WriteFile(bad, []byte(". IN DS not a record\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if r, err := resolver.NewEmbedded(resolver.EmbeddedConfig{TrustAnchorFile: bad}); err == nil {
			r.Close()
			t.Errorf("NewEmbedded with a malformed anchor succeeded")
		}
	})
	t.Run("the built-in anchors are the IANA ones", func(t *testing.T) {
		want := map[uint16]string{
			20326: "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
			38696: "683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16",
		}
		for _, s := range resolver.RootAnchors {
			rr, err := dns.NewRR(s)
			if err != nil {
				t.Fatal(err)
			}
			ds := rr.(*dns.DS)
			if ds.Hdr.Name != "." || ds.Algorithm != 8 || ds.DigestType != 2 || !strings.EqualFold(ds.Digest, want[ds.KeyTag]) {
				t.Errorf("anchor %v", ds)
			}
			delete(want, ds.KeyTag)
		}
		if len(want) != 0 {
			t.Errorf("missing anchors %v", want)
		}
	})
}

// TestEmbeddedMatchesUpstream compares embedded answers with those of a
// real Unbound for the same world: same security, rcode, chain, records
// and TTL, same error kind and reason.
func TestEmbeddedMatchesUpstream(t *testing.T) {
	w := testworld.StartT(t, testworld.Options{})
	u := testworld.StartUnboundT(t, w)
	up, err := resolver.New(resolver.Config{Server: u.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	emb := startEmbedded(t, embeddedConfig(t, w))
	type q struct {
		name  string
		qtype uint16
	}
	var qs []q
	for _, sc := range w.Scenarios() {
		qs = append(qs, q{sc.Domain, dns.TypeMX})
		for _, h := range sc.Hosts {
			qs = append(qs, q{h.Name, dns.TypeA}, q{"_25._tcp." + h.Name, dns.TypeTLSA})
		}
	}
	for _, q := range qs {
		if strings.Contains(q.name, "tlsa-timeout") && q.qtype == dns.TypeTLSA {
			continue // a timeout: nothing to compare but the deadline
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ua, uerr := up.Lookup(ctx, q.name, q.qtype)
		ea, eerr := emb.Lookup(ctx, q.name, q.qtype)
		cancel()
		what := q.name + " " + dns.TypeToString[q.qtype]
		if (uerr == nil) != (eerr == nil) {
			t.Errorf("%s: upstream %v / %v, embedded %v / %v", what, ua, uerr, ea, eerr)
			continue
		}
		if uerr != nil {
			var uq, eq *resolver.QueryError
			errors.As(uerr, &uq)
			errors.As(eerr, &eq)
			if uq == nil || eq == nil || uq.Kind != eq.Kind || uq.Security != eq.Security || uq.Reason != eq.Reason {
				t.Errorf("%s: upstream %v, embedded %v", what, uerr, eerr)
			}
			continue
		}
		ua.EDE, ea.EDE = nil, nil
		if ua.Security != ea.Security || ua.Rcode != ea.Rcode || !reflect.DeepEqual(ua.Chain, ea.Chain) || ua.TTL != ea.TTL ||
			len(ua.Records) != len(ea.Records) {
			t.Errorf("%s:\nupstream %+v\nembedded %+v", what, ua, ea)
		}
	}
}
