package vjson_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/daned/daned/internal/vjson"
)

var errVersion = errors.New("unknown version")

type value struct {
	Name string `json:"name"`
}

func TestRoundTrip(t *testing.T) {
	f := vjson.Format{Version: 3, Limit: 64, ErrVersion: errVersion}
	b, err := f.Marshal(value{"mx.example"})
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 3 {
		t.Fatalf("version byte %d, want 3", b[0])
	}
	var v value
	if err := f.Unmarshal(b, &v); err != nil || v.Name != "mx.example" {
		t.Fatalf("Unmarshal = %+v, %v", v, err)
	}
	if _, err := f.Marshal(value{strings.Repeat("x", 64)}); err == nil {
		t.Error("Marshal over the limit: no error")
	}
}

func TestUnmarshalRefuses(t *testing.T) {
	f := vjson.Format{Version: 1, Limit: 64, ErrVersion: errVersion}
	for _, tc := range []struct {
		name    string
		in      string
		version bool
	}{
		{"no bytes", "", false},
		{"over the limit", "\x01" + `{"name":"` + strings.Repeat("x", 64) + `"}`, false},
		{"another version", "\x02{}", true},
		{"not JSON", "\x01{", false},
		{"an unknown field", "\x01" + `{"name":"a","ttl":1}`, false},
		{"data after the value", "\x01{}{}", false},
		{"the wrong type", "\x01" + `{"name":1}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v value
			err := f.Unmarshal([]byte(tc.in), &v)
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, errVersion) != tc.version {
				t.Fatalf("err = %v; wraps the version sentinel: %v, want %v", err, !tc.version, tc.version)
			}
		})
	}
}
