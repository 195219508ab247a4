package socketmap_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/daned/daned/socketmap"
)

func TestReadNetstring(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		limit int
		want  []string // payloads read before the error
		err   error
	}{
		{name: "one", in: "5:hello,", limit: 10, want: []string{"hello"}, err: io.EOF},
		{name: "empty netstring", in: "0:,", limit: 10, want: []string{""}, err: io.EOF},
		{name: "two in a row", in: "3:abc,4:QUER,", limit: 10, want: []string{"abc", "QUER"}, err: io.EOF},
		{name: "payload with separators", in: "5:a:b,c,", limit: 10, want: []string{"a:b,c"}, err: io.EOF},
		{name: "exactly the limit", in: "10:0123456789,", limit: 10, want: []string{"0123456789"}, err: io.EOF},
		{name: "over the limit", in: "11:01234567890,", limit: 10, err: socketmap.ErrTooLong},
		{name: "over the limit, no payload sent", in: "10001:", limit: socketmap.MaxQuery, err: socketmap.ErrTooLong},
		{name: "absurd length", in: "99999999999999999999999999999:", limit: socketmap.MaxQuery, err: socketmap.ErrTooLong},
		{name: "leading zero", in: "05:hello,", limit: 10, err: socketmap.ErrMalformed},
		{name: "zeros only", in: "00:,", limit: 10, err: socketmap.ErrMalformed},
		{name: "sign", in: "+5:hello,", limit: 10, err: socketmap.ErrMalformed},
		{name: "space in length", in: "5 :hello,", limit: 10, err: socketmap.ErrMalformed},
		{name: "no length", in: ":hello,", limit: 10, err: socketmap.ErrMalformed},
		{name: "no comma", in: "5:hello;", limit: 10, err: socketmap.ErrMalformed},
		{name: "payload longer than announced", in: "4:hello,", limit: 10, err: socketmap.ErrMalformed},
		{name: "end in the length", in: "5", limit: 10, err: io.ErrUnexpectedEOF},
		{name: "end in the payload", in: "5:hel", limit: 10, err: io.ErrUnexpectedEOF},
		{name: "end before the comma", in: "5:hello", limit: 10, err: io.ErrUnexpectedEOF},
		{name: "second one broken", in: "1:a,x", limit: 10, want: []string{"a"}, err: socketmap.ErrMalformed},
		{name: "nothing", in: "", limit: 10, err: io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bufio.NewReader(strings.NewReader(tt.in))
			var got []string
			var buf []byte
			var err error
			for {
				var p []byte
				p, err = socketmap.ReadNetstring(r, buf, tt.limit)
				if err != nil {
					break
				}
				got = append(got, string(p))
				buf = p
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("error %v, want %v", err, tt.err)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Errorf("payloads %q, want %q", got, tt.want)
			}
		})
	}
}

// TestReadNetstringNoAllocation: a hostile length is refused before any
// buffer is made for it, and a malformed length costs nothing either.
func TestReadNetstringNoAllocation(t *testing.T) {
	for _, in := range []string{"1000000000:", "10001:xxxx", "0001:", "12x:"} {
		src := strings.NewReader(in)
		r := bufio.NewReaderSize(src, 64)
		allocs := testing.AllocsPerRun(100, func() {
			src.Reset(in)
			r.Reset(src)
			if _, err := socketmap.ReadNetstring(r, nil, socketmap.MaxQuery); err == nil {
				t.Fatalf("%q: no error", in)
			}
		})
		if allocs != 0 {
			t.Errorf("%q: %v allocations, want none", in, allocs)
		}
	}
}

// TestReadNetstringReusesBuffer: a buffer large enough is used as is.
func TestReadNetstringReusesBuffer(t *testing.T) {
	buf := make([]byte, 0, 64)
	p, err := socketmap.ReadNetstring(bufio.NewReader(strings.NewReader("5:hello,")), buf, 10)
	if err != nil {
		t.Fatal(err)
	}
	if &p[0] != &buf[:1][0] {
		t.Error("a new buffer was allocated although the given one was large enough")
	}
}

func TestAppendNetstring(t *testing.T) {
	for in, want := range map[string]string{"": "0:,", "OK dane-only": "12:OK dane-only,", "NOTFOUND ": "9:NOTFOUND ,"} {
		if got := string(socketmap.AppendNetstring(nil, in)); got != want {
			t.Errorf("AppendNetstring(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzReadNetstring reads netstrings from arbitrary bytes until an error:
// every payload read is within the limit and re-encodes to exactly the
// bytes it was read from, and every error is one of the documented ones.
func FuzzReadNetstring(f *testing.F) {
	for _, s := range []string{"5:hello,", "0:,", "3:abc,4:QUER,", "05:hello,", "10001:", "20:QUERY example.com,",
		"99999999999999999999:", "5:hel", "1:a,x", "64:" + strings.Repeat("x", 64) + ",", "65:" + strings.Repeat("y", 65) + ","} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 64
		src := bytes.NewReader(data)
		r := bufio.NewReaderSize(src, 16)
		consumed := 0
		var buf []byte
		for {
			p, err := socketmap.ReadNetstring(r, buf, limit)
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) &&
					!errors.Is(err, socketmap.ErrMalformed) && !errors.Is(err, socketmap.ErrTooLong) {
					t.Fatalf("undocumented error %v", err)
				}
				if errors.Is(err, io.EOF) && consumed != len(data) {
					t.Fatalf("io.EOF with %d of %d bytes consumed", consumed, len(data))
				}
				return
			}
			if len(p) > limit {
				t.Fatalf("payload of %d bytes over the limit %d", len(p), limit)
			}
			end := len(data) - src.Len() - r.Buffered()
			if enc := socketmap.AppendNetstring(nil, string(p)); !bytes.Equal(enc, data[consumed:end]) {
				t.Fatalf("read %q from %q, which re-encodes as %q", p, data[consumed:end], enc)
			}
			consumed = end
			buf = p
		}
	})
}
