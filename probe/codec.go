package probe

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/daned/daned/internal/vjson"
)

// The byte encoding of a Result, for a store shared by several daned
// replicas (MarshalResult, UnmarshalResult).
//
// Format: one version byte (resultCodecVersion), then a JSON document of
// the private mirror types below; certificates as DER, parsed again on
// decoding; texts as JSON strings, which hold UTF-8 only: the banner is
// sanitised and server replies in errors are sanitised or quoted, and a
// byte that is not UTF-8 would arrive as U+FFFD. JSON because encoding/json is hardened against hostile input
// and never panics (encoding/gob says it is not), the mirror types fix
// the format field by field, and it reads in redis-cli.
//
// An error (Result.Err and each Step.Err) travels as its text and the
// names of the well-known errors it wraps (errSentinels: the package's
// sentinels, ErrChainLimit, and the context and deadline errors). It
// decodes to an error with the same text that wraps those very values,
// so errors.Is classifies it as before and a verdict built from it names
// the same reason and detail; its concrete types do not travel. Decoding
// refuses unknown versions, unknown fields and values this release does
// not know: any change to the mirror types must bump resultCodecVersion.
const resultCodecVersion byte = 1

var resultFormat = vjson.Format{Version: resultCodecVersion, Limit: MaxEncodedResult, ErrVersion: ErrCodecVersion}

// MaxEncodedResult bounds an encoded Result: MarshalResult refuses a
// bigger one and UnmarshalResult refuses longer input before decoding. A
// chain is at most 1 MiB of DER (Config.MaxChainBytes), a third more in
// base64.
const MaxEncodedResult = 2 << 20

// maxSteps bounds the steps of a decoded result: a probe has one per
// stage.
const maxSteps = int(StageDone)

// ErrCodecVersion is wrapped by UnmarshalResult's error when the input was
// written in a format version this release does not know (an entry from
// a newer or older replica): not corrupt, just not readable here.
var ErrCodecVersion = errors.New("probe: unknown result encoding version")

// errSentinels are the errors an encoded error keeps wrapping, by name.
var errSentinels = []struct {
	name string
	err  error
}{
	{"connect", ErrConnect},
	{"timeout", ErrTimeout},
	{"smtp", ErrSMTP},
	{"no-starttls", ErrNoSTARTTLS},
	{"starttls-refused", ErrSTARTTLSRefused},
	{"handshake", ErrHandshake},
	{"chain-limit", ErrChainLimit},
	{"context.Canceled", context.Canceled},
	{"context.DeadlineExceeded", context.DeadlineExceeded},
	{"os.ErrDeadlineExceeded", os.ErrDeadlineExceeded},
}

type wireResult struct {
	Addr            netip.AddrPort `json:"addr"`
	ServerName      string         `json:"server_name"`
	Banner          string         `json:"banner"`
	STARTTLSOffered bool           `json:"starttls_offered"`
	TLS             bool           `json:"tls"`
	TLSVersion      uint16         `json:"tls_version"`
	CipherSuite     uint16         `json:"cipher_suite"`
	Chain           [][]byte       `json:"chain"` // DER, leaf first
	Reached         Stage          `json:"reached"`
	Steps           []wireStep     `json:"steps"`
	Elapsed         time.Duration  `json:"elapsed"`
	Err             *wireError     `json:"err"`
}

type wireStep struct {
	Stage    Stage         `json:"stage"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration"`
	Err      *wireError    `json:"err"`
}

type wireError struct {
	Text  string   `json:"text"`
	Wraps []string `json:"wraps"` // names from errSentinels
}

// decodedError is an error read back: its text, and the well-known
// errors it wrapped when it was encoded.
type decodedError struct {
	text  string
	wraps []error
}

func (e *decodedError) Error() string   { return e.text }
func (e *decodedError) Unwrap() []error { return e.wraps }

func encodeError(err error) *wireError {
	if err == nil {
		return nil
	}
	w := &wireError{Text: err.Error()}
	for _, s := range errSentinels {
		if errors.Is(err, s.err) {
			w.Wraps = append(w.Wraps, s.name)
		}
	}
	return w
}

