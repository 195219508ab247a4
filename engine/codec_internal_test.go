package engine

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/internal/testcert"
	"github.com/daned/daned/mtasts"
)

// CodecDiff returns "" when a and b hold the same values, unexported
// fields included, else where they first differ. Certificates compare by
// their DER and times by the instant (an encoding keeps neither the
// location nor the monotonic reading); everything else must be equal as
// reflect.DeepEqual sees it, nil and empty slices apart.
func CodecDiff(a, b any) string {
	return diff("", reflect.ValueOf(a), reflect.ValueOf(b))
}

var (
	certType = reflect.TypeFor[x509.Certificate]()
	timeType = reflect.TypeFor[time.Time]()
)

func diff(path string, a, b reflect.Value) string {
	if a.IsValid() != b.IsValid() {
		return path + ": one side is missing"
	}
	if !a.IsValid() {
		return ""
	}
	if a.Type() != b.Type() {
		return fmt.Sprintf("%s: types %v and %v", path, a.Type(), b.Type())
	}
	switch a.Type() {
	case certType:
		if !bytes.Equal(a.FieldByName("Raw").Bytes(), b.FieldByName("Raw").Bytes()) {
			return path + ": certificates differ"
		}
		return ""
	case timeType:
		if !a.Interface().(time.Time).Equal(b.Interface().(time.Time)) {
			return fmt.Sprintf("%s: %v != %v", path, a.Interface(), b.Interface())
		}
		return ""
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() != b.IsNil() {
			return fmt.Sprintf("%s: nil %v != nil %v", path, a.IsNil(), b.IsNil())
		}
		if a.IsNil() {
			return ""
		}
		return diff(path, a.Elem(), b.Elem())
	case reflect.Slice:
		if a.IsNil() != b.IsNil() {
			return fmt.Sprintf("%s: nil %v != nil %v", path, a.IsNil(), b.IsNil())
		}
		fallthrough
	case reflect.Array:
		if a.Len() != b.Len() {
			return fmt.Sprintf("%s: length %d != %d", path, a.Len(), b.Len())
		}
		for i := range a.Len() {
			if d := diff(fmt.Sprintf("%s[%d]", path, i), a.Index(i), b.Index(i)); d != "" {
				return d
			}
		}
		return ""
	case reflect.Struct:
		if a.CanInterface() && a.Type().Comparable() && a.Type().PkgPath() == "net/netip" {
			if a.Interface() != b.Interface() {
				return fmt.Sprintf("%s: %v != %v", path, a.Interface(), b.Interface())
			}
			return ""
		}
		for i := range a.NumField() {
			if d := diff(path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i)); d != "" {
				return d
			}
		}
		return ""
	case reflect.Bool:
		if a.Bool() != b.Bool() {
			return fmt.Sprintf("%s: %v != %v", path, a.Bool(), b.Bool())
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if a.Int() != b.Int() {
			return fmt.Sprintf("%s: %d != %d", path, a.Int(), b.Int())
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if a.Uint() != b.Uint() {
			return fmt.Sprintf("%s: %d != %d", path, a.Uint(), b.Uint())
		}
	case reflect.String:
		if a.String() != b.String() {
			return fmt.Sprintf("%s: %q != %q", path, a.String(), b.String())
		}
	default:
		return fmt.Sprintf("%s: cannot compare a %v", path, a.Kind())
	}
	return ""
}

// zeroFields returns the paths of the fields of v, followed through
// pointers, slices and structs (unexported fields included), that hold
// their zero value. Certificates, times and addresses are leaves.
func zeroFields(path string, v reflect.Value) []string {
	if v.IsZero() {
		return []string{path}
	}
	switch v.Type() {
	case certType, timeType:
		return nil
	}
	var out []string
	switch v.Kind() {
	case reflect.Pointer:
		return zeroFields(path, v.Elem())
	case reflect.Slice:
		for i := range v.Len() {
			out = append(out, zeroFields(fmt.Sprintf("%s[%d]", path, i), v.Index(i))...)
		}
	case reflect.Struct:
		if v.Type().PkgPath() == "net/netip" {
			return nil
		}
		for i := range v.NumField() {
			out = append(out, zeroFields(path+"."+v.Type().Field(i).Name, v.Field(i))...)
		}
	}
	return out
}

// fullResult is a Result with every field, at every depth, set to a value
// other than its zero.
func fullResult(t testing.TB) *Result {
	t.Helper()
	at := time.Date(2026, 6, 1, 12, 0, 0, 123456789, time.UTC)
	leaf := testcert.New(t, testcert.Spec{CommonName: "mx.example.com", NotBefore: at.Add(-time.Hour), NotAfter: at.Add(time.Hour)}).Cert
	ca := testcert.New(t, testcert.Spec{CommonName: "ca.example.com", NotBefore: at.Add(-time.Hour), NotAfter: at.Add(time.Hour)}).Cert
	return &Result{
		Domain: "example.com",
		Verdict: dane.Verdict{Policy: dane.PolicyDANERequired, Action: dane.ActionDefer, Reason: dane.ReasonTLSANoMatch,
			Status: dane.SMTPStatus{Code: "4.7.323", Short: "tlsa-invalid", TLSRPT: "tlsa-invalid"}, Text: "tlsa-invalid: no match"},
		MXState: DNSSecure, ImplicitMX: true, PolicyOnly: true,
		Hosts: []Host{{
			Name: "mx.example.com", Preference: 10, MXState: DNSSecure, AddressState: DNSInsecure,
			CNAMEChain: []string{"alias.example.net"}, TLSABase: "alias.example.net", TLSAState: DNSBogus,
			TLSA: []dane.AssessedRecord{
				{Record: dane.Record{Usage: 3, Selector: 1, MatchingType: 1, Data: []byte{1, 2, 3}}, Usable: true, Why: "unused"},
				{Record: dane.Record{Usage: 2, Selector: 1, MatchingType: 2, Data: []byte{4}}, Usable: true, Why: "digest too short"},
			},
			ReferenceNames: []string{"alias.example.net", "mx.example.com"},
			Policy:         dane.PolicyTLSRequired, Reason: dane.ReasonCertExpired, Usable: true, Detail: "host detail",
			Addresses: []Address{{
				IP: netip.MustParseAddr("2001:db8::25"), Reason: dane.ReasonChainInvalid, STARTTLSOffered: true,
				TLSVersion: 0x0304, CipherSuite: 0x1301, Chain: []*x509.Certificate{leaf, ca}, Matched: 1,
				Authenticated: true, Elapsed: 1234 * time.Microsecond, Detail: "address detail",
			}},
			STSFailure: dane.ReasonMXNotInPolicy,
			inDNS:      true, tlsaTTL: 300 * time.Second, stsRefused: true,
			probeErrs: []dane.Reason{dane.ReasonTimeout, dane.ReasonConnectFailed},
		}},
		CheckedAt: at, TTL: time.Hour, FromCache: true,
		PolicySource: mtasts.SourceMTASTS, PolicySourceDetail: "an MTA-STS policy in mode enforce",
		MTASTS: &mtasts.PolicyResult{
			Domain: "example.com", RecordID: "20260601",
			Policy: mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"*.example.com"}, MaxAge: 24 * time.Hour},
			Text:   "version: STSv1\n", FetchedAt: at.Add(-time.Minute), Expires: at.Add(24 * time.Hour),
			FromCache: true, Failure: mtasts.ReasonPolicyFetchFailed, Detail: "served from cache",
		},
	}
}

