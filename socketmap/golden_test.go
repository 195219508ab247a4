package socketmap_test

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/daned/daned/cache"
	"github.com/daned/daned/dane"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/socketmap"
)

var update = flag.Bool("update", false, "rewrite socketmap/testdata/*.golden from the replies of this run")

// rfc8461 is the example policy of RFC 8461 §3.2.
var rfc8461 = &socketmap.STS{
	Mode:     socketmap.STSEnforce,
	Patterns: []string{"mail.example.com", "*.example.net", "backupmx.example.com"},
	Policy:   []string{"version: STSv1", "mode: enforce", "mx: mail.example.com", "mx: *.example.net", "mx: backupmx.example.com", "max_age: 604800"},
}

func withFailure(s *socketmap.STS, failure string, patterns ...string) *socketmap.STS {
	c := *s
	c.Failure = failure
	if patterns != nil {
		c.Patterns = patterns
	}
	return &c
}

type stsTable map[string]*socketmap.STS

func (t stsTable) Policy(_ context.Context, domain string) (*socketmap.STS, error) {
	if s, ok := t[domain]; ok {
		if s == nil {
			return nil, errors.New("policy store unavailable")
		}
		return s, nil
	}
	return nil, nil
}

type refuseAll struct{}

func (refuseAll) Allow(string) bool { return false }

// goldenCase is one reply shape: a raw request (netstring-encoded unless
// raw is set) to a server whose validator holds result for the domain.
type goldenCase struct {
	name    string
	request string
	raw     bool // request is sent as is, not as a netstring
	result  *engine.Result
	err     error
	sts     *socketmap.STS
	stsErr  bool
	block   bool // the validation never ends: TIMEOUT
	limited bool
	// noValidation: the key must be answered without a validation.
	noValidation bool
}

