package testworld

import (
	"crypto"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// ZoneFault is a DNSSEC (or server) breakage applied to a whole zone.
type ZoneFault int

const (
	// NoFault: a correctly signed, answering zone (the zero value).
	NoFault ZoneFault = iota
	// ExpiredSigs: every RRSIG has inception now-30d and expiration
	// now-3d. (Unbound tolerates clock skew of 10% of the validity period,
	// up to one day, so an expiration of now-1d is not reliably bogus.)
	ExpiredSigs
	// FutureSigs: every RRSIG has inception now+3d and expiration now+30d
	// (not yet valid, beyond Unbound's skew tolerance).
	FutureSigs
	// BadDS: the parent publishes a DS that matches no DNSKEY of the zone.
	BadDS
	// NoDNSKEY: the zone is signed and has a DS, but publishes no DNSKEY
	// RRset.
	NoDNSKEY
	// Drop: the zone's server reads queries and never answers.
	Drop
)

func (f ZoneFault) String() string {
	switch f {
	case NoFault:
		return "none"
	case ExpiredSigs:
		return "expired-rrsigs"
	case FutureSigs:
		return "future-rrsigs"
	case BadDS:
		return "bad-ds"
	case NoDNSKEY:
		return "no-dnskey"
	case Drop:
		return "drop"
	}
	return fmt.Sprintf("ZoneFault(%d)", int(f))
}

// NameFaultKind is a breakage applied to one RRset (name and type).
type NameFaultKind int

const (
	// ServFail: queries for the name and type are answered SERVFAIL.
	ServFail NameFaultKind = iota + 1
	// NoSig: the RRset is served without its RRSIGs.
	NoSig
	// NoDenial: a denial (NXDOMAIN or NODATA) of the name and type is
	// served without its NSEC records, so it cannot be proven (RFC 4035
	// §5.4); so are the NXDOMAINs of its non-existent ancestors, which
	// would prove it too (RFC 8020), as a validator minimising its
	// queries (RFC 9156) would otherwise learn.
	NoDenial
)

const (
	defaultTTL = 300
	negTTL     = 60
)

type rrKey struct {
	name  string
	rtype uint16
}

// zone is one authoritative zone: its data, keys and faults. It is
// immutable once finish has run, so its handler needs no locking, but for
// the names blocked at run time (a sync.Map).
type zone struct {
	origin string // canonical, fully qualified
	addr   netip.Addr
	signed bool
	fault  ZoneFault

	key     *dns.DNSKEY
	priv    crypto.Signer
	badKey  *dns.DNSKEY // for BadDS: the key the parent's DS names
	rrs     map[string]map[uint16][]dns.RR
	glue    map[string][]dns.RR
	cuts    map[string]bool
	sigs    map[rrKey][]dns.RR
	names   []string // NSEC chain owners in canonical order
	nameSet map[string]bool
	// useNSEC3 denies with NSEC3 (RFC 5155) instead of NSEC; nsec3 is
	// its chain once finish has run.
	useNSEC3 bool
	nsec3    *nsec3Chain

	servfail map[rrKey]bool
	nosig    map[rrKey]bool
	nodenial map[rrKey]bool
	// blocked holds the rrKeys World.BlockName made SERVFAIL after the
	// world started: the one thing that changes while it is served.
	blocked sync.Map
	// asked counts the questions that reached the zone's server
	// (rrKey → *atomic.Int64), over UDP and TCP, answered or not.
	asked sync.Map
}

func newZone(origin string, signed bool, fault ZoneFault) (*zone, error) {
	z := &zone{
		origin:   dns.CanonicalName(origin),
		signed:   signed,
		fault:    fault,
		rrs:      map[string]map[uint16][]dns.RR{},
		glue:     map[string][]dns.RR{},
		cuts:     map[string]bool{},
		sigs:     map[rrKey][]dns.RR{},
		servfail: map[rrKey]bool{},
		nosig:    map[rrKey]bool{},
		nodenial: map[rrKey]bool{},
	}
	if signed {
		k, priv, err := newKey(z.origin)
		if err != nil {
			return nil, err
		}
		z.key, z.priv = k, priv
		if fault == BadDS {
			z.badKey, _, err = newKey(z.origin)
			if err != nil {
				return nil, err
			}
		}
	}
	return z, nil
}

// newKey makes a combined signing key (flags 257, SEP) for origin.
func newKey(origin string) (*dns.DNSKEY, crypto.Signer, error) {
	k := &dns.DNSKEY{
		Hdr:       dns.RR_Header{Name: origin, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: defaultTTL},
		Flags:     257,
		Protocol:  3,
		Algorithm: dns.ECDSAP256SHA256,
	}
	// miekg/dns refuses to sign with a key whose tag is 0 (it takes 0 for
	// "unset"), though 0 is a valid tag: about one key in 65,536, so
	// about one world in a thousand. Draw again.
	for {
		priv, err := k.Generate(256)
		if err != nil {
			return nil, nil, fmt.Errorf("testworld: generate key for %s: %w", origin, err)
		}
		if k.KeyTag() != 0 {
			return k, priv.(crypto.Signer), nil
		}
	}
}

// ds is the DS RRset the parent publishes for this zone.
func (z *zone) ds() []dns.RR {
	if !z.signed {
		return nil
	}
	k := z.key
	if z.badKey != nil {
		k = z.badKey
	}
	d := k.ToDS(dns.SHA256)
	d.Hdr.Ttl = defaultTTL
	return []dns.RR{d}
}

// add puts rr into the zone's authoritative data.
func (z *zone) add(rr dns.RR) {
	h := rr.Header()
	h.Name = dns.CanonicalName(h.Name)
	if h.Ttl == 0 {
		h.Ttl = defaultTTL
	}
	if z.rrs[h.Name] == nil {
		z.rrs[h.Name] = map[uint16][]dns.RR{}
	}
	z.rrs[h.Name][h.Rrtype] = append(z.rrs[h.Name][h.Rrtype], rr)
}

func (z *zone) addString(s string) error {
	rr, err := dns.NewRR(s)
	if err != nil {
		return fmt.Errorf("testworld: zone %s: record %q: %w", z.origin, s, err)
	}
	if !dns.IsSubDomain(z.origin, dns.CanonicalName(rr.Header().Name)) {
		return fmt.Errorf("testworld: zone %s: record %q is out of zone", z.origin, s)
	}
	rr.Header().Ttl = defaultTTL // every record of the world has the same TTL
	z.add(rr)
	return nil
}

// nsName is the name of the zone's (only) name server.
func nsName(origin string) string {
	if origin == "." {
		return "ns."
	}
	return "ns." + origin
}

// delegate adds a child zone cut: NS, glue and the DS RRset (if any).
func (z *zone) delegate(c *zone) {
	ns := nsName(c.origin)
	z.add(&dns.NS{Hdr: dns.RR_Header{Name: c.origin, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: defaultTTL}, Ns: ns})
	z.glue[ns] = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: ns, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: defaultTTL}, A: c.addr.AsSlice()}}
	for _, d := range c.ds() {
		z.add(d)
	}
	z.cuts[c.origin] = true
}

