package engine

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/internal/vjson"
	"github.com/daned/daned/mtasts"
)

// The byte encoding of a Result, for a store shared by several daned
// replicas (MarshalResult, UnmarshalResult).
//
// Format: one version byte (resultCodecVersion), then a JSON document of
// the private mirror types below. JSON over mirror structs, rather than
// encoding/gob, a hand-made binary layout or a private protobuf message,
// because:
//
//   - encoding/json is hardened against hostile input (fuzzed in the
//     standard library, never panics, depth-limited), where encoding/gob
//     says it is not designed for adversarial input and bounds nothing;
//   - the mirror types are the format, written out field by field, so
//     the unexported Host fields travel and a change to Result cannot
//     change the bytes unnoticed (TestResultCodecEveryField fails first);
//   - it needs no generated code and reads in redis-cli when debugging.
//
// Certificates travel as DER and are parsed again on decoding; times as
// RFC 3339 with nanoseconds (the same instant, without a monotonic
// reading); durations as integer nanoseconds; texts as JSON strings,
// which hold UTF-8 only: daned's texts are (what a server sends is
// sanitised or quoted before it reaches one), and a byte that is not
// would arrive as U+FFFD. Decoding refuses unknown fields, unknown
// versions and out-of-range enums: a replica never guesses at an entry
// written by another release, it re-validates instead. Any change to the
// mirror types, or to the dane and mtasts types they hold, must bump
// resultCodecVersion.
const resultCodecVersion byte = 1

var resultFormat = vjson.Format{Version: resultCodecVersion, Limit: MaxEncodedResult, ErrVersion: ErrCodecVersion}

// MaxEncodedResult bounds an encoded Result: MarshalResult refuses a
// bigger one and UnmarshalResult refuses longer input before decoding, so
// what decoding allocates is bounded by a small multiple of it. A real
// result is a few KiB per probed address (its chain); 8 MiB leaves room
// for ten hosts of several addresses, each with a chain at the prober's
// default limit.
const MaxEncodedResult = 8 << 20

// ErrCodecVersion is wrapped by UnmarshalResult's error when the input was
// written in a format version this release does not know (an entry from
// a newer or older replica): not corrupt, just not readable here.
var ErrCodecVersion = errors.New("engine: unknown result encoding version")

type wireResult struct {
	Domain             string               `json:"domain"`
	Verdict            dane.Verdict         `json:"verdict"`
	MXState            DNSState             `json:"mx_state"`
	ImplicitMX         bool                 `json:"implicit_mx"`
	PolicyOnly         bool                 `json:"policy_only"`
	Hosts              []wireHost           `json:"hosts"`
	CheckedAt          time.Time            `json:"checked_at"`
	TTL                time.Duration        `json:"ttl"`
	FromCache          bool                 `json:"from_cache"`
	PolicySource       mtasts.Source        `json:"policy_source"`
	PolicySourceDetail string               `json:"policy_source_detail"`
	MTASTS             *mtasts.PolicyResult `json:"mta_sts"`
}

type wireHost struct {
	Name           string                `json:"name"`
	Preference     uint16                `json:"preference"`
	MXState        DNSState              `json:"mx_state"`
	AddressState   DNSState              `json:"address_state"`
	CNAMEChain     []string              `json:"cname_chain"`
	TLSABase       string                `json:"tlsa_base"`
	TLSAState      DNSState              `json:"tlsa_state"`
	TLSA           []dane.AssessedRecord `json:"tlsa"`
	ReferenceNames []string              `json:"reference_names"`
	Policy         dane.Policy           `json:"policy"`
	Reason         dane.Reason           `json:"reason"`
	Usable         bool                  `json:"usable"`
	Detail         string                `json:"detail"`
	Addresses      []wireAddress         `json:"addresses"`
	STSFailure     dane.Reason           `json:"sts_failure"`
	InDNS          bool                  `json:"in_dns"`
	TLSATTL        time.Duration         `json:"tlsa_ttl"`
	STSRefused     bool                  `json:"sts_refused"`
	ProbeErrs      []dane.Reason         `json:"probe_errs"`
}

