package resolver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"unicode/utf8"

	"github.com/miekg/dns"

	"github.com/daned/daned/internal/vjson"
)

// The byte encoding of a lookup's outcome, an *Answer or the *QueryError
// it failed with, for a store shared by several daned replicas
// (MarshalAnswer, UnmarshalAnswer).
//
// Format: one version byte (answerCodecVersion), then a JSON document of
// the private mirror types below, with each record in DNS wire format
// (RFC 1035 §3.2.1, no name compression) as miekg/dns packs it, and an
// EDE's text, which comes from the network, as bytes when it is not
// UTF-8 (JSON would replace the invalid bytes). JSON
// because encoding/json is hardened against hostile input and never
// panics (encoding/gob says it is not), the mirror types fix the format
// field by field, and it reads in redis-cli; wire-format records because
// they are the one representation every RR type has, known or not.
//
// A QueryError's Kind travels as the name of its sentinel and decodes to
// that very sentinel, so errors.Is holds on the other side. Its Err (the
// underlying cause, for logs) travels as its text plus the context and
// deadline errors it wraps, so errors.Is(err, context.DeadlineExceeded)
// holds too; its concrete type does not travel. Decoding refuses unknown
// versions, unknown fields and values this release does not know: any
// change to the mirror types must bump answerCodecVersion.
const answerCodecVersion byte = 1

var answerFormat = vjson.Format{Version: answerCodecVersion, Limit: MaxEncodedAnswer, ErrVersion: ErrCodecVersion}

// MaxEncodedAnswer bounds an encoded outcome: MarshalAnswer refuses a
// bigger one and UnmarshalAnswer refuses longer input before decoding. A
// DNS message is at most 64 KiB, so a real answer is far below it.
const MaxEncodedAnswer = 256 << 10

// ErrCodecVersion is wrapped by UnmarshalAnswer's error when the input was
// written in a format version this release does not know (an entry from
// a newer or older replica): not corrupt, just not readable here.
var ErrCodecVersion = errors.New("resolver: unknown answer encoding version")

type wireOutcome struct {
	Answer *wireAnswer `json:"answer,omitempty"`
	Error  *wireError  `json:"error,omitempty"`
}

type wireAnswer struct {
	Name     string    `json:"name"`
	Type     uint16    `json:"type"`
	Rcode    int       `json:"rcode"`
	Security Security  `json:"security"`
	Chain    []string  `json:"chain"`
	Records  [][]byte  `json:"records"` // wire format, one RR each
	TTL      uint32    `json:"ttl"`
	EDE      []wireEDE `json:"ede"`
}

type wireError struct {
	Name     string     `json:"name"`
	Type     uint16     `json:"type"`
	Kind     string     `json:"kind"` // a key of querySentinels; "" for a nil Kind
	Security Security   `json:"security"`
	Rcode    int        `json:"rcode"`
	EDE      []wireEDE  `json:"ede"`
	Reason   string     `json:"reason"`
	Why      string     `json:"why"`
	Cause    *wireCause `json:"cause"`
}

// wireEDE is an EDE whose EXTRA-TEXT, as received from the network, may
// be any bytes: JSON would turn invalid UTF-8 into U+FFFD, so such a text
// travels as bytes instead.
type wireEDE struct {
	Code      uint16 `json:"code"`
	Text      string `json:"text,omitempty"`
	TextBytes []byte `json:"text_bytes,omitempty"`
}

func encodeEDE(edes []EDE) []wireEDE {
	if edes == nil {
		return nil
	}
	out := make([]wireEDE, len(edes))
	for i, e := range edes {
		out[i].Code = e.Code
		if utf8.ValidString(e.Text) {
			out[i].Text = e.Text
		} else {
			out[i].TextBytes = []byte(e.Text)
		}
	}
	return out
}

func decodeEDE(w []wireEDE) ([]EDE, error) {
	if w == nil {
		return nil, nil
	}
	out := make([]EDE, len(w))
	for i, e := range w {
		if e.Text != "" && e.TextBytes != nil {
			return nil, fmt.Errorf("EDE %d has its text twice", i)
		}
		out[i] = EDE{Code: e.Code, Text: e.Text}
		if e.TextBytes != nil {
			if utf8.Valid(e.TextBytes) {
				return nil, fmt.Errorf("EDE %d has valid UTF-8 as bytes", i)
			}
			out[i].Text = string(e.TextBytes)
		}
	}
	return out, nil
}

