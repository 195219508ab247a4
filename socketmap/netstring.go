package socketmap

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Protocol limits of socketmap_table(5), not counting the netstring
// encapsulation.
const (
	// MaxQuery is the longest request Postfix sends ("<name> <key>"):
	// its socketmap_max_query_size default.
	MaxQuery = 10000
	// MaxReply is the longest reply Postfix accepts: its
	// socketmap_max_reply_size default. A longer reply is replaced by a
	// TEMP reply, never truncated.
	MaxReply = 100000
)

// Netstring errors. Both mean the stream cannot be resynchronised: the
// connection ends after the replies already owed.
var (
	// ErrMalformed: the bytes are not a netstring (a length that is not
	// decimal digits, a leading zero, no ':' or no ',').
	ErrMalformed = errors.New("socketmap: malformed netstring")
	// ErrTooLong: the announced length exceeds the limit. It is reported
	// as soon as the length says so, before any payload is read or any
	// buffer allocated.
	ErrTooLong = errors.New("socketmap: netstring too long")
)

// The malformations, made once: reading hostile input allocates nothing.
var (
	errEmptyLength = fmt.Errorf("%w: empty length", ErrMalformed)
	errNotDigit    = fmt.Errorf("%w: the length is not decimal digits", ErrMalformed)
	errLeadingZero = fmt.Errorf("%w: leading zero in the length", ErrMalformed)
	errNoComma     = fmt.Errorf("%w: no ',' after the payload", ErrMalformed)
)

// ReadNetstring reads one netstring ("<len>:<payload>,",
// https://cr.yp.to/proto/netstrings.txt) of at most limit payload bytes
// from r. It reuses buf when it is large enough and returns the payload,
// which stays valid until buf is reused.
//
// The length must be decimal digits without a leading zero ("0:" is the
// empty netstring). A length over limit returns ErrTooLong as soon as its
// digits show it, so a hostile length never causes an allocation. A
// clean end of input before the first byte returns io.EOF; an end in the
// middle returns io.ErrUnexpectedEOF.
func ReadNetstring(r *bufio.Reader, buf []byte, limit int) ([]byte, error) {
	n, digits := 0, 0
	for {
		c, err := r.ReadByte()
		if err != nil {
			if err == io.EOF && digits > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if c == ':' {
			if digits == 0 {
				return nil, errEmptyLength
			}
			break
		}
		if c < '0' || c > '9' {
			return nil, errNotDigit
		}
		if digits == 1 && n == 0 {
			return nil, errLeadingZero
		}
		n = n*10 + int(c-'0')
		digits++
		if n > limit {
			return nil, ErrTooLong
		}
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	c, err := r.ReadByte()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if c != ',' {
		return nil, errNoComma
	}
	return buf, nil
}

// AppendNetstring appends payload to dst as a netstring.
func AppendNetstring(dst []byte, payload string) []byte {
	dst = strconv.AppendInt(dst, int64(len(payload)), 10)
	dst = append(dst, ':')
	dst = append(dst, payload...)
	return append(dst, ',')
}
