package dane_test

import (
	"crypto/x509"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/internal/testcert"
)

// verifyCase is one Verify call and what it must return.
type verifyCase struct {
	name    string
	chain   []*x509.Certificate
	rrset   []dane.Record // assessed by the test
	refs    []string      // nil means {"mx.example.com"}
	now     time.Time     // zero means now
	reason  dane.Reason
	matched int      // expected Result.Matched
	detail  []string // substrings of Result.Detail
}

func runVerify(t *testing.T, tests []verifyCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			refs := tt.refs
			if refs == nil {
				refs = []string{"mx.example.com"}
			}
			at := tt.now
			if at.IsZero() {
				at = now
			}
			got := dane.Verify(tt.chain, dane.Assess(tt.rrset), dane.Options{ReferenceNames: refs, Now: at})
			if got.Reason != tt.reason || got.Matched != tt.matched {
				t.Errorf("Verify = %v, matched %d, want %v, matched %d; detail: %s", got.Reason, got.Matched, tt.reason, tt.matched, got.Detail)
			}
			if got.Authenticated() != (tt.reason == dane.ReasonOK) {
				t.Errorf("Authenticated() = %v with reason %v", got.Authenticated(), got.Reason)
			}
			if got.Detail == "" || strings.Contains(got.Detail, "\n") {
				t.Errorf("Detail %q must be one non-empty line", got.Detail)
			}
			for _, want := range tt.detail {
				if !strings.Contains(got.Detail, want) {
					t.Errorf("Detail %q does not contain %q", got.Detail, want)
				}
			}
		})
	}
}

// short renders a record as the details do.
func short(r dane.Record) string {
	return strings.Join([]string{
		string('0' + rune(r.Usage)), string('0' + rune(r.Selector)), string('0' + rune(r.MatchingType)),
		hex.EncodeToString(r.Data[:8]) + "…",
	}, " ")
}

func TestVerifyDANEEE(t *testing.T) {
	p := newPKI(t)
	leaf := p.leaf.Cert
	other := mint(t, testcert.Spec{CommonName: "other.example.com", DNSNames: []string{"other.example.com"}, Parent: p.inter}).Cert
	expired := mint(t, testcert.Spec{CommonName: "mx.example.com", DNSNames: []string{"mx.example.com"}, NotBefore: longAgo, NotAfter: lastMonth, Parent: p.inter})
	future := mint(t, testcert.Spec{CommonName: "mx.example.com", DNSNames: []string{"mx.example.com"}, NotBefore: nextMonth, Parent: p.inter})
	selfSigned := mint(t, testcert.Spec{CommonName: "nobody", DNSNames: []string{"unrelated.example.org"}, NotBefore: longAgo, NotAfter: lastMonth})
	rsaLeaf := mint(t, testcert.Spec{CommonName: "rsa.example.com", Key: testcert.RSAKey(t), Parent: p.inter}).Cert
	edLeaf := mint(t, testcert.Spec{CommonName: "ed.example.com", Key: testcert.Ed25519Key(t), Parent: p.inter}).Cert
	full := []*x509.Certificate{leaf, p.inter.Cert, p.root.Cert}

	var tests []verifyCase
	for _, sm := range [][2]uint8{{1, 1}, {0, 1}, {1, 2}, {0, 2}, {0, 0}, {1, 0}} {
		r := rec(3, sm[0], sm[1], leaf)
		name := string('0'+rune(sm[0])) + " " + string('0'+rune(sm[1]))
		tests = append(tests,
			verifyCase{name: "3 " + name + " matches the leaf", chain: full, rrset: []dane.Record{r}, reason: dane.ReasonOK, matched: 0,
				detail: []string{"DANE-EE record 3 " + name, `"CN=mx.example.com,O=daned tests"`}},
			verifyCase{name: "3 " + name + " does not match another leaf", chain: []*x509.Certificate{other, p.inter.Cert}, rrset: []dane.Record{r},
				reason: dane.ReasonTLSANoMatch, matched: -1, detail: []string{"no usable TLSA record (3 " + name, "other.example.com"}},
		)
	}
	tests = append(tests, []verifyCase{
		{name: "3 1 1 on an issuer does not count", chain: full, rrset: []dane.Record{rec(3, 1, 1, p.inter.Cert), rec(3, 0, 1, p.root.Cert)},
			reason: dane.ReasonTLSANoMatch, matched: -1},
		{name: "expired leaf passes", chain: chainOf(expired, p.inter), rrset: []dane.Record{rec(3, 1, 1, expired.Cert)}, reason: dane.ReasonOK, matched: 0,
			detail: []string{"validity dates are not checked", "RFC 7672 §3.1.1"}},
		{name: "not yet valid leaf passes", chain: chainOf(future, p.inter), rrset: []dane.Record{rec(3, 0, 1, future.Cert)}, reason: dane.ReasonOK, matched: 0},
		{name: "expired self-signed leaf with unrelated names passes", chain: chainOf(selfSigned), rrset: []dane.Record{rec(3, 1, 1, selfSigned.Cert)},
			refs: []string{}, reason: dane.ReasonOK, matched: 0},
		{name: "names are not checked", chain: full, rrset: []dane.Record{rec(3, 1, 1, leaf)}, refs: []string{"elsewhere.example.net"}, reason: dane.ReasonOK, matched: 0},
		{name: "matched indexes the given rrset", chain: full,
			rrset:  []dane.Record{rec(1, 1, 1, leaf), rec(3, 1, 1, other), rec(3, 0, 1, leaf)},
			reason: dane.ReasonOK, matched: 2, detail: []string{short(rec(3, 0, 1, leaf))}},
		{name: "RSA leaf", chain: []*x509.Certificate{rsaLeaf}, rrset: []dane.Record{rec(3, 1, 1, rsaLeaf)}, reason: dane.ReasonOK, matched: 0},
		{name: "Ed25519 leaf", chain: []*x509.Certificate{edLeaf}, rrset: []dane.Record{rec(3, 1, 2, edLeaf)}, reason: dane.ReasonOK, matched: 0},
		{name: "a matching PKIX-EE record is unusable", chain: full, rrset: []dane.Record{rec(1, 1, 1, leaf), rec(3, 1, 1, other)},
			reason: dane.ReasonTLSANoMatch, matched: -1},
	}...)
	runVerify(t, tests)
}

