package resolver_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/daned/daned/internal/testworld"
	"github.com/daned/daned/resolver"
)

// outcomeDiff returns "" when two lookup outcomes are the same for every
// reader: the fields of the answer (records compared in presentation
// format, TTL included), or of the failure (Kind the same sentinel, the
// cause's text and the context errors it wraps).
func outcomeDiff(a *resolver.Answer, aErr error, b *resolver.Answer, bErr error) string {
	if (a == nil) != (b == nil) || (aErr == nil) != (bErr == nil) {
		return fmt.Sprintf("answer %v / error %v became answer %v / error %v", a != nil, aErr != nil, b != nil, bErr != nil)
	}
	if a != nil {
		ra, rb := a.Records, b.Records
		ca, cb := *a, *b
		ca.Records, cb.Records = nil, nil
		if !reflect.DeepEqual(ca, cb) {
			return fmt.Sprintf("answer %+v became %+v", ca, cb)
		}
		if (ra == nil) != (rb == nil) || len(ra) != len(rb) {
			return fmt.Sprintf("records %v became %v", ra, rb)
		}
		for i := range ra {
			if ra[i].String() != rb[i].String() {
				return fmt.Sprintf("record %d: %q became %q", i, ra[i], rb[i])
			}
		}
	}
	if aErr != nil {
		var qa, qb *resolver.QueryError
		if !errors.As(aErr, &qa) || !errors.As(bErr, &qb) {
			return fmt.Sprintf("errors %T and %T are not both a *QueryError", aErr, bErr)
		}
		if qa.Kind != qb.Kind {
			return fmt.Sprintf("kind %v became %v", qa.Kind, qb.Kind)
		}
		fa, fb := *qa, *qb
		fa.Kind, fb.Kind, fa.Err, fb.Err = nil, nil, nil, nil
		if !reflect.DeepEqual(fa, fb) {
			return fmt.Sprintf("failure %+v became %+v", fa, fb)
		}
		if (qa.Err == nil) != (qb.Err == nil) || qa.Err != nil && qa.Err.Error() != qb.Err.Error() {
			return fmt.Sprintf("cause %v became %v", qa.Err, qb.Err)
		}
		if aErr.Error() != bErr.Error() || qa.Public() != qb.Public() {
			return fmt.Sprintf("message %q became %q", aErr, bErr)
		}
		for _, s := range []error{resolver.ErrServFail, resolver.ErrBogus, resolver.ErrTimeout, resolver.ErrRefused,
			resolver.ErrMalformed, resolver.ErrNetwork, context.Canceled, context.DeadlineExceeded, os.ErrDeadlineExceeded} {
			if errors.Is(aErr, s) != errors.Is(bErr, s) {
				return fmt.Sprintf("errors.Is(err, %v): %v became %v", s, errors.Is(aErr, s), errors.Is(bErr, s))
			}
		}
	}
	return ""
}

func roundTrip(t *testing.T, a *resolver.Answer, lookupErr error) {
	t.Helper()
	b, err := resolver.MarshalAnswer(a, lookupErr)
	if err != nil {
		t.Fatalf("MarshalAnswer: %v", err)
	}
	ga, gErr, err := resolver.UnmarshalAnswer(b)
	if err != nil {
		t.Fatalf("UnmarshalAnswer: %v", err)
	}
	if d := outcomeDiff(a, lookupErr, ga, gErr); d != "" {
		t.Fatalf("the round trip changed the outcome: %s", d)
	}
}