type wireAddress struct {
	IP              netip.Addr    `json:"ip"`
	Reason          dane.Reason   `json:"reason"`
	STARTTLSOffered bool          `json:"starttls_offered"`
	TLSVersion      uint16        `json:"tls_version"`
	CipherSuite     uint16        `json:"cipher_suite"`
	Chain           [][]byte      `json:"chain"` // DER, leaf first; nil for a nil chain
	Matched         int           `json:"matched"`
	Authenticated   bool          `json:"authenticated"`
	Elapsed         time.Duration `json:"elapsed"`
	Detail          string        `json:"detail"`
}

// MarshalResult encodes r, every field of it and of its hosts (the
// unexported ones too) and addresses, for UnmarshalResult in another
// process. It fails on a nil result, a certificate without DER, a time
// JSON cannot hold (outside years 0–9999), or an encoding longer than
// MaxEncodedResult.
func MarshalResult(r *Result) ([]byte, error) {
	if r == nil {
		return nil, errors.New("engine: cannot encode a nil result")
	}
	w := wireResult{
		Domain: r.Domain, Verdict: r.Verdict, MXState: r.MXState, ImplicitMX: r.ImplicitMX,
		PolicyOnly: r.PolicyOnly, CheckedAt: r.CheckedAt, TTL: r.TTL, FromCache: r.FromCache,
		PolicySource: r.PolicySource, PolicySourceDetail: r.PolicySourceDetail, MTASTS: r.MTASTS,
	}
	if r.Hosts != nil {
		w.Hosts = make([]wireHost, len(r.Hosts))
	}
	for i := range r.Hosts {
		h := &r.Hosts[i]
		wh := wireHost{
			Name: h.Name, Preference: h.Preference, MXState: h.MXState, AddressState: h.AddressState,
			CNAMEChain: h.CNAMEChain, TLSABase: h.TLSABase, TLSAState: h.TLSAState, TLSA: h.TLSA,
			ReferenceNames: h.ReferenceNames, Policy: h.Policy, Reason: h.Reason, Usable: h.Usable,
			Detail: h.Detail, STSFailure: h.STSFailure,
			InDNS: h.inDNS, TLSATTL: h.tlsaTTL, STSRefused: h.stsRefused, ProbeErrs: h.probeErrs,
		}
		if h.Addresses != nil {
			wh.Addresses = make([]wireAddress, len(h.Addresses))
		}
		for j := range h.Addresses {
			a := &h.Addresses[j]
			wa := wireAddress{
				IP: a.IP, Reason: a.Reason, STARTTLSOffered: a.STARTTLSOffered, TLSVersion: a.TLSVersion,
				CipherSuite: a.CipherSuite, Matched: a.Matched, Authenticated: a.Authenticated,
				Elapsed: a.Elapsed, Detail: a.Detail,
			}
			if a.Chain != nil {
				wa.Chain = make([][]byte, len(a.Chain))
			}
			for k, c := range a.Chain {
				if c == nil || len(c.Raw) == 0 {
					return nil, fmt.Errorf("engine: cannot encode host %s address %v: certificate %d has no DER", h.Name, a.IP, k)
				}
				wa.Chain[k] = c.Raw
			}
			wh.Addresses[j] = wa
		}
		w.Hosts[i] = wh
	}
	b, err := resultFormat.Marshal(&w)
	if err != nil {
		return nil, fmt.Errorf("engine: encoding the result for %s: %w", r.Domain, err)
	}
	return b, nil
}

