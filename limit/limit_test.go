package limit_test

import (
	"net"
	"testing"
	"time"

	"github.com/daned/daned/internal/fakeclock"
	"github.com/daned/daned/limit"
)

func TestKey(t *testing.T) {
	tests := []struct {
		name string
		addr net.Addr
		want string
	}{
		{"IPv4", &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 4711}, "ip:192.0.2.7"},
		{"IPv4-mapped IPv6 is IPv4", &net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 1}, "ip:192.0.2.7"},
		{"IPv6 by its /64", &net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6"), Port: 1}, "ip:2001:db8:1:2::/64"},
		{"Unix socket clients are one caller", &net.UnixAddr{Name: "@", Net: "unix"}, "unix"},
		{"UDP address", &net.UDPAddr{IP: net.ParseIP("192.0.2.8"), Port: 53}, "ip:192.0.2.8"},
		{"none", nil, "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := limit.Key(tt.addr); got != tt.want {
				t.Errorf("Key(%v) = %q, want %q", tt.addr, got, tt.want)
			}
		})
	}
}

func TestBuckets(t *testing.T) {
	clk := fakeclock.New(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC))
	b, err := limit.New(limit.Config{Rate: 2, Burst: 3, MaxCallers: 2, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if !b.Allow("a") {
			t.Fatalf("request %d of a burst of 3 refused", i+1)
		}
	}
	if b.Allow("a") || b.Limited() != 1 {
		t.Fatalf("the fourth request of a burst of 3 was admitted (limited %d)", b.Limited())
	}
	if !b.Allow("b") {
		t.Fatal("another caller shares a's bucket")
	}
	clk.Advance(500 * time.Millisecond) // one token at 2/s
	if !b.Allow("a") || b.Allow("a") {
		t.Fatal("the bucket did not refill at the rate")
	}
	b.Allow("c") // a third caller: the least recently seen (b) is forgotten
	if n := b.Callers(); n != 2 {
		t.Fatalf("%d buckets held, want at most 2", n)
	}
	off, _ := limit.New(limit.Config{})
	for range 100 {
		if !off.Allow("a") {
			t.Fatal("without a rate, a request was refused")
		}
	}
	if off.Callers() != 0 || off.String() != "off" {
		t.Fatalf("without a rate: %d buckets, %q", off.Callers(), off.String())
	}
	if _, err := limit.New(limit.Config{Rate: -1}); err == nil {
		t.Fatal("a negative rate was accepted")
	}
}
