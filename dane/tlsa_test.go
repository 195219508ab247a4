package dane_test

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
	"testing"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/internal/testcert"
)

func TestAssess(t *testing.T) {
	p := newPKI(t)
	leaf := p.leaf.Cert
	other := mint(t, testcert.Spec{CommonName: "other", DNSNames: []string{"other.example"}}).Cert
	short := rec(3, 1, 1, leaf)
	short.Data = short.Data[:31]
	long512 := rec(3, 1, 2, leaf)
	long512.Data = append(long512.Data, 0)
	sha256as512 := rec(3, 1, 2, leaf)
	sha256as512.Data = rec(3, 1, 1, leaf).Data
	// A structurally valid SubjectPublicKeyInfo of an algorithm
	// crypto/x509 does not know (a made-up OID).
	oddSPKI, err := asn1.Marshal(struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}{pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}}, asn1.BitString{Bytes: []byte{1, 2, 3}, BitLength: 24}})
	if err != nil {
		t.Fatal(err)
	}
	trailing := append(append([]byte{}, leaf.RawSubjectPublicKeyInfo...), 0)

	type want struct {
		usable bool
		why    string // substring of Why; "" when usable
	}
	tests := []struct {
		name  string
		rrset []dane.Record
		want  []want
	}{
		{"3 1 1 usable", []dane.Record{rec(3, 1, 1, leaf)}, []want{{true, ""}}},
		{"3 0 1 usable", []dane.Record{rec(3, 0, 1, leaf)}, []want{{true, ""}}},
		{"3 1 2 usable", []dane.Record{rec(3, 1, 2, leaf)}, []want{{true, ""}}},
		{"3 0 0 usable", []dane.Record{rec(3, 0, 0, leaf)}, []want{{true, ""}}},
		{"3 1 0 usable", []dane.Record{rec(3, 1, 0, leaf)}, []want{{true, ""}}},
		{"2 0 1 usable", []dane.Record{rec(2, 0, 1, p.inter.Cert)}, []want{{true, ""}}},
		{"3 1 0 of an algorithm x509 lacks stays usable", []dane.Record{{3, 1, 0, oddSPKI}}, []want{{true, ""}}},
		{"usage 0 PKIX-TA", []dane.Record{rec(0, 1, 1, leaf)}, []want{{false, "usage 0 (PKIX-TA) is not used with SMTP"}}},
		{"usage 1 PKIX-EE", []dane.Record{rec(1, 1, 1, leaf)}, []want{{false, "usage 1 (PKIX-EE) is not used with SMTP"}}},
		{"unknown usage 4", []dane.Record{rec(4, 1, 1, leaf)}, []want{{false, "certificate usage 4 is unknown"}}},
		{"unknown usage 255", []dane.Record{rec(255, 1, 1, leaf)}, []want{{false, "certificate usage 255 is unknown"}}},
		{"unknown selector 2", []dane.Record{{3, 2, 1, rec(3, 1, 1, leaf).Data}}, []want{{false, "selector 2 is unknown"}}},
		{"unknown matching type 3", []dane.Record{{3, 1, 3, rec(3, 1, 1, leaf).Data}}, []want{{false, "matching type 3 is unknown"}}},
		{"SHA2-256 of 31 bytes", []dane.Record{short}, []want{{false, "SHA2-256 data must be 32 bytes long, this record has 31"}}},
		{"SHA2-512 of 65 bytes", []dane.Record{long512}, []want{{false, "SHA2-512 data must be 64 bytes long, this record has 65"}}},
		{"SHA2-512 of 32 bytes", []dane.Record{sha256as512}, []want{{false, "SHA2-512 data must be 64 bytes long, this record has 32"}}},
		{"empty digest", []dane.Record{{3, 1, 1, nil}}, []want{{false, "this record has 0"}}},
		{"garbage full certificate", []dane.Record{{3, 0, 0, []byte("not a certificate")}}, []want{{false, "does not parse as a DER X.509 certificate"}}},
		{"SPKI given as full certificate", []dane.Record{{2, 0, 0, leaf.RawSubjectPublicKeyInfo}}, []want{{false, "does not parse as a DER X.509 certificate"}}},
		{"garbage full SPKI", []dane.Record{{3, 1, 0, []byte{0x30, 0x03, 0x01}}}, []want{{false, "does not parse as a DER SubjectPublicKeyInfo"}}},
		{"full SPKI with trailing byte", []dane.Record{{3, 1, 0, trailing}}, []want{{false, "does not parse as a DER SubjectPublicKeyInfo"}}},
		{
			"agility: SHA2-512 displaces SHA2-256 for 3 1",
			[]dane.Record{rec(3, 1, 1, leaf), rec(3, 1, 2, other)},
			[]want{{false, "a SHA2-512 record is published for 3 1, so this weaker SHA2-256 record is ignored (RFC 7671 §9"}, {true, ""}},
		},
		{
			"agility: full records always stay",
			[]dane.Record{rec(3, 1, 0, leaf), rec(3, 1, 1, leaf), rec(3, 1, 2, leaf)},
			[]want{{true, ""}, {false, "SHA2-512 record is published for 3 1"}, {true, ""}},
		},
		{
			"agility is per selector",
			[]dane.Record{rec(3, 1, 1, leaf), rec(3, 0, 2, leaf)},
			[]want{{true, ""}, {true, ""}},
		},
		{
			"agility is per usage",
			[]dane.Record{rec(2, 1, 1, p.inter.Cert), rec(3, 1, 2, leaf)},
			[]want{{true, ""}, {true, ""}},
		},
		{
			"agility after discarding malformed records",
			[]dane.Record{rec(3, 1, 1, leaf), long512},
			[]want{{true, ""}, {false, "must be 64 bytes"}},
		},
		{
			"agility ignores unusable usages",
			[]dane.Record{rec(3, 1, 1, leaf), rec(1, 1, 2, leaf)},
			[]want{{true, ""}, {false, "PKIX-EE"}},
		},
		{
			"several SHA2-256 records all displaced",
			[]dane.Record{rec(2, 0, 1, p.inter.Cert), rec(2, 0, 2, p.root.Cert), rec(2, 0, 1, p.root.Cert)},
			[]want{{false, "SHA2-512 record is published for 2 0"}, {true, ""}, {false, "SHA2-512 record is published for 2 0"}},
		},
		{"empty RRset", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := dane.Assess(tt.rrset)
			if len(got) != len(tt.rrset) {
				t.Fatalf("Assess returned %d statuses for %d records", len(got), len(tt.rrset))
			}
			for i, s := range got {
				if s.Usage != tt.rrset[i].Usage || s.Selector != tt.rrset[i].Selector ||
					s.MatchingType != tt.rrset[i].MatchingType || !bytes.Equal(s.Data, tt.rrset[i].Data) {
					t.Errorf("status %d carries record %+v, want %+v", i, s.Record, tt.rrset[i])
				}
				if s.Usable != tt.want[i].usable {
					t.Errorf("status %d: Usable = %v, want %v (Why %q)", i, s.Usable, tt.want[i].usable, s.Why)
				}
				if tt.want[i].usable && s.Why != "" {
					t.Errorf("status %d: usable with Why %q", i, s.Why)
				}
				if !tt.want[i].usable && !strings.Contains(s.Why, tt.want[i].why) {
					t.Errorf("status %d: Why = %q, want it to contain %q", i, s.Why, tt.want[i].why)
				}
			}
		})
	}
}