func TestVerifyDANETA(t *testing.T) {
	p := newPKI(t)
	leaf := p.leaf
	full := chainOf(leaf, p.inter, p.root)
	noRoot := chainOf(leaf, p.inter)

	// A second hierarchy with the same names but other keys: its
	// intermediate's signature on our leaf does not verify.
	impostorRoot := mint(t, testcert.Spec{CommonName: "Test Root", CA: true})
	impostorInter := mint(t, testcert.Spec{CommonName: "Test Intermediate", CA: true, Parent: impostorRoot})

	edRoot := mint(t, testcert.Spec{CommonName: "Ed Root", CA: true, Key: testcert.Ed25519Key(t)})
	rsaInter := mint(t, testcert.Spec{CommonName: "RSA Intermediate", CA: true, Key: testcert.RSAKey(t), Parent: edRoot})
	edLeaf := mint(t, testcert.Spec{CommonName: "mx.example.com", DNSNames: []string{"mx.example.com"}, Parent: rsaInter})

	expiredLeaf := mint(t, testcert.Spec{CommonName: "mx.example.com", DNSNames: []string{"mx.example.com"}, NotBefore: longAgo, NotAfter: lastMonth, Parent: p.inter})
	futureLeaf := mint(t, testcert.Spec{CommonName: "mx.example.com", DNSNames: []string{"mx.example.com"}, NotBefore: nextMonth, Parent: p.inter})
	expiredInter := mint(t, testcert.Spec{CommonName: "Old Intermediate", CA: true, NotBefore: longAgo, NotAfter: lastMonth, Parent: p.root})
	leafOfExpired := mint(t, testcert.Spec{CommonName: "mx.example.com", DNSNames: []string{"mx.example.com"}, Parent: expiredInter})
	futureInter := mint(t, testcert.Spec{CommonName: "New Intermediate", CA: true, NotBefore: nextMonth, Parent: p.root})
	leafOfFuture := mint(t, testcert.Spec{CommonName: "mx.example.com", DNSNames: []string{"mx.example.com"}, Parent: futureInter})
	notCA := mint(t, testcert.Spec{CommonName: "Not A CA", Parent: p.root})
	leafOfNotCA := mint(t, testcert.Spec{CommonName: "mx.example.com", DNSNames: []string{"mx.example.com"}, Parent: notCA})
	constrained := mint(t, testcert.Spec{CommonName: "Constrained", CA: true, PermittedDNSDomains: []string{"example.org"}, Parent: p.root})
	leafOfConstrained := mint(t, testcert.Spec{CommonName: "mx.example.com", DNSNames: []string{"mx.example.com"}, Parent: constrained})

	selfSigned := mint(t, testcert.Spec{CommonName: "mx.example.com", DNSNames: []string{"mx.example.com"}, CA: true})
	wild := mint(t, testcert.Spec{CommonName: "wild", DNSNames: []string{"*.example.com"}, Parent: p.inter})
	partial := mint(t, testcert.Spec{CommonName: "partial", DNSNames: []string{"m*.example.com"}, Parent: p.inter})
	cnOnly := mint(t, testcert.Spec{CommonName: "mx.example.com", Parent: p.inter})
	cnAndSAN := mint(t, testcert.Spec{CommonName: "mx.example.com", DNSNames: []string{"other.example.com"}, Parent: p.inter})
	manySANs := mint(t, testcert.Spec{CommonName: "many", DNSNames: []string{"a.example", "b.example", "c.example", "d.example", "e.example", "f.example", "g.example", "h.example"}, Parent: p.inter})
	unrelated := mint(t, testcert.Spec{CommonName: "Unrelated CA", CA: true})
	// Two intermediates with one name and one key, under two roots: one
	// expired, one not yet valid, both able to issue dupLeaf.
	dupKey := testcert.ECDSAKey(t)
	rootA := mint(t, testcert.Spec{CommonName: "Root A", CA: true})
	rootB := mint(t, testcert.Spec{CommonName: "Root B", CA: true})
	dupOld := mint(t, testcert.Spec{CommonName: "Dup CA", CA: true, Key: dupKey, NotBefore: longAgo, NotAfter: lastMonth, Parent: rootA})
	dupNew := mint(t, testcert.Spec{CommonName: "Dup CA", CA: true, Key: dupKey, NotBefore: nextMonth, Parent: rootB})
	dupLeaf := mint(t, testcert.Spec{CommonName: "mx.example.com", DNSNames: []string{"mx.example.com"}, Parent: dupOld})
	rootTA := rec(2, 1, 1, p.root.Cert)
	interTA := rec(2, 0, 1, p.inter.Cert)

	runVerify(t, []verifyCase{
		// Where the anchor may be.
		{name: "2 1 1 on the root", chain: full, rrset: []dane.Record{rootTA}, reason: dane.ReasonOK, matched: 0,
			detail: []string{"DANE-TA record " + short(rootTA), `"CN=Test Root,O=daned tests"`}},
		{name: "2 0 1 on the intermediate", chain: noRoot, rrset: []dane.Record{interTA}, reason: dane.ReasonOK, matched: 0},
		{name: "2 1 2 on the intermediate", chain: noRoot, rrset: []dane.Record{rec(2, 1, 2, p.inter.Cert)}, reason: dane.ReasonOK, matched: 0},
		{name: "2 1 1 on the root absent from the chain", chain: noRoot, rrset: []dane.Record{rootTA}, reason: dane.ReasonTLSANoMatch, matched: -1,
			detail: []string{"no usable TLSA record (" + short(rootTA)}},
		{name: "2 0 1 with only the leaf sent", chain: chainOf(leaf), rrset: []dane.Record{interTA}, reason: dane.ReasonTLSANoMatch, matched: -1,
			detail: []string{"the server sent no issuer certificate"}},
		{name: "chain sent out of order", chain: chainOf(leaf, p.root, p.inter), rrset: []dane.Record{rootTA}, reason: dane.ReasonOK, matched: 0},
		{name: "chain with an extra unrelated certificate", chain: chainOf(leaf, unrelated, p.inter, p.root), rrset: []dane.Record{rootTA}, reason: dane.ReasonOK, matched: 0},
		{name: "2 0 0 root absent from the chain", chain: noRoot, rrset: []dane.Record{rec(2, 0, 0, p.root.Cert)}, reason: dane.ReasonOK, matched: 0,
			detail: []string{"carried by the record"}},
		{name: "2 1 0 root key absent from the chain", chain: noRoot, rrset: []dane.Record{rec(2, 1, 0, p.root.Cert)}, reason: dane.ReasonOK, matched: 0,
			detail: []string{"the public key carried by the record"}},
		{name: "2 0 0 intermediate absent, leaf alone", chain: chainOf(leaf), rrset: []dane.Record{rec(2, 0, 0, p.inter.Cert)}, reason: dane.ReasonOK, matched: 0},
		{name: "2 1 0 intermediate key absent, leaf alone", chain: chainOf(leaf), rrset: []dane.Record{rec(2, 1, 0, p.inter.Cert)}, reason: dane.ReasonOK, matched: 0},
		{name: "2 1 0 Ed25519 root key over an RSA intermediate", chain: chainOf(edLeaf, rsaInter), rrset: []dane.Record{rec(2, 1, 0, edRoot.Cert)}, reason: dane.ReasonOK, matched: 0},
		{name: "2 1 0 RSA intermediate key, leaf alone", chain: chainOf(edLeaf), rrset: []dane.Record{rec(2, 1, 0, rsaInter.Cert)}, reason: dane.ReasonOK, matched: 0},
		{name: "2 0 1 on an RSA intermediate", chain: chainOf(edLeaf, rsaInter), rrset: []dane.Record{rec(2, 0, 1, rsaInter.Cert)}, reason: dane.ReasonOK, matched: 0},
		{name: "2 1 0 of a key that signed nothing here", chain: noRoot, rrset: []dane.Record{rec(2, 1, 0, unrelated.Cert)}, reason: dane.ReasonChainInvalid, matched: -1,
			detail: []string{"no chain of valid signatures"}},
		{name: "2 0 0 of a CA that signed nothing here", chain: noRoot, rrset: []dane.Record{rec(2, 0, 0, unrelated.Cert)}, reason: dane.ReasonChainInvalid, matched: -1},

		// A DANE-TA record matching the server certificate itself.
		{name: "2 0 1 on a self-signed leaf", chain: chainOf(selfSigned), rrset: []dane.Record{rec(2, 0, 1, selfSigned.Cert)}, reason: dane.ReasonTLSANoMatch, matched: -1,
			detail: []string{"matches the server certificate", "must match an issuer in the chain (RFC 7671 §5.2)", "DANE-EE(3) record (3 0 1)"}},
		{name: "2 0 0 carrying the leaf itself", chain: chainOf(selfSigned), rrset: []dane.Record{rec(2, 0, 0, selfSigned.Cert)}, reason: dane.ReasonTLSANoMatch, matched: -1,
			detail: []string{"must match an issuer"}},
		{name: "2 1 1 on a CA-issued leaf", chain: noRoot, rrset: []dane.Record{rec(2, 1, 1, leaf.Cert)}, reason: dane.ReasonTLSANoMatch, matched: -1,
			detail: []string{"DANE-EE(3) record (3 1 1)"}},
		{name: "leaf sent twice does not become its own anchor", chain: chainOf(selfSigned, selfSigned), rrset: []dane.Record{rec(2, 0, 1, selfSigned.Cert)}, reason: dane.ReasonTLSANoMatch, matched: -1},

		// Signatures and constraints below the anchor.
		{name: "wrong issuer signature", chain: chainOf(leaf, impostorInter), rrset: []dane.Record{rec(2, 0, 1, impostorInter.Cert)}, reason: dane.ReasonChainInvalid, matched: -1,
			detail: []string{"no chain of valid signatures", `"CN=mx.example.com,O=daned tests"`}},
		{name: "wrong signature on the intermediate", chain: chainOf(leaf, p.inter, impostorRoot), rrset: []dane.Record{rec(2, 1, 1, impostorRoot.Cert)}, reason: dane.ReasonChainInvalid, matched: -1},
		{name: "issuer that is not a CA", chain: chainOf(leafOfNotCA, notCA, p.root), rrset: []dane.Record{rootTA}, reason: dane.ReasonChainInvalid, matched: -1},
		{name: "name constraints of the path", chain: chainOf(leafOfConstrained, constrained, p.root), rrset: []dane.Record{rootTA}, reason: dane.ReasonChainInvalid, matched: -1,
			detail: []string{"fails validation"}},

		// Validity dates below the anchor, not of the anchor.
		{name: "expired leaf", chain: chainOf(expiredLeaf, p.inter), rrset: []dane.Record{interTA}, reason: dane.ReasonCertExpired, matched: -1,
			detail: []string{"the server certificate", `"CN=mx.example.com,O=daned tests"`, "expired at 2026-05-01T00:00:00Z", short(interTA)}},
		{name: "expired intermediate", chain: chainOf(leafOfExpired, expiredInter, p.root), rrset: []dane.Record{rootTA}, reason: dane.ReasonCertExpired, matched: -1,
			detail: []string{"the intermediate certificate", "Old Intermediate", "expired at 2026-05-01T00:00:00Z"}},
		{name: "expired intermediate under a 2 1 0 key", chain: chainOf(leafOfExpired, expiredInter), rrset: []dane.Record{rec(2, 1, 0, p.root.Cert)}, reason: dane.ReasonCertExpired, matched: -1},
		{name: "not yet valid leaf", chain: chainOf(futureLeaf, p.inter), rrset: []dane.Record{interTA}, reason: dane.ReasonCertNotYetValid, matched: -1,
			detail: []string{"is not valid before 2026-07-01T00:00:00Z"}},
		{name: "not yet valid intermediate", chain: chainOf(leafOfFuture, futureInter, p.root), rrset: []dane.Record{rootTA}, reason: dane.ReasonCertNotYetValid, matched: -1,
			detail: []string{"New Intermediate"}},
		{name: "expired anchor in the chain still anchors", chain: chainOf(leafOfExpired, expiredInter), rrset: []dane.Record{rec(2, 0, 1, expiredInter.Cert)}, reason: dane.ReasonOK, matched: 0},
		{name: "not yet valid anchor from the record still anchors", chain: chainOf(leafOfFuture), rrset: []dane.Record{rec(2, 0, 0, futureInter.Cert)}, reason: dane.ReasonOK, matched: 0},
		{name: "the zero time is not the clock", chain: noRoot, rrset: []dane.Record{interTA}, now: time.Time{}.Add(time.Nanosecond), reason: dane.ReasonCertNotYetValid, matched: -1},

		// Names (RFC 7672 §3.2.2, §3.2.3).
		{name: "name mismatch", chain: noRoot, rrset: []dane.Record{interTA}, refs: []string{"mail.example.net", "example.net"}, reason: dane.ReasonCertNameMismatch, matched: -1,
			detail: []string{`"mx.example.com"`, `"mail.example.net", "example.net"`, short(interTA)}},
		{name: "no reference identifiers", chain: noRoot, rrset: []dane.Record{interTA}, refs: []string{}, reason: dane.ReasonCertNameMismatch, matched: -1,
			detail: []string{"no reference identifier was given"}},
		{name: "second reference identifier matches", chain: noRoot, rrset: []dane.Record{interTA}, refs: []string{"mx.example.net", "mx.example.com"}, reason: dane.ReasonOK, matched: 0},
		{name: "case and trailing dot", chain: noRoot, rrset: []dane.Record{interTA}, refs: []string{"MX.Example.COM."}, reason: dane.ReasonOK, matched: 0},
		{name: "wildcard covers one label", chain: chainOf(wild, p.inter), rrset: []dane.Record{interTA}, refs: []string{"mx.example.com"}, reason: dane.ReasonOK, matched: 0},
		{name: "wildcard does not cover the parent", chain: chainOf(wild, p.inter), rrset: []dane.Record{interTA}, refs: []string{"example.com"}, reason: dane.ReasonCertNameMismatch, matched: -1},
		{name: "wildcard does not cover two labels", chain: chainOf(wild, p.inter), rrset: []dane.Record{interTA}, refs: []string{"a.b.example.com"}, reason: dane.ReasonCertNameMismatch, matched: -1},
		{name: "partial-label wildcard matches nothing", chain: chainOf(partial, p.inter), rrset: []dane.Record{interTA}, refs: []string{"mx.example.com"}, reason: dane.ReasonCertNameMismatch, matched: -1},
		{name: "CN used without DNS SANs", chain: chainOf(cnOnly, p.inter), rrset: []dane.Record{interTA}, reason: dane.ReasonOK, matched: 0},
		{name: "CN ignored beside DNS SANs", chain: chainOf(cnAndSAN, p.inter), rrset: []dane.Record{interTA}, reason: dane.ReasonCertNameMismatch, matched: -1,
			detail: []string{`the DNS names "other.example.com"`}},
		{name: "long SAN lists are cut short", chain: chainOf(manySANs, p.inter), rrset: []dane.Record{interTA}, reason: dane.ReasonCertNameMismatch, matched: -1,
			detail: []string{`"f.example" and 2 more`}},

		// Several records.
		{name: "DANE-EE match wins over a failing DANE-TA record", chain: chainOf(expiredLeaf, p.inter),
			rrset: []dane.Record{interTA, rec(3, 1, 1, expiredLeaf.Cert)}, reason: dane.ReasonOK, matched: 1},
		{name: "anchored failure beats no match", chain: chainOf(expiredLeaf, p.inter),
			rrset: []dane.Record{rec(3, 1, 1, leaf.Cert), interTA}, reason: dane.ReasonCertExpired, matched: -1},
		{name: "name mismatch beats chain invalid", chain: noRoot,
			rrset: []dane.Record{rec(2, 1, 0, unrelated.Cert), interTA}, refs: []string{"elsewhere.example"}, reason: dane.ReasonCertNameMismatch, matched: -1},
		{name: "name mismatch beats chain invalid in any order", chain: noRoot,
			rrset: []dane.Record{interTA, rec(2, 1, 0, unrelated.Cert)}, refs: []string{"elsewhere.example"}, reason: dane.ReasonCertNameMismatch, matched: -1},
		{name: "a failing record does not stop a later one", chain: noRoot,
			rrset: []dane.Record{rec(2, 1, 0, unrelated.Cert), interTA}, reason: dane.ReasonOK, matched: 1},
		{name: "expired beats not yet valid", chain: chainOf(dupLeaf, dupOld, dupNew, rootA, rootB),
			rrset: []dane.Record{rec(2, 0, 1, rootB.Cert), rec(2, 0, 1, rootA.Cert)}, reason: dane.ReasonCertExpired, matched: -1,
			detail: []string{"Dup CA"}},
		{name: "not yet valid beats name mismatch", chain: chainOf(dupLeaf, dupOld, dupNew, rootA, rootB),
			rrset: []dane.Record{rec(2, 0, 1, p.inter.Cert), rec(2, 0, 1, rootB.Cert)}, reason: dane.ReasonCertNotYetValid, matched: -1},
	})
}