// wireCause is an error as text and the well-known errors it wraps.
type wireCause struct {
	Text  string   `json:"text"`
	Wraps []string `json:"wraps"` // keys of causeSentinels
}

// querySentinels names the sentinels a QueryError's Kind may be.
var querySentinels = map[string]error{
	"servfail":  ErrServFail,
	"bogus":     ErrBogus,
	"timeout":   ErrTimeout,
	"refused":   ErrRefused,
	"malformed": ErrMalformed,
	"network":   ErrNetwork,
}

// causeSentinels are the errors a decoded cause still wraps; the order is
// the order they are listed in.
var causeSentinels = []struct {
	name string
	err  error
}{
	{"context.Canceled", context.Canceled},
	{"context.DeadlineExceeded", context.DeadlineExceeded},
	{"os.ErrDeadlineExceeded", os.ErrDeadlineExceeded},
	{"malformed", ErrMalformed},
}

// decodedCause is a cause read back: its text, and the well-known errors
// it wrapped when it was encoded.
type decodedCause struct {
	text  string
	wraps []error
}

func (e *decodedCause) Error() string   { return e.text }
func (e *decodedCause) Unwrap() []error { return e.wraps }

// MarshalAnswer encodes the outcome of one Lookup, exactly one of an
// answer (a non-nil, lookupErr nil) and its failure (a nil, lookupErr a
// *QueryError, possibly wrapped: the *QueryError is what travels), for UnmarshalAnswer in another process:
// the records in wire format, the security state, the chain, the TTL, the
// rcode, the Extended DNS Errors, and for a failure its kind, reason and
// validator's explanation (why_bogus). It fails on anything else (both or
// neither, an error that is not a *QueryError, a Kind that is not one of
// the sentinels), a record that does not pack, or an encoding longer
// than MaxEncodedAnswer.
func MarshalAnswer(a *Answer, lookupErr error) ([]byte, error) {
	var w wireOutcome
	switch {
	case a != nil && lookupErr == nil:
		wa := &wireAnswer{Name: a.Name, Type: a.Type, Rcode: a.Rcode, Security: a.Security,
			Chain: a.Chain, TTL: a.TTL, EDE: encodeEDE(a.EDE)}
		if a.Records != nil {
			wa.Records = make([][]byte, len(a.Records))
		}
		for i, rr := range a.Records {
			if rr == nil {
				return nil, fmt.Errorf("resolver: cannot encode the answer for %s: record %d is nil", a.Name, i)
			}
			buf := make([]byte, dns.Len(rr)+1)
			n, err := dns.PackRR(rr, buf, 0, nil, false)
			if err != nil {
				return nil, fmt.Errorf("resolver: cannot encode the answer for %s: record %d: %w", a.Name, i, err)
			}
			wa.Records[i] = buf[:n]
		}
		w.Answer = wa
	case a == nil && lookupErr != nil:
		var qe *QueryError
		if !errors.As(lookupErr, &qe) {
			return nil, fmt.Errorf("resolver: only a *QueryError can be encoded, not %T", lookupErr)
		}
		we := &wireError{Name: qe.Name, Type: qe.Type, Security: qe.Security, Rcode: qe.Rcode,
			EDE: encodeEDE(qe.EDE), Reason: qe.Reason, Why: qe.Why}
		if qe.Kind != nil {
			for name, s := range querySentinels {
				if qe.Kind == s {
					we.Kind = name
				}
			}
			if we.Kind == "" {
				return nil, fmt.Errorf("resolver: cannot encode the failure of %s: kind %q is not one of the sentinels", qe.Name, qe.Kind)
			}
		}
		if qe.Err != nil {
			c := &wireCause{Text: qe.Err.Error()}
			for _, s := range causeSentinels {
				if errors.Is(qe.Err, s.err) {
					c.Wraps = append(c.Wraps, s.name)
				}
			}
			we.Cause = c
		}
		w.Error = we
	default:
		return nil, errors.New("resolver: MarshalAnswer needs exactly one of an answer and a lookup error")
	}
	b, err := answerFormat.Marshal(&w)
	if err != nil {
		return nil, fmt.Errorf("resolver: encoding a lookup outcome: %w", err)
	}
	return b, nil
}

