package dane_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/internal/testcert"
)

// fixedPKI is newPKI with Ed25519 keys from fixed seeds and fixed serials:
// Ed25519 signatures are deterministic, so every fuzz worker process gets
// byte-identical certificates and a crasher reproduces anywhere.
func fixedPKI(t testing.TB) (pki, *testcert.Cert) {
	t.Helper()
	key := func(n byte) ed25519.PrivateKey {
		return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{n}, ed25519.SeedSize))
	}
	root := mint(t, testcert.Spec{CommonName: "Fuzz Root", CA: true, Key: key(1), Serial: 1})
	inter := mint(t, testcert.Spec{CommonName: "Fuzz Intermediate", CA: true, Key: key(2), Serial: 2, Parent: root})
	leaf := mint(t, testcert.Spec{CommonName: "mx.example.com", DNSNames: []string{"mx.example.com", "*.example.net"}, Key: key(3), Serial: 3, Parent: inter})
	other := mint(t, testcert.Spec{CommonName: "other", Key: key(4), Serial: 4})
	return pki{root, inter, leaf}, other
}

// encodeRecords is the inverse of decodeRecords, for seeds.
func encodeRecords(rrset ...dane.Record) []byte {
	var b []byte
	for _, r := range rrset {
		b = append(b, r.Usage, r.Selector, r.MatchingType)
		b = binary.BigEndian.AppendUint16(b, uint16(len(r.Data)))
		b = append(b, r.Data...)
	}
	return b
}

// decodeRecords reads records as usage, selector, matching type, a
// 16-bit length and the data, truncating the last one if need be.
func decodeRecords(b []byte) []dane.Record {
	var out []dane.Record
	for len(b) >= 5 && len(out) < 32 {
		r := dane.Record{Usage: b[0], Selector: b[1], MatchingType: b[2]}
		n := min(int(binary.BigEndian.Uint16(b[3:5])), len(b)-5)
		r.Data, b = b[5:5+n], b[5+n:]
		out = append(out, r)
	}
	return out
}

func FuzzAssess(f *testing.F) {
	p, other := fixedPKI(f)
	leaf, inter, root := p.leaf.Cert, p.inter.Cert, p.root.Cert
	for _, seed := range [][]dane.Record{
		{rec(3, 1, 1, leaf)},
		{rec(3, 0, 1, leaf), rec(3, 1, 2, leaf)},
		{rec(3, 1, 1, leaf), rec(3, 1, 2, other.Cert)},
		{rec(3, 0, 0, leaf), rec(3, 1, 0, leaf)},
		{rec(2, 0, 1, inter), rec(2, 1, 1, root)},
		{rec(2, 0, 0, root)},
		{rec(2, 1, 0, root), rec(2, 1, 0, inter)},
		{rec(2, 0, 1, leaf)},
		{rec(0, 1, 1, leaf), rec(1, 0, 1, leaf), rec(4, 1, 1, leaf)},
		{{Usage: 3, Selector: 2, MatchingType: 1, Data: make([]byte, 32)}, {Usage: 3, Selector: 1, MatchingType: 3, Data: make([]byte, 32)}},
		{{Usage: 3, Selector: 1, MatchingType: 1, Data: make([]byte, 31)}, {Usage: 2, Selector: 0, MatchingType: 0, Data: []byte("garbage")}},
		{{Usage: 2, Selector: 1, MatchingType: 0, Data: []byte{0x30, 0x03, 0x30, 0x01, 0x00}}},
	} {
		f.Add(encodeRecords(seed...))
	}
	f.Add([]byte{})
	f.Add([]byte{3, 1, 1, 0xff, 0xff})

	chain := chainOf(p.leaf, p.inter)
	opts := dane.Options{ReferenceNames: []string{"mx.example.com"}, Now: now}
	f.Fuzz(func(t *testing.T, data []byte) {
		rrset := decodeRecords(data)
		got := dane.Assess(rrset)
		if len(got) != len(rrset) {
			t.Fatalf("Assess returned %d statuses for %d records", len(got), len(rrset))
		}
		for i, s := range got {
			if s.Usable != (s.Why == "") {
				t.Errorf("status %d: Usable %v with Why %q", i, s.Usable, s.Why)
			}
			if s.Usable && (s.Usage < dane.UsageDANETA || s.Usage > dane.UsageDANEEE || s.Selector > dane.SelectorSPKI || s.MatchingType > dane.MatchSHA512) {
				t.Errorf("status %d: unusable parameters %d %d %d marked usable", i, s.Usage, s.Selector, s.MatchingType)
			}
			if s.Usable && (s.MatchingType == dane.MatchSHA256 && len(s.Data) != 32 || s.MatchingType == dane.MatchSHA512 && len(s.Data) != 64) {
				t.Errorf("status %d: digest of %d bytes marked usable", i, len(s.Data))
			}
		}
		res := dane.Verify(chain, got, opts)
		checkResult(t, res, got)
		if res.Authenticated() && !dane.Matches(got[res.Matched].Record, leaf) && got[res.Matched].Usage == dane.UsageDANEEE {
			t.Errorf("DANE-EE record %d authenticated a leaf it does not match", res.Matched)
		}
	})
}