// finish adds SOA, apex NS, DNSKEY and the NSEC chain, then signs.
func (z *zone) finish(now time.Time) error {
	ns := nsName(z.origin)
	mbox := "hostmaster." + z.origin
	if z.origin == "." {
		mbox = "hostmaster."
	}
	z.add(&dns.SOA{Hdr: dns.RR_Header{Name: z.origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: defaultTTL},
		Ns: ns, Mbox: mbox, Serial: uint32(now.Unix()), Refresh: 3600, Retry: 600, Expire: 86400, Minttl: negTTL})
	z.add(&dns.NS{Hdr: dns.RR_Header{Name: z.origin, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: defaultTTL}, Ns: ns})
	z.add(&dns.A{Hdr: dns.RR_Header{Name: ns, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: defaultTTL}, A: z.addr.AsSlice()})
	if z.signed && z.fault != NoDNSKEY {
		k := *z.key
		z.add(&k)
	}

	z.nameSet = map[string]bool{}
	for n := range z.rrs {
		z.names = append(z.names, n)
		z.nameSet[n] = true
	}
	slices.SortFunc(z.names, canonicalCompare)
	if !z.signed {
		return nil
	}
	if z.useNSEC3 {
		z.buildNSEC3()
	}
	for i, n := range z.names {
		if z.useNSEC3 {
			break
		}
		next := z.names[(i+1)%len(z.names)]
		types := []uint16{dns.TypeNSEC, dns.TypeRRSIG}
		for t := range z.rrs[n] {
			types = append(types, t)
		}
		slices.Sort(types)
		z.add(&dns.NSEC{Hdr: dns.RR_Header{Name: n, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: negTTL}, NextDomain: next, TypeBitMap: types})
	}

	inc, exp := now.Add(-time.Hour), now.Add(7*24*time.Hour)
	switch z.fault {
	case ExpiredSigs:
		inc, exp = now.Add(-30*24*time.Hour), now.Add(-3*24*time.Hour)
	case FutureSigs:
		inc, exp = now.Add(3*24*time.Hour), now.Add(30*24*time.Hour)
	}
	sign := func(n string, t uint16, set []dns.RR) error {
		k := rrKey{n, t}
		if z.nosig[k] {
			return nil
		}
		sig := &dns.RRSIG{
			Hdr:        dns.RR_Header{Ttl: set[0].Header().Ttl},
			Algorithm:  z.key.Algorithm,
			Expiration: uint32(exp.Unix()),
			Inception:  uint32(inc.Unix()),
			KeyTag:     z.key.KeyTag(),
			SignerName: z.origin,
		}
		if err := sig.Sign(z.priv, set); err != nil {
			return fmt.Errorf("testworld: sign %s/%s: %w", n, dns.TypeToString[t], err)
		}
		z.sigs[k] = []dns.RR{sig}
		return nil
	}
	for _, n := range z.names {
		for t, set := range z.rrs[n] {
			if z.cuts[n] && t == dns.TypeNS {
				continue // delegation NS sets are not authoritative, never signed
			}
			if err := sign(n, t, set); err != nil {
				return err
			}
		}
	}
	if z.nsec3 != nil {
		return z.signNSEC3(sign)
	}
	return nil
}

