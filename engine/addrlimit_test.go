package engine_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/miekg/dns"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/probe"
)

// gateProber holds every probe until released and records the most
// probes seen at once per address and in all.
type gateProber struct {
	mu       sync.Mutex
	running  map[netip.Addr]int
	maxPer   map[netip.Addr]int
	total    int
	maxTotal int
	calls    int
	hold     time.Duration
	result   *probe.Result
}

func (g *gateProber) Probe(ctx context.Context, addr netip.Addr, _ string) *probe.Result {
	g.mu.Lock()
	g.calls++
	g.running[addr]++
	g.maxPer[addr] = max(g.maxPer[addr], g.running[addr])
	g.total++
	g.maxTotal = max(g.maxTotal, g.total)
	g.mu.Unlock()
	select {
	case <-time.After(g.hold):
	case <-ctx.Done():
	}
	g.mu.Lock()
	g.running[addr]--
	g.total--
	g.mu.Unlock()
	return g.result
}

// TestProbesPerAddress: many validations at once whose MX hosts share one
// address never probe it more than ProbesPerAddress at a time, while a
// host at another address is probed without waiting for them.
func TestProbesPerAddress(t *testing.T) {
	leaf := selfSigned(t, now.Add(365*24*time.Hour))
	answers := map[string]any{}
	const domains = 12
	for i := range domains {
		d := fmt.Sprintf("d%d.example", i)
		answers[d+"./MX"] = secure(t, d, dns.TypeMX, 300, d+". 300 IN MX 10 mx.shared.example.")
	}
	answers["mx.shared.example./A"] = secure(t, "mx.shared.example", dns.TypeA, 300, "mx.shared.example. 300 IN A "+ip1.String())
	answers["_25._tcp.mx.shared.example./TLSA"] = secure(t, "_25._tcp.mx.shared.example", dns.TypeTLSA, 300, "_25._tcp.mx.shared.example. 300 IN TLSA "+spki311(leaf))
	answers["other.example./MX"] = secure(t, "other.example", dns.TypeMX, 300, "other.example. 300 IN MX 10 mx.other.example.")
	answers["mx.other.example./A"] = secure(t, "mx.other.example", dns.TypeA, 300, "mx.other.example. 300 IN A "+ip2.String())
	answers["_25._tcp.mx.other.example./TLSA"] = secure(t, "_25._tcp.mx.other.example", dns.TypeTLSA, 300, "_25._tcp.mx.other.example. 300 IN TLSA "+spki311(leaf))

	const hold = 100 * time.Millisecond
	tests := []struct {
		name    string
		perAddr int
		want    int
	}{
		{name: "default (2)", perAddr: 0, want: 2},
		{name: "1", perAddr: 1, want: 1},
		{name: "4", perAddr: 4, want: 4},
	}
	for _, tt := range tests {
		// In a synctest bubble the probes' hold is the bubble's time: the
		// queue and "probed at once" are exact under any load.
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g := &gateProber{running: map[netip.Addr]int{}, maxPer: map[netip.Addr]int{}, hold: hold, result: tlsOK(leaf)}
				e, err := engine.New(engine.Config{
					Resolver:         &fakeDNS{answers: answers},
					Prober:           g,
					Targets:          probe.TargetPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}},
					Now:              func() time.Time { return now },
					ProbesPerAddress: tt.perAddr,
				})
				if err != nil {
					t.Fatal(err)
				}
				var wg sync.WaitGroup
				for i := range domains {
					wg.Go(func() {
						r, err := e.Validate(context.Background(), fmt.Sprintf("d%d.example", i), engine.Options{})
						if err != nil || r.Verdict.Action != dane.ActionDeliver {
							t.Errorf("d%d.example: %v %+v", i, err, r)
						}
					})
				}
				// Every validation now waits on the shared address: the
				// other address is probed at once, though the shared one
				// has a queue of 12 probes.
				synctest.Wait()
				start := time.Now()
				r, err := e.Validate(context.Background(), "other.example", engine.Options{})
				if err != nil || r.Verdict.Action != dane.ActionDeliver {
					t.Errorf("other.example: %v %+v", err, r)
				}
				if took := time.Since(start); took != hold {
					t.Errorf("other.example took %v behind a busy address; want its own probe's %v", took, hold)
				}
				wg.Wait()
				if got := g.maxPer[ip1]; got != tt.want {
					t.Errorf("at most %d probes at once to %s, want %d", got, ip1, tt.want)
				}
				if g.calls != domains+1 {
					t.Errorf("%d probes, want %d", g.calls, domains+1)
				}
				if n := e.AddrSlotsInUse(); n != 0 {
					t.Errorf("%d addresses still hold slots after every validation ended", n)
				}
			})
		})
	}
}