func FuzzVerifyDER(f *testing.F) {
	p, other := fixedPKI(f)
	leaf, inter, root := p.leaf.Cert.Raw, p.inter.Cert.Raw, p.root.Cert.Raw
	// The RRset exercises every path of Verify: a DANE-EE record set
	// aside by digest agility, one that matches nothing, DANE-TA digests
	// of the root, and DANE-TA anchors carried in full.
	rrset := dane.Assess([]dane.Record{
		rec(3, 1, 1, p.leaf.Cert),
		rec(3, 1, 2, other.Cert),
		rec(2, 0, 1, p.root.Cert),
		rec(2, 1, 0, p.inter.Cert),
		rec(2, 0, 0, p.root.Cert),
	})
	opts := dane.Options{ReferenceNames: []string{"mx.example.com", "example.net"}, Now: now}

	f.Add(leaf, inter, root, uint8(3))                                    // valid, anchored at the root
	f.Add(leaf, root, inter, uint8(3))                                    // out of order
	f.Add(leaf, inter, root, uint8(2))                                    // root left out: 2 0 0 / 2 1 0 anchor it
	f.Add(leaf, inter, root, uint8(1))                                    // leaf alone: 2 1 0 of the intermediate anchors it
	f.Add(other.Cert.Raw, inter, root, uint8(3))                          // unrelated self-signed leaf
	f.Add(leaf, leaf, leaf, uint8(3))                                     // leaf repeated
	f.Add(inter, root, root, uint8(3))                                    // a CA presented as leaf: no DNS names
	f.Add(leaf[:len(leaf)/2], inter, root, uint8(3))                      // truncated leaf
	f.Add(leaf, append(inter[:len(inter):len(inter)], 0), root, uint8(2)) // trailing garbage
	f.Add([]byte{}, []byte{}, []byte{}, uint8(0))                         // nothing presented

	f.Fuzz(func(t *testing.T, a, b, c []byte, n uint8) {
		chain := [][]byte{a, b, c}[:n%4]
		res := dane.VerifyDER(chain, rrset, opts)
		checkResult(t, res, rrset)
	})
}

// checkResult checks what holds for every Result.
func checkResult(t *testing.T, res dane.Result, rrset []dane.AssessedRecord) {
	t.Helper()
	if res.Detail == "" {
		t.Errorf("empty Detail for %v", res.Reason)
	}
	switch res.Reason {
	case dane.ReasonOK:
		if res.Matched < 0 || res.Matched >= len(rrset) || !rrset[res.Matched].Usable {
			t.Errorf("authenticated by record %d, which is not a usable record of %d", res.Matched, len(rrset))
		}
	case dane.ReasonTLSANoMatch, dane.ReasonCertNameMismatch, dane.ReasonCertExpired, dane.ReasonCertNotYetValid, dane.ReasonChainInvalid:
		if res.Matched != -1 {
			t.Errorf("failure %v with Matched %d", res.Reason, res.Matched)
		}
	default:
		t.Errorf("unexpected reason %v", res.Reason)
	}
}

// FuzzParseRecord checks the decoder of TLSA association data, which
// arrives from DNS answers and API responses: text either decodes to the
// bytes it spells, in any case, or fails and leaves no data.
func FuzzParseRecord(f *testing.F) {
	for _, seed := range []string{"", "00ff", "ABcd", "abc", "zz", "ab cd", "0x12"} {
		f.Add(uint8(3), uint8(1), uint8(1), seed)
	}
	f.Fuzz(func(t *testing.T, usage, selector, mtype uint8, text string) {
		r, err := dane.ParseRecord(usage, selector, mtype, text)
		if r.Usage != usage || r.Selector != selector || r.MatchingType != mtype {
			t.Fatalf("fields %d %d %d, want %d %d %d", r.Usage, r.Selector, r.MatchingType, usage, selector, mtype)
		}
		if err != nil {
			if r.Data != nil {
				t.Fatalf("ParseRecord(%q) failed (%v) but kept data %x", text, err, r.Data)
			}
			return
		}
		if got := hex.EncodeToString(r.Data); !strings.EqualFold(got, text) {
			t.Fatalf("ParseRecord(%q) decoded to %s", text, got)
		}
	})
}