// UnmarshalAnswer decodes what MarshalAnswer encoded: the answer, or the
// lookup's failure as a *QueryError whose Kind is the package's sentinel.
// err is non-nil, and the other two nil, when b is not such an encoding:
// empty, longer than MaxEncodedAnswer, of another version (wrapping
// ErrCodecVersion), not the JSON of this version exactly, with unknown
// values, or a record that does not unpack. It never panics.
func UnmarshalAnswer(b []byte) (ans *Answer, lookupErr error, err error) {
	var w wireOutcome
	if err := answerFormat.Unmarshal(b, &w); err != nil {
		return nil, nil, fmt.Errorf("resolver: decoding a lookup outcome: %w", err)
	}
	switch {
	case w.Answer != nil && w.Error == nil:
		a, err := w.Answer.answer()
		if err != nil {
			return nil, nil, fmt.Errorf("resolver: decoding the answer for %q: %w", printable(w.Answer.Name, 255), err)
		}
		return a, nil, nil
	case w.Answer == nil && w.Error != nil:
		qe, err := w.Error.queryError()
		if err != nil {
			return nil, nil, fmt.Errorf("resolver: decoding the failure of %q: %w", printable(w.Error.Name, 255), err)
		}
		return nil, qe, nil
	}
	return nil, nil, errors.New("resolver: decoding a lookup outcome: it holds neither exactly an answer nor exactly a failure")
}

func (w *wireAnswer) answer() (*Answer, error) {
	if !knownSecurity(w.Security) {
		return nil, fmt.Errorf("unknown security state %d", w.Security)
	}
	edes, err := decodeEDE(w.EDE)
	if err != nil {
		return nil, err
	}
	a := &Answer{Name: w.Name, Type: w.Type, Rcode: w.Rcode, Security: w.Security, Chain: w.Chain, TTL: w.TTL, EDE: edes}
	if w.Records != nil {
		a.Records = make([]dns.RR, len(w.Records))
	}
	for i, raw := range w.Records {
		rr, err := unpackRR(raw)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		a.Records[i] = rr
	}
	return a, nil
}

// unpackRR unpacks one record in wire format and checks that it packs
// back to the same bytes, so that nothing but what MarshalAnswer writes
// (an empty owner name, trailing bytes) is taken for a record.
func unpackRR(raw []byte) (dns.RR, error) {
	rr, off, err := dns.UnpackRR(raw, 0)
	if err != nil {
		return nil, err
	}
	if rr == nil || off != len(raw) {
		return nil, fmt.Errorf("%d bytes left over", len(raw)-off)
	}
	if !dns.IsFqdn(rr.Header().Name) {
		return nil, fmt.Errorf("owner name %q is not fully qualified", printable(rr.Header().Name, 255))
	}
	buf := make([]byte, len(raw)+1)
	n, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil || !bytes.Equal(buf[:n], raw) {
		return nil, errors.New("not a record in canonical wire format")
	}
	return rr, nil
}

func (w *wireError) queryError() (*QueryError, error) {
	if !knownSecurity(w.Security) {
		return nil, fmt.Errorf("unknown security state %d", w.Security)
	}
	edes, err := decodeEDE(w.EDE)
	if err != nil {
		return nil, err
	}
	qe := &QueryError{Name: w.Name, Type: w.Type, Security: w.Security, Rcode: w.Rcode, EDE: edes, Reason: w.Reason, Why: w.Why}
	if w.Kind != "" {
		k, ok := querySentinels[w.Kind]
		if !ok {
			return nil, fmt.Errorf("unknown kind %q", printable(w.Kind, 64))
		}
		qe.Kind = k
	}
	if c := w.Cause; c != nil {
		d := &decodedCause{text: c.Text}
		for _, name := range c.Wraps {
			i := indexCause(name)
			if i < 0 {
				return nil, fmt.Errorf("unknown wrapped error %q", printable(name, 64))
			}
			d.wraps = append(d.wraps, causeSentinels[i].err)
		}
		qe.Err = d
	}
	return qe, nil
}

func knownSecurity(s Security) bool { return s >= SecurityUnknown && s <= Indeterminate }

func indexCause(name string) int {
	for i, s := range causeSentinels {
		if s.name == name {
			return i
		}
	}
	return -1
}
