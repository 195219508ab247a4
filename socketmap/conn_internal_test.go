package socketmap

import (
	"bufio"
	"strings"
	"testing"
)

// TestBufferedNetstring: a request is read without a deadline only when
// all of it is already buffered, or when what is buffered cannot be a
// request at all.
func TestBufferedNetstring(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"", false},
		{"1", false},
		{"17", false},
		{"17:", false},
		{"17:QUERY example.co", false},
		{"17:QUERY example.com", false}, // the comma is still to come
		{"17:QUERY example.com,", true},
		{"17:QUERY example.com,5:QU", true},
		{"0:,", true},
		{":", true},        // empty length
		{"x:", true},       // not a length
		{"1x", true},       // not a length
		{"99999999", true}, // too long
	}
	for _, tt := range tests {
		rd := bufio.NewReader(strings.NewReader(tt.in))
		if tt.in != "" {
			_, _ = rd.Peek(len(tt.in))
		}
		if got := bufferedNetstring(rd); got != tt.want {
			t.Errorf("bufferedNetstring(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
