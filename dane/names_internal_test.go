package dane

import "testing"

func TestMatchName(t *testing.T) {
	tests := []struct {
		name      string
		presented string
		reference string
		want      bool
	}{
		{"exact", "mx.example.com", "mx.example.com", true},
		{"case-insensitive", "MX.Example.com", "mx.EXAMPLE.COM", true},
		{"trailing dots", "mx.example.com.", "mx.example.com", true},
		{"trailing dot on the reference", "mx.example.com", "mx.example.com.", true},
		{"different name", "mx.example.com", "mx2.example.com", false},
		{"suffix is not a match", "example.com", "mx.example.com", false},
		{"wildcard one label", "*.example.com", "mx.example.com", true},
		{"wildcard with dots and case", "*.Example.COM.", "MX.example.com.", true},
		{"wildcard not the parent", "*.example.com", "example.com", false},
		{"wildcard not two labels", "*.example.com", "a.b.example.com", false},
		{"wildcard not an empty label", "*.example.com", ".example.com", false},
		{"partial label wildcard", "m*.example.com", "mx.example.com", false},
		{"suffix wildcard", "*x.example.com", "mx.example.com", false},
		{"wildcard not leftmost", "mx.*.com", "mx.example.com", false},
		{"two wildcards", "*.*.com", "a.b.com", false},
		{"wildcard over a single label", "*.com", "example.com", false},
		{"bare wildcard", "*", "com", false},
		{"wildcard in the reference is literal", "*.example.com", "*.example.com", false},
		{"empty presented", "", "mx.example.com", false},
		{"empty reference", "mx.example.com", "", false},
		{"just dots", ".", ".", false},
		{"no Unicode folding", "\u212aey.example", "key.example", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := matchName(tt.presented, tt.reference); got != tt.want {
				t.Errorf("matchName(%q, %q) = %v, want %v", tt.presented, tt.reference, got, tt.want)
			}
		})
	}
}