// canonicalCompare orders names as RFC 4034 §6.1 does: label by label
// from the right, each label compared as lower-case bytes.
func canonicalCompare(a, b string) int {
	la, lb := dns.SplitDomainName(a), dns.SplitDomainName(b)
	i, j := len(la)-1, len(lb)-1
	for ; i >= 0 && j >= 0; i, j = i-1, j-1 {
		if c := strings.Compare(strings.ToLower(la[i]), strings.ToLower(lb[j])); c != 0 {
			return c
		}
	}
	return len(la) - len(lb)
}

// ServeDNS answers one query from the zone's data.
func (z *zone) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	if len(r.Question) == 1 {
		z.count(rrKey{dns.CanonicalName(r.Question[0].Name), r.Question[0].Qtype})
	}
	if z.fault == Drop {
		return // never answer: the resolver has to time out
	}
	m := z.answer(r)
	opt := r.IsEdns0()
	size := dns.MinMsgSize
	if opt != nil {
		m.SetEdns0(dns.DefaultMsgSize, opt.Do())
		size = max(int(opt.UDPSize()), dns.MinMsgSize)
	}
	if w.LocalAddr().Network() == "udp" {
		m.Truncate(size)
	}
	_ = w.WriteMsg(m)
}

// count adds one to the questions asked about k.
func (z *zone) count(k rrKey) {
	n, ok := z.asked.Load(k)
	if !ok {
		n, _ = z.asked.LoadOrStore(k, new(atomic.Int64))
	}
	n.(*atomic.Int64).Add(1)
}

