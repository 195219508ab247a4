package mtasts_test

import (
	"reflect"
	"testing"

	"github.com/daned/daned/mtasts"
)

// FuzzParsePolicy feeds policy bodies from the network to ParsePolicy: it
// must never panic, and whatever it accepts must survive a round trip
// through Format unchanged.
func FuzzParsePolicy(f *testing.F) {
	for _, seed := range []string{
		"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n",
		"version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 86400",
		"version: STSv1\nmode: none\nmax_age: 86400\n",
		"version:STSv1\r\n\nmode:\tenforce \t\n  \r\nmx:MX.Example.COM.\nmax_age:  0\n",
		"version: STSv1\nmode: testing\nmode: enforce\nmx: a.example\nmax_age: 9999999999\nx-ext: ünï\n",
		"version: STSv1\nmode: enforce\nmx: 192.0.2.1\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: mail.*.example\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: xn--bcher-kva.example.\nmax_age: 31557600\n",
		"version : STSv1\n",
		"\xff",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		p, err := mtasts.ParsePolicy(text)
		if err != nil {
			return
		}
		out := p.Format()
		again, err := mtasts.ParsePolicy(out)
		if err != nil {
			t.Fatalf("Format of an accepted policy does not parse: %v\ninput %q\nformat %q", err, text, out)
		}
		if !reflect.DeepEqual(again, p) {
			t.Fatalf("round trip changed the policy: %+v became %+v\ninput %q", p, again, text)
		}
		if p.MaxAge < 0 || p.MaxAge > mtasts.MaxMaxAge {
			t.Fatalf("max_age %v out of range", p.MaxAge)
		}
		if len(p.MX) == 0 && p.Mode != mtasts.ModeNone {
			t.Fatalf("mode %v accepted without mx", p.Mode)
		}
		for _, mx := range p.MX {
			if _, err := mtasts.ParsePattern(mx); err != nil {
				t.Fatalf("accepted pattern %q does not parse again: %v", mx, err)
			}
		}
	})
}