// TestResultCodecEveryField round-trips a result in which every field,
// exported or not, holds a value: a field added to Result, Host or
// Address (or to the dane and mtasts types they hold) that the codec
// forgets fails here, first because the fixture must set it, then
// because it would not survive the trip.
func TestResultCodecEveryField(t *testing.T) {
	r := fullResult(t)
	if zero := zeroFields("Result", reflect.ValueOf(r)); len(zero) > 0 {
		t.Fatalf("the fixture leaves fields at their zero value, set them: %v", zero)
	}
	b, err := MarshalResult(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalResult(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := CodecDiff(r, got); d != "" {
		t.Fatalf("round trip changed the result: %s", d)
	}
	// A zero result (nil slices, zero times, no MTA-STS) survives too.
	zero := &Result{}
	if b, err = MarshalResult(zero); err != nil {
		t.Fatal(err)
	}
	if got, err = UnmarshalResult(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(zero, got) {
		t.Fatalf("zero result came back as %+v", got)
	}
}

func TestUnmarshalResultRefuses(t *testing.T) {
	good, err := MarshalResult(fullResult(t))
	if err != nil {
		t.Fatal(err)
	}
	withField := append([]byte{resultCodecVersion}, []byte(`{"domain":"x","surprise":1}`)...)
	tests := []struct {
		name    string
		in      []byte
		version bool // the error wraps ErrCodecVersion
	}{
		{"empty", nil, false},
		{"version only", []byte{resultCodecVersion}, false},
		{"unknown version", append([]byte{99}, good[1:]...), true},
		{"version 0", append([]byte{0}, good[1:]...), true},
		{"truncated", good[:len(good)/2], false},
		{"unknown field", withField, false},
		{"trailing data", append(append([]byte(nil), good...), []byte(`{}`)...), false},
		{"not JSON", append([]byte{resultCodecVersion}, "\x00\xff garbage"...), false},
		{"unknown reason", append([]byte{resultCodecVersion}, `{"verdict":{"Reason":999}}`...), false},
		{"unknown DNS state", append([]byte{resultCodecVersion}, `{"hosts":[{"tlsa_state":42}]}`...), false},
		{"bad certificate", append([]byte{resultCodecVersion}, `{"hosts":[{"addresses":[{"chain":["AAEC"]}]}]}`...), false},
		{"bad address", append([]byte{resultCodecVersion}, `{"hosts":[{"addresses":[{"ip":"999.1.1.1"}]}]}`...), false},
		{"matched out of range", append([]byte{resultCodecVersion}, `{"hosts":[{"addresses":[{"matched":3}]}]}`...), false},
		{"over the limit", append([]byte{resultCodecVersion}, make([]byte, MaxEncodedResult)...), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := UnmarshalResult(tc.in)
			if err == nil {
				t.Fatalf("decoded %+v, want an error", r)
			}
			if errors.Is(err, ErrCodecVersion) != tc.version {
				t.Fatalf("err = %v; wraps ErrCodecVersion: %v, want %v", err, !tc.version, tc.version)
			}
		})
	}
}

func TestMarshalResultRefuses(t *testing.T) {
	noDER := fullResult(t)
	noDER.Hosts[0].Addresses[0].Chain[1] = &x509.Certificate{}
	big := &Result{Domain: "example.com", PolicySourceDetail: strings.Repeat("x", MaxEncodedResult)}
	for name, r := range map[string]*Result{"nil": nil, "certificate without DER": noDER, "too big": big} {
		t.Run(name, func(t *testing.T) {
			if _, err := MarshalResult(r); err == nil {
				t.Fatal("encoded; want an error")
			}
		})
	}
}

// FuzzUnmarshalResult feeds UnmarshalResult anything: it must return a
// result or an error, never panic, and what it decodes must encode and
// decode again to the same result.
func FuzzUnmarshalResult(f *testing.F) {
	// Seeds stay small (one certificate, no long texts): the fuzzer
	// minimises each input it finds interesting, and big ones make that
	// slow. Parsing DER is dane's FuzzVerifyDER's business.
	r := fullResult(f)
	r.Hosts[0].Addresses[0].Chain = r.Hosts[0].Addresses[0].Chain[:1]
	r.MTASTS.Text = ""
	small, err := MarshalResult(r)
	if err != nil {
		f.Fatal(err)
	}
	r.Hosts[0].Addresses[0].Chain = nil
	r.MTASTS = nil
	tiny, _ := MarshalResult(r)
	zero, _ := MarshalResult(&Result{})
	f.Add(small)
	f.Add(tiny)
	f.Add(zero)
	f.Add([]byte{resultCodecVersion})
	f.Add(append([]byte{resultCodecVersion}, `{"hosts":[{"addresses":[{"ip":"192.0.2.1","chain":[]}]}]}`...))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := UnmarshalResult(b)
		if err != nil {
			return
		}
		again, err := MarshalResult(r)
		if err != nil {
			t.Fatalf("a decoded result does not encode: %v", err)
		}
		r2, err := UnmarshalResult(again)
		if err != nil {
			t.Fatalf("a re-encoded result does not decode: %v", err)
		}
		if d := CodecDiff(r, r2); d != "" {
			t.Fatalf("second round trip changed the result: %s", d)
		}
	})
}

// BenchmarkResultCodec encodes and decodes a result of one host with one
// address and a chain of two certificates (decoding parses them again).
func BenchmarkResultCodec(b *testing.B) {
	r := fullResult(b)
	enc, err := MarshalResult(r)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := MarshalResult(r); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(enc)), "bytes")
	})
	b.Run("unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := UnmarshalResult(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}