// queries returns how often the zone's server was asked about k.
func (z *zone) queries(k rrKey) int64 {
	if n, ok := z.asked.Load(k); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

func (z *zone) answer(r *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = false
	if r.Opcode != dns.OpcodeQuery {
		m.Rcode = dns.RcodeNotImplemented
		return m
	}
	if len(r.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		return m
	}
	q := r.Question[0]
	qname, qtype := dns.CanonicalName(q.Name), q.Qtype
	do := r.IsEdns0() != nil && r.IsEdns0().Do()
	withSigs := func(set []dns.RR, name string, t uint16) []dns.RR {
		out := append([]dns.RR(nil), set...)
		if do && z.signed {
			out = append(out, z.sigs[rrKey{name, t}]...)
		}
		return out
	}

	if _, blocked := z.blocked.Load(rrKey{qname, qtype}); blocked || z.servfail[rrKey{qname, qtype}] {
		m.Rcode = dns.RcodeServerFailure
		return m
	}
	if !dns.IsSubDomain(z.origin, qname) || q.Qclass != dns.ClassINET {
		m.Rcode = dns.RcodeRefused
		return m
	}

	// At or below a zone cut: refer, except for DS at the cut itself,
	// which the parent answers from its own data (RFC 4035 §3.1.4.1).
	if cut := z.cutFor(qname); cut != "" && (qname != cut || qtype != dns.TypeDS) {
		m.Ns = append(m.Ns, z.rrs[cut][dns.TypeNS]...)
		if ds := z.rrs[cut][dns.TypeDS]; ds != nil {
			m.Ns = append(m.Ns, withSigs(ds, cut, dns.TypeDS)...)
		} else if do && z.signed && z.nsec3 != nil {
			m.Ns = append(m.Ns, z.nsec3Denial(cut, false, withSigs)...)
		} else if do && z.signed {
			m.Ns = append(m.Ns, withSigs(z.rrs[cut][dns.TypeNSEC], cut, dns.TypeNSEC)...)
		}
		for _, ns := range z.rrs[cut][dns.TypeNS] {
			m.Extra = append(m.Extra, z.glue[ns.(*dns.NS).Ns]...)
		}
		return m
	}

	m.Authoritative = true
	soa := func() {
		m.Ns = append(m.Ns, withSigs(z.rrs[z.origin][dns.TypeSOA], z.origin, dns.TypeSOA)...)
	}
	stripped := func() bool {
		if !do || !z.signed || z.nodenial[rrKey{qname, qtype}] {
			return true
		}
		_, exists := z.rrs[qname]
		return !exists && z.aboveNoDenial(qname)
	}
	// deny3 adds the NSEC3 proof of a denial, in an NSEC3 zone.
	deny3 := func(nxdomain bool) bool {
		if z.nsec3 == nil {
			return false
		}
		if !stripped() {
			m.Ns = append(m.Ns, z.nsec3Denial(qname, nxdomain, withSigs)...)
		}
		return true
	}
	addNSEC := func(owner string) {
		if stripped() {
			return
		}
		for _, rr := range m.Ns {
			if rr.Header().Rrtype == dns.TypeNSEC && rr.Header().Name == owner {
				return
			}
		}
		m.Ns = append(m.Ns, withSigs(z.rrs[owner][dns.TypeNSEC], owner, dns.TypeNSEC)...)
	}

	if sets, ok := z.rrs[qname]; ok {
		if cn := sets[dns.TypeCNAME]; cn != nil && qtype != dns.TypeCNAME {
			m.Answer = withSigs(cn, qname, dns.TypeCNAME)
			return m
		}
		if set := sets[qtype]; set != nil {
			m.Answer = withSigs(set, qname, qtype)
			return m
		}
		soa() // NODATA (RFC 4035 §3.1.3.1)
		if !deny3(false) {
			addNSEC(qname)
		}
		return m
	}
	if z.isEmptyNonTerminal(qname) {
		soa() // NODATA at an empty non-terminal: the covering NSEC proves it
		if !deny3(false) {
			addNSEC(z.covering(qname))
		}
		return m
	}
	// NXDOMAIN (RFC 4035 §3.1.3.2): an NSEC covering the name and one
	// covering the wildcard at the closest encloser.
	m.Rcode = dns.RcodeNameError
	soa()
	if !deny3(true) {
		addNSEC(z.covering(qname))
		addNSEC(z.covering(wildcardAt(z.closestEncloser(qname))))
	}
	return m
}

// aboveNoDenial reports whether qname is a strict ancestor of a name
// with a NoDenial fault.
func (z *zone) aboveNoDenial(qname string) bool {
	for k := range z.nodenial {
		if k.name != qname && dns.IsSubDomain(qname, k.name) {
			return true
		}
	}
	return false
}

// cutFor returns the highest child zone cut at or above qname, or "".
func (z *zone) cutFor(qname string) string {
	labels := dns.SplitDomainName(qname)
	for i := len(labels) - 1; i >= 0; i-- {
		n := dns.Fqdn(strings.Join(labels[i:], "."))
		if n != z.origin && z.cuts[n] {
			return n
		}
	}
	return ""
}

// isEmptyNonTerminal reports whether a name exists below qname.
func (z *zone) isEmptyNonTerminal(qname string) bool {
	i, _ := slices.BinarySearchFunc(z.names, qname, canonicalCompare)
	return i < len(z.names) && z.names[i] != qname && dns.IsSubDomain(qname, z.names[i])
}

// covering returns the NSEC owner whose interval covers qname.
func (z *zone) covering(qname string) string {
	i, found := slices.BinarySearchFunc(z.names, qname, canonicalCompare)
	if found {
		return z.names[i]
	}
	if i == 0 {
		return z.names[len(z.names)-1]
	}
	return z.names[i-1]
}

// closestEncloser is the longest existing ancestor of a non-existent
// qname (RFC 4592 §3.3.1).
func (z *zone) closestEncloser(qname string) string {
	labels := dns.SplitDomainName(qname)
	for i := 1; i < len(labels); i++ {
		n := dns.Fqdn(strings.Join(labels[i:], "."))
		if z.nameSet[n] || z.isEmptyNonTerminal(n) {
			return n
		}
	}
	return z.origin
}

func wildcardAt(name string) string {
	if name == "." {
		return "*."
	}
	return "*." + name
}