func TestVerifyDigestAgility(t *testing.T) {
	p := newPKI(t)
	leaf := p.leaf.Cert
	other := mint(t, testcert.Spec{CommonName: "other"}).Cert
	otherCA := mint(t, testcert.Spec{CommonName: "Other CA", CA: true}).Cert
	chain := []*x509.Certificate{leaf, p.inter.Cert}
	runVerify(t, []verifyCase{
		{name: "both digests match: the SHA2-512 record authenticates", chain: chain,
			rrset: []dane.Record{rec(3, 1, 1, leaf), rec(3, 1, 2, leaf)}, reason: dane.ReasonOK, matched: 1},
		{name: "only the ignored SHA2-256 record matches", chain: chain,
			rrset: []dane.Record{rec(3, 1, 1, leaf), rec(3, 1, 2, other)}, reason: dane.ReasonTLSANoMatch, matched: -1,
			detail: []string{"the server certificate matches only the SHA2-256 record " + short(rec(3, 1, 1, leaf)),
				"which RFC 7671 §9 ignores because a SHA2-512 record is published for 3 1; no SHA2-512 record matches"}},
		{name: "a SHA2-256 record of another selector still counts", chain: chain,
			rrset: []dane.Record{rec(3, 0, 1, leaf), rec(3, 1, 2, other)}, reason: dane.ReasonOK, matched: 0},
		{name: "DANE-TA: only the ignored SHA2-256 record matches", chain: chain,
			rrset: []dane.Record{rec(2, 0, 1, p.inter.Cert), rec(2, 0, 2, otherCA)}, reason: dane.ReasonTLSANoMatch, matched: -1,
			detail: []string{"the server's chain matches only the SHA2-256 record 2 0 1", "published for 2 0"}},
		{name: "a malformed SHA2-512 record displaces nothing", chain: chain,
			rrset: []dane.Record{rec(3, 1, 1, leaf), {Usage: 3, Selector: 1, MatchingType: 2, Data: make([]byte, 63)}}, reason: dane.ReasonOK, matched: 0},
	})
}