func goldenCases() []goldenCase {
	const d = "example.com"
	secureEE := host("mx.example.com", dane.PolicyDANERequired, engine.DNSSecure)
	return []goldenCase{
		// DANE.
		{name: "dane-only", request: "QUERY example.com", result: decided(d, engine.DNSSecure, secureEE)},
		{name: "dane-only-two-hosts-one-unusable", request: "QUERY example.com", result: decided(d, engine.DNSSecure,
			failedHost("mx1.example.com", dane.ReasonDNSQueryFailed, engine.DNSNotLooked, "A lookup for MX host mx1.example.com failed: SERVFAIL"), secureEE)},
		{name: "dane-only-tlsrpt-never-sts", request: "QUERYwithTLSRPT example.com", result: decided(d, engine.DNSSecure, secureEE), sts: rfc8461},
		{name: "dane-partial", request: "QUERY example.com", result: decided(d, engine.DNSSecure,
			host("mx1.example.com", dane.PolicyOpportunistic, engine.DNSSecure), secureEE)},
		{name: "dane-tls-required", request: "QUERY example.com", result: decided(d, engine.DNSSecure,
			host("mx.example.com", dane.PolicyTLSRequired, engine.DNSSecure))},
		{name: "dane-insecure-mx", request: "QUERY example.com", result: decided(d, engine.DNSInsecure, secureEE)},
		{name: "dane-tlsa-lookup-failed-host", request: "QUERY example.com", result: decided(d, engine.DNSSecure,
			failedHost("mx1.example.com", dane.ReasonTLSALookupFailed, engine.DNSFailed, "TLSA lookup for _25._tcp.mx1.example.com failed: SERVFAIL"),
			host("mx2.example.com", dane.PolicyOpportunistic, engine.DNSSecure))},
		{name: "dane-partial-tlsrpt-never-sts", request: "QUERYwithTLSRPT example.com", sts: rfc8461, result: decided(d, engine.DNSSecure,
			host("mx1.example.com", dane.PolicyOpportunistic, engine.DNSSecure), secureEE)},

		// No DANE.
		{name: "notfound-opportunistic", request: "QUERY example.com", result: decided(d, engine.DNSSecure, host("mx.example.com", dane.PolicyOpportunistic, engine.DNSSecure))},
		{name: "notfound-unsigned", request: "QUERY example.com", result: opportunistic(d)},
		{name: "notfound-nxdomain", request: "QUERY example.com", result: failed(d, dane.ReasonNXDomain, "example.com does not exist (NXDOMAIN, secure)")},
		{name: "notfound-null-mx", request: "QUERY example.com", result: failed(d, dane.ReasonNullMX, "example.com publishes a null MX (RFC 7505): it accepts no mail")},
		{name: "notfound-sts-testing", request: "QUERYwithTLSRPT example.com", result: opportunistic(d), sts: &socketmap.STS{Mode: socketmap.STSTesting, Patterns: rfc8461.Patterns}},
		{name: "notfound-sts-none", request: "QUERY example.com", result: opportunistic(d), sts: &socketmap.STS{Mode: socketmap.STSNone}},
		{name: "notfound-sts-no-usable-pattern", request: "QUERY example.com", result: opportunistic(d),
			sts: &socketmap.STS{Mode: socketmap.STSEnforce, Patterns: []string{"", "mail example.com", "*.com", "a:b", "*.*.example.net"}}},

		// DANE status not established.
		{name: "temp-dnssec-bogus", request: "QUERY example.com", result: failed(d, dane.ReasonDNSSECBogus,
			"MX lookup for example.com failed: DNSSEC validation failed (signature expired)")},
		{name: "temp-tlsa-lookup-failed", request: "QUERY example.com", result: decided(d, engine.DNSSecure,
			failedHost("mx.example.com", dane.ReasonTLSALookupFailed, engine.DNSFailed, "TLSA lookup for _25._tcp.mx.example.com failed: SERVFAIL; mail must not go through mx.example.com (RFC 7672 §2.1.2)"))},
		{name: "temp-dns-timeout", request: "QUERY example.com", result: failed(d, dane.ReasonTimeout, "MX lookup for example.com failed: the validation ran out of time")},
		{name: "temp-dns-servfail", request: "QUERY example.com", result: failed(d, dane.ReasonDNSQueryFailed, "MX lookup for example.com failed: SERVFAIL")},
		{name: "temp-no-address", request: "QUERY example.com", result: decided(d, engine.DNSSecure,
			failedHost("mx.example.com", dane.ReasonNoAddresses, engine.DNSNotLooked, "MX host mx.example.com has no A or AAAA records"))},
		{name: "temp-sts-never-rescues", request: "QUERYwithTLSRPT example.com", sts: rfc8461, result: failed(d, dane.ReasonDNSSECBogus,
			"MX lookup for example.com failed: DNSSEC validation failed")},
		{name: "temp-detail-control-characters", request: "QUERY example.com", result: failed(d, dane.ReasonDNSSECBogus,
			"MX lookup failed:\r\nbogus\tanswer\x00")},

		// MTA-STS.
		{name: "sts-enforce", request: "QUERY example.com", result: opportunistic(d), sts: rfc8461},
		{name: "sts-enforce-tlsrpt", request: "QUERYwithTLSRPT example.com", result: opportunistic(d), sts: rfc8461},
		{name: "sts-enforce-policy-domain", request: "QUERYwithTLSRPT example.com", result: opportunistic(d),
			sts: &socketmap.STS{Mode: socketmap.STSEnforce, Domain: "example.org", Patterns: []string{"MX.Example.ORG"}, Policy: []string{"version: STSv1", "mode: enforce", "mx: MX.Example.ORG", "max_age: 86400"}}},
		{name: "sts-enforce-hostile-lines", request: "QUERYwithTLSRPT example.com", result: opportunistic(d),
			sts: &socketmap.STS{Mode: socketmap.STSEnforce, Patterns: []string{"mx.example.com", "evil.example.com policy_failure=x", "a}b.example.com"},
				Policy: []string{"version: STSv1", "mode: enforce } { policy_string = injected", "mx: mx.example.com\r\nmode: none", "  max_age: 86400  "}}},
		{name: "sts-failure", request: "QUERY example.com", result: opportunistic(d), sts: withFailure(rfc8461, "sts-webpki-invalid")},
		{name: "sts-failure-tlsrpt", request: "QUERYwithTLSRPT example.com", result: opportunistic(d), sts: withFailure(rfc8461, "sts-webpki-invalid")},
		{name: "sts-failure-no-policy-tlsrpt", request: "QUERYwithTLSRPT example.com", result: opportunistic(d),
			sts: &socketmap.STS{Mode: socketmap.STSEnforce, Failure: "sts-policy-fetch-error"}},
		{name: "sts-source-error", request: "QUERY example.com", result: opportunistic(d), stsErr: true},

		// Keys answered without DNS.
		{name: "key-parent-domain", request: "QUERY .example.com", noValidation: true},
		{name: "key-bracketed", request: "QUERY [mx.example.com]", noValidation: true},
		{name: "key-bracketed-port", request: "QUERY [mx.example.com]:587", noValidation: true},
		{name: "key-host-port", request: "QUERY mx.example.com:25", noValidation: true},
		{name: "key-ipv6-literal", request: "QUERY [ipv6:2001:db8::1]", noValidation: true},
		{name: "key-unix-path", request: "QUERY /var/run/lmtp", noValidation: true},

		// Errors.
		{name: "perm-unknown-map", request: "POLICY example.com", noValidation: true},
		{name: "perm-no-key", request: "QUERY", noValidation: true},
		{name: "perm-empty-key", request: "QUERY ", noValidation: true},
		{name: "perm-key-with-space", request: "QUERY exa mple.com", noValidation: true},
		{name: "perm-ip-address", request: "QUERY 192.0.2.1"},
		{name: "perm-not-idna", request: "QUERY ex_ample.com"},
		{name: "timeout", request: "QUERY example.com", block: true},
		{name: "temp-internal-error", request: "QUERY example.com", err: errors.New("resolver exploded with secrets")},
		{name: "temp-rate-limited", request: "QUERY example.com", limited: true, noValidation: true},
		{name: "temp-reply-too-long", request: "QUERY example.com", result: opportunistic(d), sts: manyPatterns()},
		{name: "perm-oversize-request", request: "10001:QUERY ", raw: true, noValidation: true},
		{name: "perm-malformed-netstring", request: "012:QUERY x.com,", raw: true, noValidation: true},
	}
}

