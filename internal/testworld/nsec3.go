package testworld

import (
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// NSEC3 denial of existence (RFC 5155), for zones whose scenario asks for
// it. Parameters follow RFC 9276: SHA-1, no extra iterations, no salt,
// no opt-out.

// nsec3Chain is a zone's NSEC3 records, by hashed owner name.
type nsec3Chain struct {
	owners []string              // hashed owner names (lower-case base32hex labels), sorted
	recs   map[string]*dns.NSEC3 // by hashed label
}

// nsec3Hash is the hashed label of name.
func nsec3Hash(name string) string {
	return strings.ToLower(dns.HashName(dns.CanonicalName(name), dns.SHA1, 0, ""))
}

// buildNSEC3 makes the chain over every name of the zone, empty
// non-terminals included (RFC 5155 §7.1), and adds NSEC3PARAM at the apex.
// Call it where the NSEC chain would be built, before signing.
func (z *zone) buildNSEC3() {
	z.add(&dns.NSEC3PARAM{Hdr: dns.RR_Header{Name: z.origin, Rrtype: dns.TypeNSEC3PARAM, Class: dns.ClassINET, Ttl: 0}, Hash: dns.SHA1})
	names := map[string]bool{}
	for n := range z.rrs {
		names[n] = true
		// Every ancestor up to the apex exists, as an empty non-terminal
		// when it has no data.
		for a := n; a != z.origin && dns.IsSubDomain(z.origin, a); {
			names[a] = true
			i, end := dns.NextLabel(a, 0)
			if end {
				break
			}
			a = a[i:]
		}
	}
	c := &nsec3Chain{recs: map[string]*dns.NSEC3{}}
	byHash := map[string]string{}
	for n := range names {
		h := nsec3Hash(n)
		byHash[h] = n
		c.owners = append(c.owners, h)
	}
	slices.Sort(c.owners)
	for i, h := range c.owners {
		n := byHash[h]
		var types []uint16
		for t := range z.rrs[n] {
			types = append(types, t)
		}
		switch {
		case len(types) == 0: // an empty non-terminal: no types
		case z.cuts[n] && z.rrs[n][dns.TypeDS] == nil:
			// An insecure delegation: NS only, no RRSIG (RFC 5155 §7.1).
		default:
			types = append(types, dns.TypeRRSIG)
		}
		slices.Sort(types)
		next := c.owners[(i+1)%len(c.owners)]
		c.recs[h] = &dns.NSEC3{
			Hdr:        dns.RR_Header{Name: h + "." + z.origin, Rrtype: dns.TypeNSEC3, Class: dns.ClassINET, Ttl: negTTL},
			Hash:       dns.SHA1,
			HashLength: 20,
			NextDomain: strings.ToUpper(next),
			TypeBitMap: types,
		}
	}
	z.nsec3 = c
}

// matching returns the NSEC3 record whose owner is the hash of name, or
// nil.
func (c *nsec3Chain) matching(name string) *dns.NSEC3 { return c.recs[nsec3Hash(name)] }

// covering returns the NSEC3 record whose interval covers the hash of
// name (RFC 5155 §3.1.7).
func (c *nsec3Chain) covering(name string) *dns.NSEC3 {
	h := nsec3Hash(name)
	i, found := slices.BinarySearch(c.owners, h)
	if found {
		return c.recs[h]
	}
	if i == 0 {
		return c.recs[c.owners[len(c.owners)-1]]
	}
	return c.recs[c.owners[i-1]]
}

// nextCloser is the ancestor of qname one label longer than its closest
// encloser ce (RFC 5155 §1.3).
func nextCloser(qname, ce string) string {
	labels := dns.SplitDomainName(qname)
	n := dns.CountLabel(ce) + 1
	return dns.Fqdn(strings.Join(labels[len(labels)-n:], "."))
}

// nsec3Denial returns the NSEC3 records (with their RRSIGs) that prove a
// denial for qname: the matching record for NODATA (or for a referral
// without DS), the closest encloser proof for NXDOMAIN (RFC 5155 §7.2).
func (z *zone) nsec3Denial(qname string, nxdomain bool, withSigs func([]dns.RR, string, uint16) []dns.RR) []dns.RR {
	c := z.nsec3
	var recs []*dns.NSEC3
	if !nxdomain {
		recs = append(recs, c.matching(qname))
	} else {
		ce := z.closestEncloser(qname)
		recs = append(recs, c.matching(ce), c.covering(nextCloser(qname, ce)), c.covering(wildcardAt(ce)))
	}
	var out []dns.RR
	seen := map[string]bool{}
	for _, r := range recs {
		if r == nil || seen[r.Hdr.Name] {
			continue
		}
		seen[r.Hdr.Name] = true
		out = append(out, withSigs([]dns.RR{r}, r.Hdr.Name, dns.TypeNSEC3)...)
	}
	return out
}

// signNSEC3 signs each NSEC3 record.
func (z *zone) signNSEC3(sign func(name string, t uint16, set []dns.RR) error) error {
	for _, h := range z.nsec3.owners {
		r := z.nsec3.recs[h]
		if err := sign(r.Hdr.Name, dns.TypeNSEC3, []dns.RR{r}); err != nil {
			return err
		}
	}
	return nil
}
