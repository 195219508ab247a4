// Package vjson frames a value as one version byte followed by its JSON:
// the byte format of the shared store's engine, resolver and probe
// results. Decoding is strict (no unknown fields, nothing after the value)
// and both directions are bounded in size. It knows nothing of the
// values: each codec checks what it decoded.
package vjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Format is one codec's framing.
type Format struct {
	// Version is the first byte of every encoding.
	Version byte
	// Limit bounds an encoding's length, version byte included.
	Limit int
	// ErrVersion is the codec's sentinel, wrapped by the error for an
	// encoding of another version.
	ErrVersion error
}

// Marshal encodes v after f.Version; the error says when the encoding is
// over f.Limit.
func (f Format) Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte(f.Version)
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		return nil, err
	}
	if buf.Len() > f.Limit {
		return nil, fmt.Errorf("encodes to %d bytes, over the limit of %d", buf.Len(), f.Limit)
	}
	return buf.Bytes(), nil
}

// Unmarshal decodes into v what Marshal encoded. It refuses no bytes,
// more than f.Limit, another version (wrapping f.ErrVersion), JSON with
// fields v does not have, and anything after the value.
func (f Format) Unmarshal(b []byte, v any) error {
	if len(b) == 0 {
		return errors.New("no bytes")
	}
	if len(b) > f.Limit {
		return fmt.Errorf("%d bytes, over the limit of %d", len(b), f.Limit)
	}
	if b[0] != f.Version {
		return fmt.Errorf("%w: %d (this release reads version %d)", f.ErrVersion, b[0], f.Version)
	}
	dec := json.NewDecoder(bytes.NewReader(b[1:]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the value")
	}
	return nil
}
