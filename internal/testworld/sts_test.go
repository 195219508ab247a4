package testworld_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/daned/daned/internal/testworld"
)

// TestSTSScenarios: the MTA-STS scenarios publish their TXT records and
// policy host through Unbound (secure in a signed zone, insecure in an
// unsigned one, bogus without RRSIGs), serve their policies over HTTPS
// with certificates from the world's CA as each scenario says, count the
// requests, and stop or block on demand.
func TestSTSScenarios(t *testing.T) {
	w := testworld.StartT(t, testworld.Options{Scenarios: testworld.STSScenarios()})
	u := testworld.StartUnboundT(t, w)
	if w.HTTPSPort() == 0 {
		t.Fatal("no HTTPS port")
	}
	for _, tt := range []struct {
		qname string
		rcode int
		ad    bool
		n     int
	}{
		{"_mta-sts.sts-signed.test", dns.RcodeSuccess, true, 1},
		{"_mta-sts.sts-enforce.test", dns.RcodeSuccess, false, 1},
		{"_mta-sts.sts-two-records.test", dns.RcodeSuccess, false, 2},
		{"_mta-sts.sts-txt-bogus.test", dns.RcodeServerFailure, false, 0},
	} {
		r := query(t, u.Addr(), "udp", tt.qname, dns.TypeTXT)
		n := 0
		for _, rr := range r.Answer {
			if _, ok := rr.(*dns.TXT); ok {
				n++
			}
		}
		if r.Rcode != tt.rcode || r.AuthenticatedData != tt.ad || n != tt.n {
			t.Errorf("%s TXT: rcode %s AD %v, %d records; want %s %v %d", tt.qname, dns.RcodeToString[r.Rcode], r.AuthenticatedData, n,
				dns.RcodeToString[tt.rcode], tt.ad, tt.n)
		}
	}

	get := func(domain string) (*http.Response, string, error) {
		r := query(t, u.Addr(), "udp", "mta-sts."+domain, dns.TypeA)
		if len(r.Answer) != 1 {
			t.Fatalf("mta-sts.%s A: %v", domain, r)
		}
		addr := net.JoinHostPort(r.Answer[0].(*dns.A).A.String(), strconv.Itoa(w.HTTPSPort()))
		client := &http.Client{
			Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: w.WebPKIRoots()},
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, network, addr)
				},
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		defer client.CloseIdleConnections()
		resp, err := client.Get("https://mta-sts." + domain + "/.well-known/mta-sts.txt")
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b), nil
	}
	resp, body, err := get("sts-enforce.test")
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain" || !strings.Contains(body, "mx: mx.sts-enforce.test\n") {
		t.Fatalf("sts-enforce policy: %v %v %q", err, resp, body)
	}
	if resp, _, err := get("sts-redirect.test"); err != nil || resp.StatusCode != http.StatusMovedPermanently {
		t.Errorf("sts-redirect: %v %v, want a 301", err, resp)
	}
	if _, body, err := get("sts-oversized.test"); err != nil || len(body) <= 64<<10 {
		t.Errorf("sts-oversized: %v, %d bytes", err, len(body))
	}
	if _, _, err := get("sts-webpki.test"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("sts-webpki: %v, want a certificate error", err)
	}
	if n := w.STSRequests("sts-enforce.test"); n != 1 {
		t.Errorf("sts-enforce: %d requests, want 1", n)
	}

	w.StopPolicyHost("sts-downgrade.test")
	if _, _, err := get("sts-downgrade.test"); err == nil {
		t.Error("a stopped policy host answered")
	}
	if err := w.BlockName("_mta-sts.sts-downgrade.test", dns.TypeTXT); err != nil {
		t.Fatal(err)
	}
	// The running Unbound has nothing cached for it yet: it sees the block.
	if r := query(t, u.Addr(), "udp", "_mta-sts.sts-downgrade.test", dns.TypeTXT); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("blocked TXT: rcode %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
}
