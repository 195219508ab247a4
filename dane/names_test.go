package dane_test

import (
	"slices"
	"testing"

	"github.com/daned/daned/dane"
)

func TestReferenceNames(t *testing.T) {
	tests := []struct {
		name                         string
		base, host, domain, expanded string
		mxSecure                     bool
		want                         []string
	}{
		{name: "secure MX: base and destination (RFC 7672 §3.2.2)", base: "mx.example.com", host: "mx.example.com", domain: "example.com", mxSecure: true,
			want: []string{"mx.example.com", "example.com"}},
		{name: "insecure MX: base only", base: "mx.example.com", host: "mx.example.com", domain: "example.com",
			want: []string{"mx.example.com"}},
		{name: "expanded base: then the MX host name", base: "mx.hosting.example", host: "mx.example.com", domain: "example.com", mxSecure: true,
			want: []string{"mx.hosting.example", "mx.example.com", "example.com"}},
		{name: "expanded base, insecure MX", base: "mx.hosting.example", host: "mx.example.com", domain: "example.com",
			want: []string{"mx.hosting.example", "mx.example.com"}},
		{name: "aliased destination domain", base: "mx.example.net", host: "mx.example.net", domain: "example.com", expanded: "example.net", mxSecure: true,
			want: []string{"mx.example.net", "example.com", "example.net"}},
		{name: "implicit MX: the domain is the host, once", base: "example.com", host: "example.com", domain: "example.com", mxSecure: true,
			want: []string{"example.com"}},
		{name: "expansion equal to the base, once", base: "example.net", host: "example.net", domain: "example.com", expanded: "example.net", mxSecure: true,
			want: []string{"example.net", "example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dane.ReferenceNames(tt.base, tt.host, tt.domain, tt.expanded, tt.mxSecure); !slices.Equal(got, tt.want) {
				t.Errorf("ReferenceNames = %q, want %q", got, tt.want)
			}
		})
	}
}