func TestVerifyEdges(t *testing.T) {
	p := newPKI(t)
	leaf := p.leaf.Cert
	runVerify(t, []verifyCase{
		{name: "empty chain", chain: nil, rrset: []dane.Record{rec(3, 1, 1, leaf)}, reason: dane.ReasonTLSANoMatch, matched: -1,
			detail: []string{"the server presented no certificate"}},
		{name: "no usable record", chain: []*x509.Certificate{leaf}, rrset: []dane.Record{rec(1, 1, 1, leaf), rec(0, 0, 1, p.root.Cert)}, reason: dane.ReasonTLSANoMatch, matched: -1,
			detail: []string{"no usable record"}},
		{name: "no record at all", chain: []*x509.Certificate{leaf}, rrset: nil, reason: dane.ReasonTLSANoMatch, matched: -1},
		{name: "nil certificate in the chain", chain: []*x509.Certificate{leaf, nil}, rrset: []dane.Record{rec(3, 1, 1, leaf)}, reason: dane.ReasonChainInvalid, matched: -1,
			detail: []string{"certificate 2 of the 2"}},
	})
}

func TestVerifyDER(t *testing.T) {
	p := newPKI(t)
	rrset := dane.Assess([]dane.Record{rec(2, 0, 1, p.root.Cert)})
	opts := dane.Options{ReferenceNames: []string{"mx.example.com"}, Now: now}
	good := [][]byte{p.leaf.Cert.Raw, p.inter.Cert.Raw, p.root.Cert.Raw}
	tests := []struct {
		name   string
		chain  [][]byte
		reason dane.Reason
		detail string
	}{
		{"parses and verifies", good, dane.ReasonOK, "DANE-TA record 2 0 1"},
		{"unparsable server certificate", [][]byte{[]byte("garbage"), good[1], good[2]}, dane.ReasonChainInvalid, "the server certificate does not parse"},
		{"unparsable intermediate", [][]byte{good[0], good[1][:len(good[1])-1], good[2]}, dane.ReasonChainInvalid, "certificate 2 of the 3 in the server's chain"},
		{"empty certificate", [][]byte{good[0], {}}, dane.ReasonChainInvalid, "certificate 2 of the 2"},
		{"empty chain", nil, dane.ReasonTLSANoMatch, "no certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := dane.VerifyDER(tt.chain, rrset, opts)
			if got.Reason != tt.reason || !strings.Contains(got.Detail, tt.detail) {
				t.Errorf("VerifyDER = %v %q, want %v and a detail containing %q", got.Reason, got.Detail, tt.reason, tt.detail)
			}
		})
	}
}