// TestProbesPerAddressDeadline: a validation whose deadline passes while it
// waits for a busy address's slot reports TIMEOUT with a detail saying so.
func TestProbesPerAddressDeadline(t *testing.T) {
	// In a synctest bubble: which validation holds the slot, and when
	// each deadline passes, do not depend on the machine's load.
	synctest.Test(t, func(t *testing.T) {
		leaf := selfSigned(t, now.Add(365*24*time.Hour))
		answers := map[string]any{
			"example.com./MX":               secure(t, "example.com", dns.TypeMX, 300, "example.com. 300 IN MX 10 mx.example.com."),
			"mx.example.com./A":             secure(t, "mx.example.com", dns.TypeA, 300, "mx.example.com. 300 IN A "+ip1.String()),
			"_25._tcp.mx.example.com./TLSA": secure(t, "_25._tcp.mx.example.com", dns.TypeTLSA, 300, "_25._tcp.mx.example.com. 300 IN TLSA "+spki311(leaf)),
		}
		g := &gateProber{running: map[netip.Addr]int{}, maxPer: map[netip.Addr]int{}, hold: 2 * time.Second, result: tlsOK(leaf)}
		e, err := engine.New(engine.Config{
			Resolver: &fakeDNS{answers: answers}, Prober: g, ProbesPerAddress: 1, Now: func() time.Time { return now },
			Targets: probe.TargetPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}},
		})
		if err != nil {
			t.Fatal(err)
		}
		busy := make(chan struct{})
		go func() {
			defer close(busy)
			_, _ = e.Validate(context.Background(), "example.com", engine.Options{})
		}()
		synctest.Wait() // the first validation holds the only slot
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		r, err := e.Validate(ctx, "example.com", engine.Options{})
		if err == nil {
			// The engine answers with the verdict it reached when the
			// caller's deadline passes only if the caller is still there.
			t.Fatalf("want the caller's deadline error, got verdict %v", r.Verdict.Action)
		}
		<-busy
		if g.calls != 1 {
			t.Errorf("%d probes, want 1 (the second validation never got a slot)", g.calls)
		}
		if n := e.AddrSlotsInUse(); n != 0 {
			t.Errorf("%d addresses still hold slots", n)
		}
		// With the engine's own timeout (no caller deadline), the verdict
		// is TIMEOUT, DEFER for this DANE host.
		e2, err := engine.New(engine.Config{
			Resolver: &fakeDNS{answers: answers}, Prober: g, ProbesPerAddress: 1, Timeout: 300 * time.Millisecond, Now: func() time.Time { return now },
			Targets: probe.TargetPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}},
		})
		if err != nil {
			t.Fatal(err)
		}
		busy = make(chan struct{})
		go func() {
			defer close(busy)
			// A caller deadline replaces the engine's timeout: this one
			// holds the address's only slot for the whole hold.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, _ = e2.Validate(ctx, "example.com", engine.Options{})
		}()
		synctest.Wait()
		r, err = e2.Validate(context.Background(), "example.com", engine.Options{})
		<-busy
		if err != nil {
			t.Fatal(err)
		}
		a := r.Hosts[0].Addresses[0]
		if r.Verdict.Action != dane.ActionDefer || a.Reason != dane.ReasonTimeout || !strings.Contains(a.Detail, "per address") {
			t.Errorf("verdict %v, address %v %q; want DEFER, TIMEOUT waiting for the address's slot", r.Verdict.Action, a.Reason, a.Detail)
		}
	})
}

func TestProbesPerAddressNegative(t *testing.T) {
	if _, err := engine.New(engine.Config{Resolver: &fakeDNS{}, ProbesPerAddress: -1}); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("New with ProbesPerAddress -1: %v, want an error", err)
	}
}
