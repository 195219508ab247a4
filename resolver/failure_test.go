package resolver_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daned/daned/resolver"
	"github.com/miekg/dns"
)

// rawUDP starts a UDP socket on loopback that answers each datagram with
// respond(query) (nil: stay silent) and counts what it received.
func rawUDP(t *testing.T, respond func(q []byte) []byte) (string, *atomic.Int32) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			hits.Add(1)
			if out := respond(buf[:n]); out != nil {
				pc.WriteTo(out, from)
			}
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	return pc.LocalAddr().String(), &hits
}

// TestLookupBadReplies covers upstreams that do not answer properly. A
// datagram carrying the query's ID that does not parse is ErrMalformed at
// once (the trusted upstream sent it; retrying will not help). A datagram
// with another ID, or too short to carry one, is ignored as a possible late
// or spoofed reply, so the lookup ends in ErrTimeout.
func TestLookupBadReplies(t *testing.T) {
	tests := []struct {
		name     string
		respond  func(q []byte) []byte
		wantErr  error
		wantHits int32
	}{
		{
			name:     "never answers",
			respond:  func([]byte) []byte { return nil },
			wantErr:  resolver.ErrTimeout,
			wantHits: 2,
		},
		{
			name: "garbage with the query ID",
			respond: func(q []byte) []byte {
				return append([]byte{q[0], q[1], 0x81, 0x80, 0xff, 0xff}, []byte("junk junk junk")...)
			},
			wantErr:  resolver.ErrMalformed,
			wantHits: 1,
		},
		{
			name: "garbage with another ID",
			respond: func(q []byte) []byte {
				return []byte{q[0] ^ 0xff, q[1], 0x81, 0x80, 0xff, 0xff, 1, 2, 3}
			},
			wantErr:  resolver.ErrTimeout,
			wantHits: 2,
		},
		{
			name:     "one byte",
			respond:  func([]byte) []byte { return []byte{0} },
			wantErr:  resolver.ErrTimeout,
			wantHits: 2,
		},
		{
			name: "header only, echoing the query with QR clear",
			respond: func(q []byte) []byte {
				return q
			},
			wantErr:  resolver.ErrMalformed,
			wantHits: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, hits := rawUDP(t, tt.respond)
			r, err := resolver.New(resolver.Config{Server: addr, Timeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			a, err := r.Lookup(t.Context(), "mx.example.com", dns.TypeA)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Lookup() = %v, %v; want %v", a, err, tt.wantErr)
			}
			// A bound that only a hang crosses, not a loaded machine.
			if el := time.Since(start); el > 10*time.Second {
				t.Errorf("Lookup took %v", el)
			}
			if qe := asQueryError(t, err); tt.wantErr == resolver.ErrTimeout && qe.Rcode != -1 {
				t.Errorf("Rcode = %d, want -1 without a reply", qe.Rcode)
			}
			if got := hits.Load(); got != tt.wantHits {
				t.Errorf("upstream saw %d queries, want %d", got, tt.wantHits)
			}
		})
	}
}

func TestLookupContext(t *testing.T) {
	addr, _ := rawUDP(t, func([]byte) []byte { return nil })
	r, err := resolver.New(resolver.Config{Server: addr, Timeout: 10 * time.Second, Attempts: 5})
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name  string
		ctx   func(t *testing.T) context.Context
		cause error
	}{
		{
			name: "deadline shorter than Timeout wins",
			ctx: func(t *testing.T) context.Context {
				ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
				t.Cleanup(cancel)
				return ctx
			},
			cause: context.DeadlineExceeded,
		},
		{
			name:  "already cancelled",
			ctx:   func(*testing.T) context.Context { return cancelled },
			cause: context.Canceled,
		},
		{
			name: "cancelled while waiting, no deadline",
			ctx: func(t *testing.T) context.Context {
				ctx, cancel := context.WithCancel(t.Context())
				time.AfterFunc(100*time.Millisecond, cancel)
				t.Cleanup(cancel)
				return ctx
			},
			cause: context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := r.Lookup(tt.ctx(t), "mx.example.com", dns.TypeA)
			if !errors.Is(err, resolver.ErrTimeout) || !errors.Is(err, tt.cause) {
				t.Fatalf("Lookup() error = %v, want ErrTimeout wrapping %v", err, tt.cause)
			}
			if el := time.Since(start); el > 10*time.Second {
				t.Errorf("Lookup took %v, the context should have ended it", el)
			}
		})
	}
}

func TestLookupNetworkError(t *testing.T) {
	// A loopback port with nothing listening: the kernel answers ICMP port
	// unreachable, which a connected UDP socket reports as refused.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	r, err := resolver.New(resolver.Config{Server: addr, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Lookup(t.Context(), "mx.example.com", dns.TypeA)
	if !errors.Is(err, resolver.ErrNetwork) {
		t.Fatalf("Lookup() error = %v, want ErrNetwork", err)
	}
}

func TestLookupInvalidName(t *testing.T) {
	r, err := resolver.New(resolver.Config{Exchanger: exchangerFunc(func(context.Context, *dns.Msg, string, string) (*dns.Msg, error) {
		t.Fatal("an invalid name must not be sent")
		return nil, nil
	})})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a..b", strings.Repeat("a.", 200)} {
		_, err := r.Lookup(t.Context(), name, dns.TypeA)
		var qe *resolver.QueryError
		if err == nil || errors.As(err, &qe) {
			t.Errorf("Lookup(%q) error = %v, want a plain error", name, err)
		}
	}
}
