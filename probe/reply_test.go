package probe_test

import (
	"bufio"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/daned/daned/probe"
)

func TestReadReply(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		maxLine   int
		maxLines  int
		wantCode  int
		wantLines []string
		wantErr   error // nil, probe.ErrSMTP, io.EOF or io.ErrUnexpectedEOF
		wantRest  string
	}{
		{name: "single line", in: "220 mx.example.net ESMTP\r\n", wantCode: 220, wantLines: []string{"mx.example.net ESMTP"}},
		{name: "code only", in: "250\r\n", wantCode: 250, wantLines: []string{""}},
		{name: "empty text after space", in: "250 \r\n", wantCode: 250, wantLines: []string{""}},
		{name: "multi-line", in: "250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n", wantCode: 250, wantLines: []string{"mx", "PIPELINING", "STARTTLS"}},
		{name: "empty continuation", in: "250-\r\n250 end\r\n", wantCode: 250, wantLines: []string{"", "end"}},
		{name: "bare LF", in: "220-a\n220 b\n", wantCode: 220, wantLines: []string{"a", "b"}},
		{name: "leaves the next reply unread", in: "220 a\r\n250 b\r\n", wantCode: 220, wantLines: []string{"a"}, wantRest: "250 b\r\n"},
		{name: "keeps inner CR", in: "220 a\rb\r\n", wantCode: 220, wantLines: []string{"a\rb"}},
		{name: "5xx", in: "554 5.3.2 go away\r\n", wantCode: 554, wantLines: []string{"5.3.2 go away"}},
		{name: "exactly maxLines", in: "250-a\r\n250-b\r\n250 c\r\n", maxLines: 3, wantCode: 250, wantLines: []string{"a", "b", "c"}},
		{name: "too many lines", in: "250-a\r\n250-b\r\n250-c\r\n250 d\r\n", maxLines: 3, wantErr: probe.ErrSMTP},
		{name: "exactly maxLine", in: "250 " + strings.Repeat("x", 508) + "\r\n", maxLine: 512, wantCode: 250, wantLines: []string{strings.Repeat("x", 508)}},
		{name: "one byte over maxLine", in: "250 " + strings.Repeat("x", 509) + "\r\n", maxLine: 512, wantErr: probe.ErrSMTP},
		{name: "over-long without line end", in: "250 " + strings.Repeat("x", 5000), maxLine: 512, wantErr: probe.ErrSMTP},
		{name: "over-long beyond the buffer", in: "250 " + strings.Repeat("x", 10000) + "\r\n", wantErr: probe.ErrSMTP},
		{name: "default limits", in: "250 " + strings.Repeat("x", 2044) + "\r\n", wantCode: 250, wantLines: []string{strings.Repeat("x", 2044)}},
		{name: "mixed codes", in: "250-a\r\n251 b\r\n", wantErr: probe.ErrSMTP},
		{name: "code 1yz", in: "120 wait\r\n", wantErr: probe.ErrSMTP},
		{name: "code 6yz", in: "650 what\r\n", wantErr: probe.ErrSMTP},
		{name: "letters", in: "2x0 a\r\n", wantErr: probe.ErrSMTP},
		{name: "short line", in: "25\r\n", wantErr: probe.ErrSMTP},
		{name: "empty line", in: "\r\n", wantErr: probe.ErrSMTP},
		{name: "bad separator", in: "250_x\r\n", wantErr: probe.ErrSMTP},
		{name: "four-digit code", in: "2500 x\r\n", wantErr: probe.ErrSMTP},
		{name: "not SMTP", in: "SSH-2.0-OpenSSH\r\n", wantErr: probe.ErrSMTP},
		{name: "empty input", in: "", wantErr: io.EOF},
		{name: "unterminated line", in: "220 hello", wantErr: io.ErrUnexpectedEOF},
		{name: "ends mid-reply", in: "250-a\r\n", wantErr: io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bufio.NewReader(strings.NewReader(tt.in))
			code, lines, err := probe.ReadReply(r, tt.maxLine, tt.maxLines)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ReadReply() error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadReply() error = %v", err)
			}
			if code != tt.wantCode || !slices.Equal(lines, tt.wantLines) {
				t.Errorf("ReadReply() = %d, %q, want %d, %q", code, lines, tt.wantCode, tt.wantLines)
			}
			rest, _ := io.ReadAll(r)
			if string(rest) != tt.wantRest {
				t.Errorf("left %q unread, want %q", rest, tt.wantRest)
			}
		})
	}
}

func TestReadReplyOneByteAtATime(t *testing.T) {
	// Replies arrive in arbitrary segments; a one-byte reader exercises
	// every split point.
	in := "250-mx.example.net\r\n250-SIZE 1000\r\n250 STARTTLS\r\n"
	r := bufio.NewReaderSize(iotest.OneByteReader(strings.NewReader(in)), 16)
	code, lines, err := probe.ReadReply(r, 0, 0)
	if err != nil || code != 250 || len(lines) != 3 {
		t.Fatalf("ReadReply() = %d, %q, %v", code, lines, err)
	}
}

func TestReadReplyIOError(t *testing.T) {
	boom := errors.New("boom")
	r := bufio.NewReader(io.MultiReader(strings.NewReader("220-a\r\n"), iotest.ErrReader(boom)))
	_, _, err := probe.ReadReply(r, 0, 0)
	if !errors.Is(err, boom) || errors.Is(err, probe.ErrSMTP) {
		t.Fatalf("ReadReply() error = %v, want the I/O error unclassified", err)
	}
}

func FuzzReadReply(f *testing.F) {
	seeds := []string{
		"220 mx.example.net ESMTP\r\n",
		"250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n",
		"250\r\n",
		"250-\n250 \n",
		"554 no\r\n",
		"250-a\r\n251 b\r\n",
		strings.Repeat("220-x\r\n", 200),
		"220 " + strings.Repeat("y", 3000) + "\r\n",
		"\r\n\r\n",
		"2",
	}
	for _, s := range seeds {
		f.Add([]byte(s), 512, 10)
	}
	f.Fuzz(func(t *testing.T, data []byte, maxLine, maxLines int) {
		// Keep limits in a range where the invariant is interesting.
		maxLine = 1 + abs(maxLine)%4096
		maxLines = 1 + abs(maxLines)%200
		code, lines, err := probe.ReadReply(bufio.NewReader(strings.NewReader(string(data))), maxLine, maxLines)
		if len(lines) > maxLines {
			t.Fatalf("%d lines, limit %d", len(lines), maxLines)
		}
		for i, l := range lines {
			if len(l) > maxLine {
				t.Fatalf("line %d has %d bytes, limit %d", i, len(l), maxLine)
			}
		}
		if err == nil {
			if code < 200 || code > 599 || len(lines) == 0 {
				t.Fatalf("success with code %d and %d lines", code, len(lines))
			}
		}
	})
}

func abs(n int) int {
	if n < 0 {
		if n == -n { // math.MinInt
			return 0
		}
		return -n
	}
	return n
}