func (w *wireError) decode() (error, error) {
	if w == nil {
		return nil, nil
	}
	d := &decodedError{text: w.Text}
	if len(w.Wraps) > len(errSentinels) {
		return nil, fmt.Errorf("an error wrapping %d errors", len(w.Wraps))
	}
	for _, name := range w.Wraps {
		found := false
		for _, s := range errSentinels {
			if s.name == name {
				d.wraps, found = append(d.wraps, s.err), true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown wrapped error %q", sanitize(clipText(name)))
		}
	}
	return d, nil
}

// MarshalResult encodes r, every field of it and of its steps, for
// UnmarshalResult in another process. It fails on a nil result, a
// certificate without DER, a time JSON cannot hold (outside years
// 0–9999), or an encoding longer than MaxEncodedResult.
func MarshalResult(r *Result) ([]byte, error) {
	if r == nil {
		return nil, errors.New("probe: cannot encode a nil result")
	}
	w := wireResult{
		Addr: r.Addr, ServerName: r.ServerName, Banner: r.Banner, STARTTLSOffered: r.STARTTLSOffered,
		TLS: r.TLS, TLSVersion: r.TLSVersion, CipherSuite: r.CipherSuite, Reached: r.Reached,
		Elapsed: r.Elapsed, Err: encodeError(r.Err),
	}
	if r.Chain != nil {
		w.Chain = make([][]byte, len(r.Chain))
	}
	for i, c := range r.Chain {
		if c == nil || len(c.Raw) == 0 {
			return nil, fmt.Errorf("probe: cannot encode the result for %v: certificate %d has no DER", r.Addr, i)
		}
		w.Chain[i] = c.Raw
	}
	if r.Steps != nil {
		w.Steps = make([]wireStep, len(r.Steps))
	}
	for i, s := range r.Steps {
		w.Steps[i] = wireStep{Stage: s.Stage, Start: s.Start, Duration: s.Duration, Err: encodeError(s.Err)}
	}
	b, err := resultFormat.Marshal(&w)
	if err != nil {
		return nil, fmt.Errorf("probe: encoding the result for %v: %w", r.Addr, err)
	}
	return b, nil
}

// UnmarshalResult decodes what MarshalResult encoded. Certificates are
// parsed again from their DER; errors come back wrapping the same
// sentinels (see the format above). It returns an error, never panics,
// on any other input: empty, longer than MaxEncodedResult, of another
// version (wrapping ErrCodecVersion), not the JSON of this version
// exactly, with an unknown stage or wrapped error, more steps than
// stages, or a certificate that does not parse.
func UnmarshalResult(b []byte) (*Result, error) {
	var w wireResult
	if err := resultFormat.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("probe: decoding a result: %w", err)
	}
	fail := func(format string, args ...any) (*Result, error) {
		return nil, fmt.Errorf("probe: decoding the result for %v: %s", w.Addr, fmt.Sprintf(format, args...))
	}
	if !knownStage(w.Reached) {
		return fail("unknown stage %d", w.Reached)
	}
	if len(w.Steps) > maxSteps {
		return fail("%d steps, a probe has at most %d", len(w.Steps), maxSteps)
	}
	r := &Result{
		Addr: w.Addr, ServerName: w.ServerName, Banner: w.Banner, STARTTLSOffered: w.STARTTLSOffered,
		TLS: w.TLS, TLSVersion: w.TLSVersion, CipherSuite: w.CipherSuite, Reached: w.Reached, Elapsed: w.Elapsed,
	}
	var err error
	if r.Err, err = w.Err.decode(); err != nil {
		return fail("%v", err)
	}
	if w.Chain != nil {
		r.Chain = make([]*x509.Certificate, len(w.Chain))
	}
	for i, der := range w.Chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fail("certificate %d: %v", i, err)
		}
		r.Chain[i] = c
	}
	if w.Steps != nil {
		r.Steps = make([]Step, len(w.Steps))
	}
	for i, s := range w.Steps {
		if !knownStage(s.Stage) {
			return fail("step %d: unknown stage %d", i, s.Stage)
		}
		r.Steps[i] = Step{Stage: s.Stage, Start: s.Start, Duration: s.Duration}
		if r.Steps[i].Err, err = s.Err.decode(); err != nil {
			return fail("step %d: %v", i, err)
		}
	}
	return r, nil
}

func knownStage(s Stage) bool { return s >= StageConnect && s <= StageDone }

// clipText bounds a decoded name quoted in an error.
func clipText(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}