// codecCases are lookup outcomes of every shape: secure and insecure
// answers of the types daned asks, aliases, negative answers, and each
// kind of failure with what it carries.
func codecCases(t testing.TB) []struct {
	name string
	ans  *resolver.Answer
	err  error
} {
	tlsa := "_25._tcp.mx.example.com. 300 IN TLSA 3 1 1 " + strings.Repeat("ab", 32)
	return []struct {
		name string
		ans  *resolver.Answer
		err  error
	}{
		{"secure MX", &resolver.Answer{Name: "example.com.", Type: dns.TypeMX, Security: resolver.Secure, TTL: 3600,
			Records: []dns.RR{mustRR(t, "example.com. 3600 IN MX 10 mx.example.com."), mustRR(t, "example.com. 3600 IN MX 20 MX2.Example.com.")}}, nil},
		{"secure TLSA", &resolver.Answer{Name: "_25._tcp.mx.example.com.", Type: dns.TypeTLSA, Security: resolver.Secure, TTL: 300,
			Records: []dns.RR{mustRR(t, tlsa), mustRR(t, "_25._tcp.mx.example.com. 300 IN TLSA 2 0 0 00")}}, nil},
		{"insecure A and AAAA via an alias", &resolver.Answer{Name: "mx.example.com.", Type: dns.TypeAAAA, Security: resolver.Insecure, TTL: 60,
			Chain:   []string{"mx.example.net.", "host.example.org."},
			Records: []dns.RR{mustRR(t, "host.example.org. 60 IN AAAA 2001:db8::25")}, EDE: []resolver.EDE{{Code: 1, Text: "unsupported algorithm"}}}, nil},
		{"TXT", &resolver.Answer{Name: "_mta-sts.example.com.", Type: dns.TypeTXT, Security: resolver.Insecure, TTL: 300,
			Records: []dns.RR{mustRR(t, `_mta-sts.example.com. 300 IN TXT "v=STSv1; id=20260601;" "second string"`)}}, nil},
		{"unknown type (RFC 3597)", &resolver.Answer{Name: "x.example.com.", Type: 65280, Security: resolver.Secure, TTL: 1,
			Records: []dns.RR{mustRR(t, `x.example.com. 1 IN TYPE65280 \# 3 010203`)}}, nil},
		{"NXDOMAIN with a negative TTL", &resolver.Answer{Name: "nx.example.com.", Type: dns.TypeMX, Rcode: dns.RcodeNameError,
			Security: resolver.Secure, TTL: 900}, nil},
		{"NODATA, empty not nil", &resolver.Answer{Name: "example.com.", Type: dns.TypeTLSA, Security: resolver.Insecure,
			Records: []dns.RR{}, Chain: []string{}, EDE: []resolver.EDE{}}, nil},
		{"bogus with EDE, reason and why_bogus", nil, &resolver.QueryError{Name: "expired.example.com.", Type: dns.TypeMX,
			Kind: resolver.ErrBogus, Security: resolver.Bogus, Rcode: dns.RcodeServerFailure,
			EDE:    []resolver.EDE{{Code: 7, Text: "signature expired"}},
			Reason: resolver.ReasonSigExpired, Why: "validation failure <expired.example.com. MX IN>: signature expired from 127.0.0.1"}},
		{"EDE text that is not UTF-8", nil, &resolver.QueryError{Name: "x.example.com.", Type: dns.TypeMX, Kind: resolver.ErrServFail,
			Rcode: dns.RcodeServerFailure, EDE: []resolver.EDE{{Code: 22, Text: "no reachable \xff\xfe authority"}, {Code: 23, Text: "plain"}}}},
		{"indeterminate", nil, &resolver.QueryError{Name: "x.example.com.", Type: dns.TypeTLSA, Kind: resolver.ErrBogus,
			Security: resolver.Indeterminate, Rcode: dns.RcodeServerFailure, EDE: []resolver.EDE{{Code: 5}}}},
		{"SERVFAIL", nil, &resolver.QueryError{Name: "example.com.", Type: dns.TypeMX, Kind: resolver.ErrServFail, Rcode: 2}},
		{"timeout wrapping the context's deadline", nil, &resolver.QueryError{Name: "slow.example.com.", Type: dns.TypeA,
			Kind: resolver.ErrTimeout, Rcode: -1, Err: fmt.Errorf("read udp 127.0.0.1:53: %w", context.DeadlineExceeded)}},
		{"cancelled", nil, &resolver.QueryError{Name: "example.com.", Type: dns.TypeA, Kind: resolver.ErrTimeout, Rcode: -1, Err: context.Canceled}},
		{"wrapped failure", nil, fmt.Errorf("looking up: %w", &resolver.QueryError{Name: "example.com.", Type: dns.TypeA,
			Kind: resolver.ErrNetwork, Rcode: -1, Err: errors.New("connection refused")})},
		{"refused", nil, &resolver.QueryError{Name: "example.com.", Type: dns.TypeMX, Kind: resolver.ErrRefused, Rcode: dns.RcodeRefused}},
		{"malformed, no kind-specific cause", nil, &resolver.QueryError{Name: "example.com.", Type: dns.TypeMX, Kind: resolver.ErrMalformed,
			Rcode: 0, Err: fmt.Errorf("%w: bad packet", resolver.ErrMalformed)}},
	}
}