func TestHasUsable(t *testing.T) {
	leaf := newPKI(t).leaf.Cert
	tests := []struct {
		name  string
		rrset []dane.Record
		want  bool
	}{
		{"one usable", []dane.Record{rec(3, 1, 1, leaf)}, true},
		{"usable after unusable", []dane.Record{rec(1, 1, 1, leaf), rec(3, 1, 1, leaf)}, true},
		{"only PKIX usages", []dane.Record{rec(0, 1, 1, leaf), rec(1, 0, 1, leaf)}, false},
		{"only malformed", []dane.Record{{3, 1, 1, []byte{1, 2, 3}}}, false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dane.HasUsable(dane.Assess(tt.rrset)); got != tt.want {
				t.Errorf("HasUsable = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMatches(t *testing.T) {
	p := newPKI(t)
	leaf, other := p.leaf.Cert, p.inter.Cert
	// Same key, different certificate: SPKI selectors match, Cert ones do not.
	rekeyed := mint(t, testcert.Spec{CommonName: "mx.example.com", DNSNames: []string{"mx.example.com"}, Key: p.leaf.Key, Parent: p.inter}).Cert
	flipped := rec(3, 1, 1, leaf)
	flipped.Data = append([]byte{}, flipped.Data...)
	flipped.Data[31] ^= 1
	tests := []struct {
		name string
		r    dane.Record
		cert *x509.Certificate
		want bool
	}{
		{"0 0 same cert", rec(3, 0, 0, leaf), leaf, true},
		{"0 0 other cert", rec(3, 0, 0, leaf), other, false},
		{"0 1 same cert", rec(3, 0, 1, leaf), leaf, true},
		{"0 1 other cert", rec(3, 0, 1, leaf), other, false},
		{"0 2 same cert", rec(3, 0, 2, leaf), leaf, true},
		{"0 2 same key new cert", rec(3, 0, 2, leaf), rekeyed, false},
		{"1 0 same key", rec(3, 1, 0, leaf), rekeyed, true},
		{"1 0 other key", rec(3, 1, 0, leaf), other, false},
		{"1 1 same key", rec(3, 1, 1, leaf), rekeyed, true},
		{"1 1 one bit off", flipped, leaf, false},
		{"1 2 same key", rec(3, 1, 2, leaf), rekeyed, true},
		{"1 2 other key", rec(3, 1, 2, leaf), other, false},
		{"SHA2-256 data under matching type 2", dane.Record{Usage: 3, Selector: 1, MatchingType: 2, Data: rec(3, 1, 1, leaf).Data}, leaf, false},
		{"truncated digest", dane.Record{Usage: 3, Selector: 1, MatchingType: 1, Data: rec(3, 1, 1, leaf).Data[:16]}, leaf, false},
		{"unknown selector", dane.Record{Usage: 3, Selector: 2, MatchingType: 1, Data: rec(3, 1, 1, leaf).Data}, leaf, false},
		{"unknown matching type", dane.Record{Usage: 3, Selector: 1, MatchingType: 3, Data: rec(3, 1, 1, leaf).Data}, leaf, false},
		{"nil certificate", rec(3, 1, 1, leaf), nil, false},
		{"certificate without DER", rec(3, 0, 0, leaf), &x509.Certificate{}, false},
		{"usage is not Matches' business", rec(0, 1, 1, leaf), leaf, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dane.Matches(tt.r, tt.cert); got != tt.want {
				t.Errorf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseRecord(t *testing.T) {
	tests := []struct {
		name    string
		usage   uint8
		sel     uint8
		mtype   uint8
		hex     string
		want    []byte // nil: no data
		wantErr string // substring of the error; "" for none
	}{
		{name: "lower case", usage: 3, sel: 1, mtype: 1, hex: "00ff10ab", want: []byte{0x00, 0xff, 0x10, 0xab}},
		{name: "upper case decodes to the same bytes", usage: 3, sel: 1, mtype: 1, hex: "00FF10AB", want: []byte{0x00, 0xff, 0x10, 0xab}},
		{name: "mixed case", usage: 2, sel: 0, mtype: 2, hex: "aBcD", want: []byte{0xab, 0xcd}},
		{name: "fields kept even when unknown", usage: 255, sel: 7, mtype: 9, hex: "01", want: []byte{1}},
		{name: "empty data", usage: 3, sel: 1, mtype: 1, hex: "", want: []byte{}},
		{name: "odd length", usage: 3, sel: 1, mtype: 1, hex: "abc", wantErr: "odd length"},
		{name: "not hex", usage: 3, sel: 1, mtype: 1, hex: "zz", wantErr: "invalid byte"},
		{name: "whitespace is not hex", usage: 3, sel: 1, mtype: 1, hex: "ab cd", wantErr: "invalid byte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := dane.ParseRecord(tt.usage, tt.sel, tt.mtype, tt.hex)
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("ParseRecord error %v, want %q", err, tt.wantErr)
			}
			if r.Usage != tt.usage || r.Selector != tt.sel || r.MatchingType != tt.mtype {
				t.Errorf("fields %d %d %d, want %d %d %d", r.Usage, r.Selector, r.MatchingType, tt.usage, tt.sel, tt.mtype)
			}
			if (r.Data == nil) != (tt.want == nil) || !bytes.Equal(r.Data, tt.want) {
				t.Errorf("Data %x (nil %v), want %x (nil %v)", r.Data, r.Data == nil, tt.want, tt.want == nil)
			}
		})
	}
	// Undecodable data leaves a record Assess marks unusable.
	r, _ := dane.ParseRecord(3, 1, 1, "zz")
	if a := dane.Assess([]dane.Record{r}); a[0].Usable {
		t.Error("a record with undecodable data is usable")
	}
}