// TestVerifyZeroTime checks that the zero Options.Now means year 1, not
// the wall clock: crypto/x509 would read a zero CurrentTime as time.Now.
func TestVerifyZeroTime(t *testing.T) {
	year2 := time.Date(2, 1, 1, 0, 0, 0, 0, time.UTC)
	root := testcert.New(t, testcert.Spec{CommonName: "Ancient Root", Organization: org, CA: true, NotAfter: year2})
	leaf := testcert.New(t, testcert.Spec{CommonName: "mx.example.com", Organization: org, DNSNames: []string{"mx.example.com"}, NotAfter: year2, Parent: root})
	rrset := dane.Assess([]dane.Record{rec(2, 0, 1, root.Cert)})
	chain := chainOf(leaf, root)
	if got := dane.Verify(chain, rrset, dane.Options{ReferenceNames: []string{"mx.example.com"}}); got.Reason != dane.ReasonOK {
		t.Errorf("zero Now: %v (%s), want OK", got.Reason, got.Detail)
	}
	if got := dane.Verify(chain, rrset, dane.Options{ReferenceNames: []string{"mx.example.com"}, Now: now}); got.Reason != dane.ReasonCertExpired {
		t.Errorf("Now in 2026: %v (%s), want CERT_EXPIRED", got.Reason, got.Detail)
	}
}

func TestVerifyDoesNotModifyInput(t *testing.T) {
	p := newPKI(t)
	chain := chainOf(p.leaf, p.inter)
	rrset := dane.Assess([]dane.Record{rec(2, 0, 1, p.inter.Cert)})
	before := chain[1].NotAfter
	dane.Verify(chain, rrset, dane.Options{ReferenceNames: []string{"mx.example.com"}, Now: now})
	if !chain[1].NotAfter.Equal(before) {
		t.Errorf("Verify changed the anchor's NotAfter from %v to %v", before, chain[1].NotAfter)
	}
}