// UnmarshalResult decodes what MarshalResult encoded. Certificates are
// parsed again from their DER. It returns an error, never panics, on any
// other input: empty, longer than MaxEncodedResult, of another version
// (wrapping ErrCodecVersion), not the JSON of this version exactly
// (unknown fields included), with enum values this release does not
// know, an invalid address or a certificate that does not parse.
func UnmarshalResult(b []byte) (*Result, error) {
	var w wireResult
	if err := resultFormat.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("engine: decoding a result: %w", err)
	}
	if err := w.check(); err != nil {
		return nil, fmt.Errorf("engine: decoding the result for %q: %w", clip(w.Domain), err)
	}
	r := &Result{
		Domain: w.Domain, Verdict: w.Verdict, MXState: w.MXState, ImplicitMX: w.ImplicitMX,
		PolicyOnly: w.PolicyOnly, CheckedAt: w.CheckedAt, TTL: w.TTL, FromCache: w.FromCache,
		PolicySource: w.PolicySource, PolicySourceDetail: w.PolicySourceDetail, MTASTS: w.MTASTS,
	}
	if w.Hosts != nil {
		r.Hosts = make([]Host, len(w.Hosts))
	}
	for i := range w.Hosts {
		wh := &w.Hosts[i]
		h := Host{
			Name: wh.Name, Preference: wh.Preference, MXState: wh.MXState, AddressState: wh.AddressState,
			CNAMEChain: wh.CNAMEChain, TLSABase: wh.TLSABase, TLSAState: wh.TLSAState, TLSA: wh.TLSA,
			ReferenceNames: wh.ReferenceNames, Policy: wh.Policy, Reason: wh.Reason, Usable: wh.Usable,
			Detail: wh.Detail, STSFailure: wh.STSFailure,
			inDNS: wh.InDNS, tlsaTTL: wh.TLSATTL, stsRefused: wh.STSRefused, probeErrs: wh.ProbeErrs,
		}
		if wh.Addresses != nil {
			h.Addresses = make([]Address, len(wh.Addresses))
		}
		for j := range wh.Addresses {
			wa := &wh.Addresses[j]
			a := Address{
				IP: wa.IP, Reason: wa.Reason, STARTTLSOffered: wa.STARTTLSOffered, TLSVersion: wa.TLSVersion,
				CipherSuite: wa.CipherSuite, Matched: wa.Matched, Authenticated: wa.Authenticated,
				Elapsed: wa.Elapsed, Detail: wa.Detail,
			}
			if wa.Chain != nil {
				a.Chain = make([]*x509.Certificate, len(wa.Chain))
			}
			for k, der := range wa.Chain {
				c, err := x509.ParseCertificate(der)
				if err != nil {
					return nil, fmt.Errorf("engine: decoding the result for %q: host %d address %d certificate %d: %w", clip(w.Domain), i, j, k, err)
				}
				a.Chain[k] = c
			}
			h.Addresses[j] = a
		}
		r.Hosts[i] = h
	}
	return r, nil
}

// check refuses enum values this release does not know, so that a value
// written by a newer release is never read as something else.
func (w *wireResult) check() error {
	if err := checkEnums(w.MXState, w.Verdict.Policy, w.Verdict.Reason); err != nil {
		return err
	}
	if w.Verdict.Action.String() == "UNKNOWN" {
		return fmt.Errorf("unknown action %d", w.Verdict.Action)
	}
	if w.PolicySource.String() == "UNKNOWN" {
		return fmt.Errorf("unknown policy source %d", w.PolicySource)
	}
	if m := w.MTASTS; m != nil {
		if m.Policy.Mode.String() == "unknown" {
			return fmt.Errorf("unknown MTA-STS mode %d", m.Policy.Mode)
		}
		if m.Failure.String() == "UNKNOWN" {
			return fmt.Errorf("unknown MTA-STS failure %d", m.Failure)
		}
	}
	for i := range w.Hosts {
		h := &w.Hosts[i]
		if err := checkEnums(h.MXState, h.Policy, h.Reason); err != nil {
			return fmt.Errorf("host %d: %w", i, err)
		}
		for _, s := range []DNSState{h.AddressState, h.TLSAState} {
			if s.String() == "unknown" {
				return fmt.Errorf("host %d: unknown DNS state %d", i, s)
			}
		}
		for _, r := range append([]dane.Reason{h.STSFailure}, h.ProbeErrs...) {
			if r.String() == "UNKNOWN" {
				return fmt.Errorf("host %d: unknown reason %d", i, r)
			}
		}
		for j := range h.Addresses {
			a := &h.Addresses[j]
			if a.Reason.String() == "UNKNOWN" {
				return fmt.Errorf("host %d address %d: unknown reason %d", i, j, a.Reason)
			}
			// 0 is also what an address never judged against records holds.
			if a.Matched < -1 || a.Matched > 0 && a.Matched >= len(h.TLSA) {
				return fmt.Errorf("host %d address %d: matched record %d of %d", i, j, a.Matched, len(h.TLSA))
			}
		}
	}
	return nil
}

func checkEnums(s DNSState, p dane.Policy, r dane.Reason) error {
	switch {
	case s.String() == "unknown":
		return fmt.Errorf("unknown DNS state %d", s)
	case p.String() == "UNKNOWN":
		return fmt.Errorf("unknown policy %d", p)
	case r.String() == "UNKNOWN":
		return fmt.Errorf("unknown reason %d", r)
	}
	return nil
}

// clip bounds a decoded name quoted in an error.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
