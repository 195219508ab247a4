package probe

import (
	"net/netip"
)

// TargetPolicy decides which addresses daned may connect to, so that
// addresses published in someone else's DNS cannot aim daned at its own
// host or internal networks (server-side request forgery).
//
// Forbidden by default (the reason names the range):
//
//   - IPv4: "this network" 0.0.0.0/8 (including unspecified 0.0.0.0),
//     private 10.0.0.0/8, 172.16.0.0/12 and 192.168.0.0/16 (RFC 1918),
//     CGNAT 100.64.0.0/10 (RFC 6598), loopback 127.0.0.0/8, link-local
//     169.254.0.0/16, IETF protocol assignments 192.0.0.0/24, the
//     documentation ranges 192.0.2.0/24, 198.51.100.0/24 and
//     203.0.113.0/24 (RFC 5737), the deprecated 6to4 relay anycast
//     192.88.99.0/24 (RFC 7526), benchmarking 198.18.0.0/15 (RFC 2544),
//     multicast 224.0.0.0/4, broadcast 255.255.255.255 and reserved
//     240.0.0.0/4.
//   - IPv6: unspecified ::, loopback ::1, deprecated IPv4-compatible ::/96
//     (RFC 4291 §2.5.5.1; forbidden outright, whatever it embeds), discard
//     100::/64, Teredo 2001::/32, benchmarking 2001:2::/48, ORCHID
//     2001:10::/28, documentation 2001:db8::/32 and 3fff::/20, unique local
//     fc00::/7, link-local fe80::/10, deprecated site-local fec0::/10,
//     multicast ff00::/8, and anything else outside global unicast
//     2000::/3.
//   - IPv4 embedded in IPv6 is judged as that IPv4 address: IPv4-mapped
//     ::ffff:0:0/96 (unmapped first), 6to4 2002::/16 (bits 16–47), NAT64
//     64:ff9b::/96 (last 32 bits, RFC 6052) and local-use NAT64
//     64:ff9b:1::/96 (last 32 bits). The rest of the local-use NAT64
//     prefix 64:ff9b:1::/48 (RFC 8215) is forbidden outright: its
//     operator chooses the RFC 6052 layout, and guessing it could read a
//     private address as a public one.
//
// An address zone (fe80::1%eth0) is ignored when matching. Allow prefixes
// override the forbidden list: an address, or the IPv4 address it embeds,
// inside an Allow prefix is permitted. The zero TargetPolicy is the strict
// default.
type TargetPolicy struct {
	Allow []netip.Prefix
}

type namedPrefix struct {
	prefix netip.Prefix
	name   string
}

func np(s, name string) namedPrefix {
	return namedPrefix{netip.MustParsePrefix(s), name + " " + s}
}

// Order matters: the first match names the reason, so narrower ranges come
// before the ranges that contain them.
var forbidden4 = []namedPrefix{
	np("0.0.0.0/32", "unspecified"),
	np("0.0.0.0/8", "this network"),
	np("10.0.0.0/8", "private"),
	np("100.64.0.0/10", "CGNAT"),
	np("127.0.0.0/8", "loopback"),
	np("169.254.0.0/16", "link-local"),
	np("172.16.0.0/12", "private"),
	np("192.0.0.0/24", "IETF protocol assignments"),
	np("192.0.2.0/24", "documentation"),
	np("192.88.99.0/24", "6to4 relay anycast"),
	np("192.168.0.0/16", "private"),
	np("198.18.0.0/15", "benchmarking"),
	np("198.51.100.0/24", "documentation"),
	np("203.0.113.0/24", "documentation"),
	np("224.0.0.0/4", "multicast"),
	np("255.255.255.255/32", "broadcast"),
	np("240.0.0.0/4", "reserved"),
}

var forbidden6 = []namedPrefix{
	np("::/128", "unspecified"),
	np("::1/128", "loopback"),
	np("::/96", "IPv4-compatible"),
	np("100::/64", "discard"),
	np("2001::/32", "Teredo"),
	np("2001:2::/48", "benchmarking"),
	np("2001:10::/28", "ORCHID"),
	np("2001:db8::/32", "documentation"),
	np("3fff::/20", "documentation"),
	np("fc00::/7", "unique local"),
	np("fe80::/10", "link-local"),
	np("fec0::/10", "site-local"),
	np("ff00::/8", "multicast"),
}

var (
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local     = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour      = netip.MustParsePrefix("2002::/16")
	globalUnicast  = netip.MustParsePrefix("2000::/3")
)

// Permitted reports whether addr may be probed, and if not, a short reason
// naming the range, such as "loopback 127.0.0.0/8". For an address that
// embeds IPv4 the reason names both, such as
// "NAT64 64:ff9b::/96 embeds loopback 127.0.0.0/8".
func (t TargetPolicy) Permitted(addr netip.Addr) (ok bool, why string) {
	if !addr.IsValid() {
		return false, "invalid address"
	}
	addr = addr.WithZone("")
	if t.allowed(addr) {
		return true, ""
	}
	if addr.Is4In6() {
		return t.Permitted(addr.Unmap())
	}
	if addr.Is4() {
		for _, f := range forbidden4 {
			if f.prefix.Contains(addr) {
				return false, f.name
			}
		}
		return true, ""
	}
	b := addr.As16()
	switch {
	case nat64WellKnown.Contains(addr):
		return t.embedded("NAT64 64:ff9b::/96", netip.AddrFrom4([4]byte(b[12:16])))
	case nat64Local.Contains(addr):
		// RFC 8215 lets the operator carve any RFC 6052 prefix out of the
		// /48, so the embedding is known only for the common /96 at its
		// start. Any other layout is forbidden rather than guessed at (a
		// zero-padded suffix would read as 0.0.0.0 in one layout and as a
		// public address in another); Allow the prefix to use one.
		if b[6]|b[7]|b[8]|b[9]|b[10]|b[11] == 0 {
			return t.embedded("local-use NAT64 64:ff9b:1::/96", netip.AddrFrom4([4]byte(b[12:16])))
		}
		return false, "local-use NAT64 64:ff9b:1::/48 outside 64:ff9b:1::/96"
	case sixToFour.Contains(addr):
		return t.embedded("6to4 2002::/16", netip.AddrFrom4([4]byte(b[2:6])))
	}
	for _, f := range forbidden6 {
		if f.prefix.Contains(addr) {
			return false, f.name
		}
	}
	if !globalUnicast.Contains(addr) {
		return false, "not global unicast 2000::/3"
	}
	return true, ""
}

func (t TargetPolicy) embedded(form string, v4 netip.Addr) (bool, string) {
	if ok, why := t.Permitted(v4); !ok {
		return false, form + " embeds " + why
	}
	return true, ""
}

func (t TargetPolicy) allowed(addr netip.Addr) bool {
	for _, p := range t.Allow {
		if p.Contains(addr) || p.Contains(addr.Unmap()) || (addr.Is4() && p.Contains(netip.AddrFrom16(addr.As16()))) {
			return true
		}
	}
	return false
}
