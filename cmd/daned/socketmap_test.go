package main

import (
	"bufio"
	"context"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/credentials/insecure"

	"github.com/daned/daned/internal/testworld"
	danev1 "github.com/daned/daned/proto/dane/v1"
	"github.com/daned/daned/socketmap"
)

var socketmapRE = regexp.MustCompile(`socketmap=(\S+)`)

// TestSocketmapSharesTheDecisionLayer: daned with --socketmap-listen
// answers Postfix's policy lookups, and its two front doors share one
// decision layer: a socketmap lookup fills the verdict the gRPC API then
// serves from the cache, and Invalidate through gRPC drops it for both.
func TestSocketmapSharesTheDecisionLayer(t *testing.T) {
	w := testworld.StartT(t, testworld.Options{})
	u := testworld.StartUnboundT(t, w)
	var allow []string
	for _, p := range w.ProbeAllow() {
		allow = append(allow, p.String())
	}
	d := startDaned(t, "--listen", "127.0.0.1:0", "--resolver", u.Addr(), "--probe-port", strconv.Itoa(w.SMTPPort()), "--probe-allow", strings.Join(allow, ","),
		"--socketmap-listen", "127.0.0.1:0")
	m := socketmapRE.FindStringSubmatch(d.out.String())
	if m == nil {
		t.Fatalf("daned did not log its socketmap address:\n%s", d.out.String())
	}
	c, err := net.DialTimeout("tcp", m[1], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rd := bufio.NewReader(c)
	query := func(key string) string {
		t.Helper()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Write(socketmap.AppendNetstring(nil, "QUERY "+key)); err != nil {
			t.Fatal(err)
		}
		reply, err := socketmap.ReadNetstring(rd, nil, socketmap.MaxReply)
		if err != nil {
			t.Fatal(err)
		}
		return string(reply)
	}
	if got := query("ee-spki.test"); got != "OK dane-only" {
		t.Fatalf("QUERY ee-spki.test = %q, want OK dane-only", got)
	}
	if got := query("[mx.ee-spki.test]:25"); got != "NOTFOUND " {
		t.Fatalf("QUERY of a bracketed next hop = %q, want NOTFOUND", got)
	}

	api := danev1.NewDaneServiceClient(d.dial(t, insecure.NewCredentials()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := api.Validate(ctx, &danev1.ValidateRequest{Domain: "ee-spki.test", PolicyOnly: true})
	if err != nil || !r.GetFromCache() || r.GetPolicy() != danev1.Policy_POLICY_DANE_REQUIRED {
		t.Fatalf("gRPC after the socketmap lookup: from_cache=%v policy=%v %v; want the socketmap's cached verdict", r.GetFromCache(), r.GetPolicy(), err)
	}
	if _, err := api.Invalidate(ctx, &danev1.InvalidateRequest{Domain: "ee-spki.test"}); err != nil {
		t.Fatal(err)
	}
	if r, err := api.Validate(ctx, &danev1.ValidateRequest{Domain: "ee-spki.test", PolicyOnly: true}); err != nil || r.GetFromCache() {
		t.Fatalf("after Invalidate: from_cache=%v %v", r.GetFromCache(), err)
	}
}
