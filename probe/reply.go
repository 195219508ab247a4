package probe

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxLineLength and DefaultMaxReplyLines bound SMTP replies when
// Config (or a ReadReply caller) leaves the limit at zero.
const (
	// DefaultMaxLineLength is four times the 512 octets RFC 5321
	// §4.5.3.1.5 requires: lenient with chatty servers, still bounded.
	DefaultMaxLineLength = 2048
	// DefaultMaxReplyLines covers any sane EHLO reply.
	DefaultMaxReplyLines = 100
)

// ReadReply reads one SMTP reply (RFC 5321 §4.2): zero or more continuation
// lines "ddd-text", then a last line "ddd text" or "ddd", all with the same
// code. The code's first digit must be 2 to 5. Lines end in CRLF; a bare LF
// is accepted too. It returns the code and the text of each line (without
// the code, separator and line ending).
//
// maxLine bounds each line, code included and line ending excluded;
// maxLines bounds the number of lines. Zero or negative selects
// DefaultMaxLineLength and DefaultMaxReplyLines. ReadReply stops reading as
// soon as a limit is exceeded, so an endless line or reply costs at most the
// limits. It never returns more than maxLines lines nor a text longer than
// maxLine.
//
// Protocol violations (malformed line, mixed codes, line too long, too many
// lines) wrap ErrSMTP. I/O errors are returned wrapped and unclassified so
// the caller can tell timeouts apart; end of input becomes io.EOF before the
// first byte and io.ErrUnexpectedEOF after it. On error the code and lines
// read so far are returned for diagnostics.
func ReadReply(r *bufio.Reader, maxLine, maxLines int) (code int, lines []string, err error) {
	if maxLine <= 0 {
		maxLine = DefaultMaxLineLength
	}
	if maxLines <= 0 {
		maxLines = DefaultMaxReplyLines
	}
	for n := 0; ; n++ {
		line, err := readLine(r, maxLine, n > 0)
		if err != nil {
			return code, lines, err
		}
		c, text, last, err := parseLine(line)
		if err != nil {
			return code, lines, err
		}
		if n == 0 {
			code = c
		} else if c != code {
			return code, lines, fmt.Errorf("%w: reply code changed from %d to %d on line %d", ErrSMTP, code, c, n+1)
		}
		lines = append(lines, text)
		if last {
			return code, lines, nil
		}
		if len(lines) >= maxLines {
			return code, lines, fmt.Errorf("%w: reply has more than %d lines", ErrSMTP, maxLines)
		}
	}
}

// readLine reads one line of at most maxLine bytes, line ending excluded.
// midReply says whether an end of input is unexpected even before the
// line's first byte.
func readLine(r *bufio.Reader, maxLine int, midReply bool) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		buf = append(buf, chunk...)
		switch {
		case err == nil:
			buf = buf[:len(buf)-1]
			if n := len(buf); n > 0 && buf[n-1] == '\r' {
				buf = buf[:n-1]
			}
			if len(buf) > maxLine {
				return nil, fmt.Errorf("%w: reply line longer than %d bytes", ErrSMTP, maxLine)
			}
			return buf, nil
		case len(buf) > maxLine+1: // +1: a CR may still be followed by LF
			return nil, fmt.Errorf("%w: reply line longer than %d bytes", ErrSMTP, maxLine)
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(buf) == 0 && !midReply {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("reading reply: %w", io.ErrUnexpectedEOF)
		default:
			return nil, fmt.Errorf("reading reply: %w", err)
		}
	}
}

// parseLine splits "ddd-text", "ddd text" or "ddd" (RFC 5321 §4.2).
func parseLine(line []byte) (code int, text string, last bool, err error) {
	if len(line) < 3 || line[0] < '2' || line[0] > '5' || !isDigit(line[1]) || !isDigit(line[2]) {
		return 0, "", false, fmt.Errorf("%w: malformed reply line %q", ErrSMTP, clip(line))
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	if len(line) == 3 {
		return code, "", true, nil
	}
	switch line[3] {
	case '-':
		return code, string(line[4:]), false, nil
	case ' ':
		return code, string(line[4:]), true, nil
	}
	return 0, "", false, fmt.Errorf("%w: malformed reply line %q", ErrSMTP, clip(line))
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// clip keeps error messages short when a server sends junk.
func clip(b []byte) []byte {
	const n = 64
	if len(b) > n {
		return b[:n]
	}
	return b
}