// manyPatterns is an enforced policy whose reply exceeds MaxReply.
func manyPatterns() *socketmap.STS {
	s := &socketmap.STS{Mode: socketmap.STSEnforce}
	for i := 0; len(s.Patterns)*40 < socketmap.MaxReply+1000; i++ {
		s.Patterns = append(s.Patterns, "mx"+strings.Repeat("x", 30)+string(rune('a'+i%26))+".example.com")
	}
	return s
}

// TestGoldenReplies sends each request to a server over loopback and
// compares the reply's exact bytes (netstring included) with
// testdata/<name>.golden.
func TestGoldenReplies(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			if seen[tc.name] {
				t.Fatal("duplicate case name")
			}
			seen[tc.name] = true
			f := &fakeValidator{results: map[string]*engine.Result{}, errs: map[string]error{}, block: tc.block}
			if tc.result != nil {
				f.results[tc.result.Domain] = tc.result
			}
			if tc.err != nil {
				f.errs["example.com"] = tc.err
			}
			cfg := socketmap.Config{Validator: f, RequestTimeout: 50 * time.Millisecond}
			if tc.sts != nil {
				cfg.STS = stsTable{"example.com": tc.sts}
			}
			if tc.stsErr {
				cfg.STS = stsTable{"example.com": nil}
			}
			if tc.limited {
				cfg.Limiter = refuseAll{}
			}
			if !tc.block {
				cfg.RequestTimeout = 10 * time.Second
			}
			_, addr := serve(t, cfg)
			c := dial(t, addr)
			if tc.raw {
				c.write([]byte(tc.request))
			} else {
				c.send(tc.request)
			}
			got := string(socketmap.AppendNetstring(nil, c.recv()))
			if n := f.calls.Load(); tc.noValidation && n != 0 {
				t.Errorf("%d validations, want none", n)
			}
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != strings.TrimSuffix(string(want), "\n") {
				t.Errorf("reply\n  %q\nwant (%s)\n  %q", got, path, want)
			}
		})
	}
	if !*update {
		// Every golden file belongs to a case.
		files, _ := filepath.Glob(filepath.Join("testdata", "*.golden"))
		for _, f := range files {
			if !seen[strings.TrimSuffix(filepath.Base(f), ".golden")] {
				t.Errorf("%s has no case", f)
			}
		}
	}
}

// TestGoldenRepliesCached: through the decision layer, a request that
// misses the verdict cache and the same request answered from it (from
// the replies kept with the verdict) both give the golden reply, for
// every case whose policy comes from the validation itself.
func TestGoldenRepliesCached(t *testing.T) {
	n := 0
	for _, tc := range goldenCases() {
		if tc.result == nil || tc.err != nil || tc.block || tc.limited || tc.raw || tc.sts != nil || tc.stsErr {
			continue
		}
		n++
		t.Run(tc.name, func(t *testing.T) {
			res := *tc.result
			res.TTL = time.Hour // synthetic results have none: nothing would be cached
			f := &fakeValidator{results: map[string]*engine.Result{res.Domain: &res}, errs: map[string]error{}}
			v, err := cache.NewValidator(cache.ValidatorConfig{Upstream: f, Size: 10})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(v.Close)
			_, addr := serve(t, socketmap.Config{Validator: v})
			want, err := os.ReadFile(filepath.Join("testdata", tc.name+".golden"))
			if err != nil {
				t.Fatal(err)
			}
			c := dial(t, addr)
			for _, try := range []string{"validated", "cached"} {
				c.send(tc.request)
				if got := string(socketmap.AppendNetstring(nil, c.recv())); got != strings.TrimSuffix(string(want), "\n") {
					t.Errorf("%s: reply\n  %q\nwant\n  %q", try, got, want)
				}
			}
			if calls := f.calls.Load(); calls != 1 && !tc.noValidation {
				t.Errorf("%d validations, want 1 (the second request from the cache)", calls)
			}
		})
	}
	if n < 10 {
		t.Fatalf("only %d golden cases go through the decision layer", n)
	}
}

// TestPolicyReplyPure: the same inputs give the same reply, and the
// inputs are not modified.
func TestPolicyReplyPure(t *testing.T) {
	res := decided("example.com", engine.DNSSecure, host("mx.example.com", dane.PolicyOpportunistic, engine.DNSSecure))
	sts := withFailure(rfc8461, "")
	before := *sts
	a := socketmap.PolicyReply(socketmap.MapQueryWithTLSRPT, res, sts)
	b := socketmap.PolicyReply(socketmap.MapQueryWithTLSRPT, res, sts)
	if a != b {
		t.Errorf("%q then %q", a, b)
	}
	if strings.Join(before.Patterns, ",") != strings.Join(sts.Patterns, ",") || before.Mode != sts.Mode {
		t.Error("PolicyReply modified its input")
	}
	if !strings.HasPrefix(a.String(), "OK secure match=mail.example.com:.example.net:backupmx.example.com servername=hostname policy_type=sts policy_domain=example.com") {
		t.Errorf("unexpected reply %q", a)
	}
}
