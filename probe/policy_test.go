package probe_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/daned/daned/probe"
)

func TestTargetPolicy(t *testing.T) {
	tests := []struct {
		name    string
		addr    string
		allow   []string
		wantOK  bool
		wantWhy string // substring of the reason
	}{
		// IPv4 forbidden ranges.
		{name: "unspecified", addr: "0.0.0.0", wantWhy: "unspecified 0.0.0.0/32"},
		{name: "this network", addr: "0.1.2.3", wantWhy: "this network 0.0.0.0/8"},
		{name: "private 10/8", addr: "10.1.2.3", wantWhy: "private 10.0.0.0/8"},
		{name: "CGNAT", addr: "100.64.0.1", wantWhy: "CGNAT 100.64.0.0/10"},
		{name: "CGNAT top", addr: "100.127.255.254", wantWhy: "CGNAT"},
		{name: "loopback", addr: "127.0.0.1", wantWhy: "loopback 127.0.0.0/8"},
		{name: "loopback other", addr: "127.53.0.9", wantWhy: "loopback 127.0.0.0/8"},
		{name: "link-local", addr: "169.254.169.254", wantWhy: "link-local 169.254.0.0/16"},
		{name: "private 172.16/12", addr: "172.31.255.1", wantWhy: "private 172.16.0.0/12"},
		{name: "IETF protocol assignments", addr: "192.0.0.8", wantWhy: "IETF protocol assignments 192.0.0.0/24"},
		{name: "TEST-NET-1", addr: "192.0.2.1", wantWhy: "documentation 192.0.2.0/24"},
		{name: "6to4 relay anycast", addr: "192.88.99.1", wantWhy: "6to4 relay anycast"},
		{name: "private 192.168/16", addr: "192.168.1.1", wantWhy: "private 192.168.0.0/16"},
		{name: "benchmarking", addr: "198.19.0.1", wantWhy: "benchmarking 198.18.0.0/15"},
		{name: "TEST-NET-2", addr: "198.51.100.7", wantWhy: "documentation 198.51.100.0/24"},
		{name: "TEST-NET-3", addr: "203.0.113.9", wantWhy: "documentation 203.0.113.0/24"},
		{name: "multicast", addr: "224.0.0.251", wantWhy: "multicast 224.0.0.0/4"},
		{name: "multicast top", addr: "239.255.255.250", wantWhy: "multicast"},
		{name: "reserved", addr: "240.0.0.1", wantWhy: "reserved 240.0.0.0/4"},
		{name: "broadcast", addr: "255.255.255.255", wantWhy: "broadcast 255.255.255.255/32"},
		// IPv4 permitted, including neighbours of forbidden ranges.
		{name: "public IPv4", addr: "8.8.8.8", wantOK: true},
		{name: "public IPv4 2", addr: "192.0.47.59", wantOK: true},
		{name: "just below CGNAT", addr: "100.63.255.255", wantOK: true},
		{name: "just above CGNAT", addr: "100.128.0.0", wantOK: true},
		{name: "just outside 172.16/12", addr: "172.32.0.1", wantOK: true},
		{name: "just below multicast", addr: "223.255.255.254", wantOK: true},
		// IPv6 forbidden ranges.
		{name: "IPv6 unspecified", addr: "::", wantWhy: "unspecified ::/128"},
		{name: "IPv6 loopback", addr: "::1", wantWhy: "loopback ::1/128"},
		{name: "IPv4-compatible", addr: "::8.8.8.8", wantWhy: "IPv4-compatible ::/96"},
		{name: "IPv4-compatible loopback", addr: "::127.0.0.1", wantWhy: "IPv4-compatible ::/96"},
		{name: "discard", addr: "100::1", wantWhy: "discard 100::/64"},
		{name: "Teredo", addr: "2001::1", wantWhy: "Teredo 2001::/32"},
		{name: "IPv6 benchmarking", addr: "2001:2::1", wantWhy: "benchmarking 2001:2::/48"},
		{name: "ORCHID", addr: "2001:10::1", wantWhy: "ORCHID 2001:10::/28"},
		{name: "IPv6 documentation", addr: "2001:db8::25", wantWhy: "documentation 2001:db8::/32"},
		{name: "IPv6 documentation 3fff", addr: "3fff:1::1", wantWhy: "documentation 3fff::/20"},
		{name: "ULA fc", addr: "fc00::1", wantWhy: "unique local fc00::/7"},
		{name: "ULA fd", addr: "fd12:3456::1", wantWhy: "unique local fc00::/7"},
		{name: "IPv6 link-local", addr: "fe80::1", wantWhy: "link-local fe80::/10"},
		{name: "IPv6 link-local with zone", addr: "fe80::1%eth0", wantWhy: "link-local fe80::/10"},
		{name: "site-local", addr: "fec0::1", wantWhy: "site-local fec0::/10"},
		{name: "IPv6 multicast", addr: "ff02::1", wantWhy: "multicast ff00::/8"},
		{name: "outside global unicast", addr: "4000::1", wantWhy: "not global unicast 2000::/3"},
		{name: "outside global unicast low", addr: "1::1", wantWhy: "not global unicast"},
		// IPv4 embedded in IPv6.
		{name: "mapped loopback", addr: "::ffff:127.0.0.1", wantWhy: "loopback 127.0.0.0/8"},
		{name: "mapped private", addr: "::ffff:10.0.0.1", wantWhy: "private 10.0.0.0/8"},
		{name: "mapped public", addr: "::ffff:8.8.8.8", wantOK: true},
		{name: "NAT64 loopback", addr: "64:ff9b::127.0.0.1", wantWhy: "NAT64 64:ff9b::/96 embeds loopback 127.0.0.0/8"},
		{name: "NAT64 private", addr: "64:ff9b::192.168.0.1", wantWhy: "NAT64 64:ff9b::/96 embeds private"},
		{name: "NAT64 link-local", addr: "64:ff9b::169.254.169.254", wantWhy: "embeds link-local"},
		{name: "NAT64 public", addr: "64:ff9b::8.8.8.8", wantOK: true},
		{name: "local NAT64 /96 loopback", addr: "64:ff9b:1::127.0.0.1", wantWhy: "local-use NAT64 64:ff9b:1::/96 embeds loopback"},
		{name: "local NAT64 /96 public", addr: "64:ff9b:1::8.8.8.8", wantOK: true},
		// RFC 6052 /48 layout of 8.8.8.8: not judged, forbidden.
		{name: "local NAT64 other layout", addr: "64:ff9b:1:808:8:808::", wantWhy: "local-use NAT64 64:ff9b:1::/48 outside 64:ff9b:1::/96"},
		{name: "allow local NAT64 other layout", addr: "64:ff9b:1:808:8:808::", allow: []string{"64:ff9b:1::/48"}, wantOK: true},
		{name: "6to4 loopback", addr: "2002:7f00:1::1", wantWhy: "6to4 2002::/16 embeds loopback 127.0.0.0/8"},
		{name: "6to4 CGNAT", addr: "2002:6440:1::", wantWhy: "6to4 2002::/16 embeds CGNAT"},
		{name: "6to4 public", addr: "2002:808:808::1", wantOK: true},
		// IPv6 permitted.
		{name: "public IPv6", addr: "2a00:1450:4001:80b::200e", wantOK: true},
		{name: "public IPv6 2", addr: "2606:4700::1111", wantOK: true},
		// Allow overrides.
		{name: "allow loopback", addr: "127.0.0.1", allow: []string{"127.0.0.0/8"}, wantOK: true},
		{name: "allow one private host", addr: "10.0.0.5", allow: []string{"10.0.0.5/32"}, wantOK: true},
		{name: "allow does not spill", addr: "10.0.0.6", allow: []string{"10.0.0.5/32"}, wantWhy: "private"},
		{name: "allow IPv6 loopback", addr: "::1", allow: []string{"::1/128"}, wantOK: true},
		{name: "allow ULA", addr: "fd00::25", allow: []string{"fd00::/8"}, wantOK: true},
		{name: "allow IPv4 covers mapped", addr: "::ffff:127.0.0.1", allow: []string{"127.0.0.0/8"}, wantOK: true},
		{name: "allow mapped covers IPv4", addr: "127.0.0.1", allow: []string{"::ffff:127.0.0.0/104"}, wantOK: true},
		{name: "allow IPv4 covers NAT64", addr: "64:ff9b::10.1.1.1", allow: []string{"10.0.0.0/8"}, wantOK: true},
		{name: "allow IPv4 covers 6to4", addr: "2002:a01:101::1", allow: []string{"10.0.0.0/8"}, wantOK: true},
		{name: "allow documentation range", addr: "2001:db8::25", allow: []string{"2001:db8::/32"}, wantOK: true},
		{name: "allow zoned link-local", addr: "fe80::1%eth0", allow: []string{"fe80::/10"}, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pol probe.TargetPolicy
			for _, a := range tt.allow {
				pol.Allow = append(pol.Allow, netip.MustParsePrefix(a))
			}
			ok, why := pol.Permitted(netip.MustParseAddr(tt.addr))
			if ok != tt.wantOK {
				t.Fatalf("Permitted(%s) = %v, %q, want %v", tt.addr, ok, why, tt.wantOK)
			}
			if ok && why != "" {
				t.Errorf("Permitted(%s) = true with reason %q", tt.addr, why)
			}
			if !ok && !strings.Contains(why, tt.wantWhy) {
				t.Errorf("Permitted(%s) reason = %q, want it to contain %q", tt.addr, why, tt.wantWhy)
			}
		})
	}
}

func TestTargetPolicyInvalid(t *testing.T) {
	if ok, why := (probe.TargetPolicy{}).Permitted(netip.Addr{}); ok || why == "" {
		t.Errorf("Permitted(zero Addr) = %v, %q, want false with a reason", ok, why)
	}
}
