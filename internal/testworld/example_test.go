package testworld_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/miekg/dns"

	"github.com/daned/daned/internal/testworld"
)

// Start a world and a validating Unbound, then ask Unbound for a TLSA
// RRset. In a test, prefer StartT and StartUnboundT, which clean up with
// t.Cleanup and fail (never skip) when Unbound is missing.
func ExampleStart() {
	ctx := context.Background()
	w, err := testworld.Start(ctx, testworld.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()

	dir, _ := os.MkdirTemp("", "unbound-")
	defer os.RemoveAll(dir)
	u, err := testworld.StartUnbound(ctx, w, dir)
	if err != nil {
		log.Fatal(err)
	}
	defer u.Close()

	m := new(dns.Msg)
	m.SetQuestion("_25._tcp.mx.ee-spki.test.", dns.TypeTLSA)
	m.SetEdns0(1232, true)
	r, err := dns.Exchange(m, u.Addr())
	if err != nil {
		log.Fatal(err)
	}
	h, _ := w.Host("mx.ee-spki.test")
	fmt.Println(r.AuthenticatedData, h.TLSA[0] == "3 1 1 "+testworld.TLSAData(h.Chain[0], 1, 1))
	// Output: true true
}