func TestAnswerCodec(t *testing.T) {
	for _, tc := range codecCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err
			var qe *resolver.QueryError
			if errors.As(err, &qe) {
				err = qe // what travels is the QueryError, not what wraps it
			}
			b, mErr := resolver.MarshalAnswer(tc.ans, tc.err)
			if mErr != nil {
				t.Fatalf("MarshalAnswer: %v", mErr)
			}
			ga, gErr, dErr := resolver.UnmarshalAnswer(b)
			if dErr != nil {
				t.Fatalf("UnmarshalAnswer: %v", dErr)
			}
			if d := outcomeDiff(tc.ans, err, ga, gErr); d != "" {
				t.Fatalf("the round trip changed the outcome: %s", d)
			}
		})
	}
}

func TestMarshalAnswerRefuses(t *testing.T) {
	a := &resolver.Answer{Name: "example.com.", Type: dns.TypeA}
	qe := &resolver.QueryError{Name: "example.com.", Kind: resolver.ErrServFail}
	tests := []struct {
		name string
		ans  *resolver.Answer
		err  error
	}{
		{"neither", nil, nil},
		{"both", a, qe},
		{"not a QueryError", nil, errors.New("resolver: invalid query name")},
		{"kind not a sentinel", nil, &resolver.QueryError{Name: "example.com.", Kind: errors.New("other")}},
		{"nil record", &resolver.Answer{Name: "example.com.", Records: []dns.RR{nil}}, nil},
		{"too big", &resolver.Answer{Name: "example.com.", Chain: []string{strings.Repeat("x", resolver.MaxEncodedAnswer)}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := resolver.MarshalAnswer(tc.ans, tc.err); err == nil {
				t.Fatal("encoded; want an error")
			}
		})
	}
}

func TestUnmarshalAnswerRefuses(t *testing.T) {
	good, err := resolver.MarshalAnswer(codecCases(t)[0].ans, nil)
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
		{"truncated", good[:len(good)-3], false},
		{"neither", v(`{}`), false},
		{"both", v(`{"answer":{},"error":{}}`), false},
		{"unknown field", v(`{"answer":{"name":"x.","extra":1}}`), false},
		{"unknown kind", v(`{"error":{"kind":"later"}}`), false},
		{"unknown wrapped error", v(`{"error":{"kind":"timeout","cause":{"text":"x","wraps":["io.EOF"]}}}`), false},
		{"unknown security", v(`{"answer":{"security":9}}`), false},
		{"EDE text twice", v(`{"answer":{"ede":[{"code":1,"text":"a","text_bytes":"/w=="}]}}`), false},
		{"EDE text as bytes that are UTF-8", v(`{"answer":{"ede":[{"code":1,"text_bytes":"YQ=="}]}}`), false},
		{"record garbage", v(`{"answer":{"records":["AAEC"]}}`), false},
		// FuzzUnmarshalAnswer found it: miekg/dns unpacks no bytes as an
		// empty record that does not pack back.
		{"empty record", v(`{"answer":{"records":[""]}}`), false},
		{"trailing data", append(append([]byte(nil), good...), " {}"...), false},
		{"over the limit", v(string(make([]byte, resolver.MaxEncodedAnswer))), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, lookupErr, err := resolver.UnmarshalAnswer(tc.in)
			if err == nil || a != nil || lookupErr != nil {
				t.Fatalf("got %v, %v, %v; want only an error", a, lookupErr, err)
			}
			if errors.Is(err, resolver.ErrCodecVersion) != tc.version {
				t.Fatalf("err = %v; want ErrCodecVersion: %v", err, tc.version)
			}
		})
	}
}

// worldQueries are the lookups of a validation of each scenario's domain:
// its MX, and for each MX host its addresses and TLSA RRset.
func worldQueries(w *testworld.World) []struct {
	name  string
	qtype uint16
} {
	type q = struct {
		name  string
		qtype uint16
	}
	var out []q
	for _, sc := range w.Scenarios() {
		out = append(out, q{sc.Domain, dns.TypeMX}, q{"_mta-sts." + sc.Domain, dns.TypeTXT})
		for _, h := range sc.Hosts {
			out = append(out, q{h.Name, dns.TypeA}, q{h.Name, dns.TypeAAAA}, q{"_25._tcp." + h.Name, dns.TypeTLSA})
		}
	}
	out = append(out, q{"nxdomain.test", dns.TypeMX}, q{"does-not-exist.ee-spki.test", dns.TypeTLSA})
	return slices.CompactFunc(out, func(a, b q) bool { return a == b })
}

type outcomeLookuper interface {
	Lookup(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error)
}

// roundTripWorld makes every lookup of worldQueries through r and checks
// that each outcome survives the codec; it returns how many answers,
// negative answers and failures it saw.
func roundTripWorld(t *testing.T, w *testworld.World, r outcomeLookuper) (answers, negative, failures int) {
	t.Helper()
	qs := worldQueries(w)
	type outcome struct {
		a   *resolver.Answer
		err error
	}
	got := make([]outcome, len(qs))
	var wg sync.WaitGroup
	slots := make(chan struct{}, 16)
	for i, q := range qs {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			a, err := r.Lookup(ctx, q.name, q.qtype)
			got[i] = outcome{a, err}
		})
	}
	wg.Wait()
	for i, q := range qs {
		o := got[i]
		t.Run(q.name+"/"+dns.TypeToString[q.qtype], func(t *testing.T) {
			roundTrip(t, o.a, o.err)
		})
		switch {
		case o.err != nil:
			failures++
		case len(o.a.Records) == 0:
			negative++
		default:
			answers++
		}
	}
	return answers, negative, failures
}

// TestAnswerCodecWorld round-trips every lookup a validation of the test
// world's scenarios makes, through a real Unbound: secure and insecure
// answers, NXDOMAIN and NODATA, bogus and failed lookups.
func TestAnswerCodecWorld(t *testing.T) {
	w := testworld.StartT(t, testworld.Options{})
	u := testworld.StartUnboundT(t, w)
	r, err := resolver.New(resolver.Config{Server: u.Addr(), Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	answers, negative, failures := roundTripWorld(t, w, r)
	if answers == 0 || negative == 0 || failures == 0 {
		t.Fatalf("%d answers, %d negative answers, %d failures: want some of each", answers, negative, failures)
	}
	t.Logf("round-tripped %d answers, %d negative answers, %d failures", answers, negative, failures)
}

// FuzzUnmarshalAnswer feeds UnmarshalAnswer anything: it must return an
// outcome or an error, never panic, and what it decodes must encode and
// decode again to the same outcome.
func FuzzUnmarshalAnswer(f *testing.F) {
	for _, tc := range codecCases(f) {
		b, err := resolver.MarshalAnswer(tc.ans, tc.err)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, lookupErr, err := resolver.UnmarshalAnswer(b)
		if err != nil {
			if a != nil || lookupErr != nil {
				t.Fatal("an error came with an outcome")
			}
			return
		}
		again, err := resolver.MarshalAnswer(a, lookupErr)
		if err != nil {
			t.Fatalf("a decoded outcome does not encode: %v", err)
		}
		a2, lookupErr2, err := resolver.UnmarshalAnswer(again)
		if err != nil {
			t.Fatalf("a re-encoded outcome does not decode: %v", err)
		}
		if d := outcomeDiff(a, lookupErr, a2, lookupErr2); d != "" {
			t.Fatalf("second round trip changed the outcome: %s", d)
		}
	})
}

// BenchmarkAnswerCodec encodes and decodes a secure TLSA answer of two
// records, and a bogus failure.
func BenchmarkAnswerCodec(b *testing.B) {
	cases := codecCases(b)
	for _, tc := range []struct {
		name string
		i    int
	}{{"tlsa", 1}, {"bogus", 7}} {
		c := cases[tc.i]
		enc, err := resolver.MarshalAnswer(c.ans, c.err)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name+"/marshal", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := resolver.MarshalAnswer(c.ans, c.err); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(enc)), "bytes")
		})
		b.Run(tc.name+"/unmarshal", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := resolver.UnmarshalAnswer(enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
