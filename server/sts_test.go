package server_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/daned/daned/internal/config"
	"github.com/daned/daned/internal/danedtest"
	"github.com/daned/daned/internal/testworld"
	danev1 "github.com/daned/daned/proto/dane/v1"
	"github.com/daned/daned/server"
)

// stsDaned is daned as BuildService makes it (caches, the MTA-STS manager
// and its state store, the fetcher under --probe-allow) serving real gRPC
// on loopback, with the clock fixed at the world's reference time and the
// world's CA as the WebPKI.
type stsDaned struct {
	client danev1.DaneServiceClient
	stop   func() // stops serving and closes what BuildService made; idempotent
}

func stsConfig(w *testworld.World, resolverAddr, stateDir string) config.EngineFlags {
	ec := danedtest.EngineConfig(w, resolverAddr)
	now := w.Now()
	ec.MTASTS, ec.MTASTSPort, ec.MTASTSFetchTimeout = true, w.HTTPSPort(), 10*time.Second
	ec.WebPKIRoots, ec.StateDir, ec.CacheSize = w.WebPKIRoots(), stateDir, 1000
	ec.Now = func() time.Time { return now }
	ec.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return ec
}

func startSTSDaned(t testing.TB, w *testworld.World, ec config.EngineFlags) *stsDaned {
	t.Helper()
	built, err := ec.BuildService()
	if err != nil {
		t.Fatal(err)
	}
	now := w.Now()
	srv, err := server.New(server.Config{Verdicts: built.Verdicts, WebPKIRoots: w.WebPKIRoots(), Now: func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	srv.Register(g)
	served := make(chan struct{})
	go func() { _ = g.Serve(lis); close(served) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	d := &stsDaned{client: danev1.NewDaneServiceClient(conn)}
	d.stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = conn.Close()
		g.Stop()
		<-served
		if err := built.Close(); err != nil {
			t.Errorf("closing daned: %v", err)
		}
	}
	t.Cleanup(d.stop)
	return d
}

func (d *stsDaned) validate(t *testing.T, domain string, bypass bool) *danev1.ValidateResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := d.client.Validate(ctx, &danev1.ValidateRequest{Domain: domain, BypassCache: bypass})
	if err != nil {
		t.Fatalf("Validate(%q): %v", domain, err)
	}
	return resp
}

// TestGoldenSTS pins the whole response of every MTA-STS scenario, as
// TestGolden does for the DANE catalogue (which lists these files as its
// own for its stale check).
func TestGoldenSTS(t *testing.T) {
	w := testworld.StartT(t, testworld.Options{Scenarios: testworld.STSScenarios(), Now: time.Now().UTC().Truncate(time.Second)})
	u := testworld.StartUnboundT(t, w)
	d := startSTSDaned(t, w, stsConfig(w, u.Addr(), t.TempDir()))
	n := newNormalizer(w, u)
	for _, sc := range w.Scenarios() {
		t.Run(sc.Domain, func(t *testing.T) {
			t.Parallel()
			checkGolden(t, n, d.validate(t, sc.Domain, false))
		})
	}
}

// stsGoldenDomains are the golden files TestGoldenSTS writes.
func stsGoldenDomains() []string {
	var out []string
	for _, s := range testworld.STSScenarios() {
		out = append(out, s.Name+".test")
	}
	return out
}

// TestSTSEndToEnd checks every MTA-STS behaviour through gRPC against the
// loopback world: DANE first, a DANE failure never rescued, each enforce
// failure, testing, none, the policy failures (a redirect not followed,
// an oversized body, an invalid policy, an untrusted policy host, a bogus
// TXT record), two TXT records, a wildcard pattern, id revalidation with
// no HTTPS request, VerifyPeer, Invalidate, the fetcher under
// --probe-allow, and the cached policy surviving a restart while the
// policy host is down and its TXT record blocked (the downgrade defence).
func TestSTSEndToEnd(t *testing.T) {
	w := testworld.StartT(t, testworld.Options{Scenarios: testworld.STSScenarios()})
	u := testworld.StartUnboundT(t, w)
	stateDir := t.TempDir()
	d := startSTSDaned(t, w, stsConfig(w, u.Addr(), stateDir))

	const (
		srcDANE = danev1.PolicySource_POLICY_SOURCE_DANE
		srcSTS  = danev1.PolicySource_POLICY_SOURCE_MTA_STS
		srcNone = danev1.PolicySource_POLICY_SOURCE_NONE
		stsReq  = danev1.Policy_POLICY_MTA_STS_REQUIRED
		opp     = danev1.Policy_POLICY_OPPORTUNISTIC
	)
	tests := []struct {
		domain   string
		action   danev1.Action
		policy   danev1.Policy
		reason   danev1.Reason
		code     string
		source   danev1.PolicySource
		mode     danev1.MtaStsMode // of mta_sts; UNSPECIFIED: no policy
		failure  danev1.Reason     // mta_sts.failure
		consult  bool              // mta_sts set
		requests int64             // HTTPS requests to the policy host
		hostFail danev1.Reason     // mta_sts_failure of the first host
	}{
		{"sts-enforce.test", deliver, stsReq, danev1.Reason_REASON_OK, "", srcSTS, danev1.MtaStsMode_MTA_STS_MODE_ENFORCE, 0, true, 1, 0},
		{"sts-signed.test", deliver, stsReq, danev1.Reason_REASON_OK, "", srcSTS, danev1.MtaStsMode_MTA_STS_MODE_ENFORCE, 0, true, 1, 0},
		{"sts-wildcard.test", deliver, stsReq, danev1.Reason_REASON_OK, "", srcSTS, danev1.MtaStsMode_MTA_STS_MODE_ENFORCE, 0, true, 1, danev1.Reason_REASON_MX_NOT_IN_POLICY},
		{"sts-not-in-policy.test", deferA, stsReq, danev1.Reason_REASON_MX_NOT_IN_POLICY, "4.7.5", srcSTS, danev1.MtaStsMode_MTA_STS_MODE_ENFORCE, 0, true, 1, danev1.Reason_REASON_MX_NOT_IN_POLICY},
		{"sts-untrusted.test", deferA, stsReq, danev1.Reason_REASON_CERT_NOT_TRUSTED, "4.7.5", srcSTS, danev1.MtaStsMode_MTA_STS_MODE_ENFORCE, 0, true, 1, danev1.Reason_REASON_CERT_NOT_TRUSTED},
		{"sts-badname.test", deferA, stsReq, danev1.Reason_REASON_CERT_NAME_MISMATCH, "4.7.5", srcSTS, danev1.MtaStsMode_MTA_STS_MODE_ENFORCE, 0, true, 1, danev1.Reason_REASON_CERT_NAME_MISMATCH},
		{"sts-expired.test", deferA, stsReq, danev1.Reason_REASON_CERT_EXPIRED, "4.7.5", srcSTS, danev1.MtaStsMode_MTA_STS_MODE_ENFORCE, 0, true, 1, danev1.Reason_REASON_CERT_EXPIRED},
		{"sts-nostarttls.test", deferA, stsReq, danev1.Reason_REASON_STARTTLS_NOT_OFFERED, "4.7.321", srcSTS, danev1.MtaStsMode_MTA_STS_MODE_ENFORCE, 0, true, 1, danev1.Reason_REASON_STARTTLS_NOT_OFFERED},
		{"sts-testing.test", deliver, opp, danev1.Reason_REASON_OK, "", srcSTS, danev1.MtaStsMode_MTA_STS_MODE_TESTING, 0, true, 1, danev1.Reason_REASON_CERT_NOT_TRUSTED},
		{"sts-none.test", deliver, opp, danev1.Reason_REASON_OK, "", srcNone, danev1.MtaStsMode_MTA_STS_MODE_NONE, 0, true, 1, 0},
		{"sts-redirect.test", deliver, opp, danev1.Reason_REASON_OK, "", srcNone, 0, danev1.Reason_REASON_STS_POLICY_FETCH_FAILED, true, 1, 0},
		{"sts-oversized.test", deliver, opp, danev1.Reason_REASON_OK, "", srcNone, 0, danev1.Reason_REASON_STS_POLICY_FETCH_FAILED, true, 1, 0},
		{"sts-invalid.test", deliver, opp, danev1.Reason_REASON_OK, "", srcNone, 0, danev1.Reason_REASON_STS_POLICY_INVALID, true, 1, 0},
		{"sts-webpki.test", deliver, opp, danev1.Reason_REASON_OK, "", srcNone, 0, danev1.Reason_REASON_STS_WEBPKI_INVALID, true, 0, 0},
		{"sts-two-records.test", deliver, opp, danev1.Reason_REASON_OK, "", srcNone, 0, 0, true, 0, 0},
		{"sts-txt-bogus.test", deliver, opp, danev1.Reason_REASON_OK, "", srcNone, 0, danev1.Reason_REASON_STS_POLICY_FETCH_FAILED, true, 0, 0},
		{"sts-dane-wins.test", deliver, danev1.Policy_POLICY_DANE_REQUIRED, danev1.Reason_REASON_OK, "", srcDANE, 0, 0, false, 0, 0},
		{"sts-dane-fail.test", deferA, danev1.Policy_POLICY_DANE_REQUIRED, danev1.Reason_REASON_TLSA_NO_MATCH, "4.7.323", srcDANE, 0, 0, false, 0, 0},
		{"sts-bogus.test", deferA, danev1.Policy_POLICY_UNSPECIFIED, danev1.Reason_REASON_DNSSEC_BOGUS, "4.7.324", srcDANE, 0, 0, false, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			r := d.validate(t, tt.domain, false)
			if r.GetAction() != tt.action || r.GetPolicy() != tt.policy || r.GetReason() != tt.reason || r.GetStatusCode() != tt.code {
				t.Fatalf("verdict %v/%v/%v %q (%s), want %v/%v/%v %q", r.GetAction(), r.GetPolicy(), r.GetReason(), r.GetStatusCode(), r.GetStatusText(),
					tt.action, tt.policy, tt.reason, tt.code)
			}
			if r.GetPolicySource() != tt.source || r.GetPolicySourceDetail() == "" {
				t.Errorf("policy source %v (%q), want %v", r.GetPolicySource(), r.GetPolicySourceDetail(), tt.source)
			}
			m := r.GetMtaSts()
			if (m != nil) != tt.consult {
				t.Fatalf("mta_sts %v, want it set: %v", m, tt.consult)
			}
			if m.GetMode() != tt.mode || m.GetFailure() != tt.failure {
				t.Errorf("mta_sts mode %v failure %v (%s), want %v %v", m.GetMode(), m.GetFailure(), m.GetDetail(), tt.mode, tt.failure)
			}
			if tt.failure != 0 && (m.GetTlsrptResultType() == "" || m.GetDetail() == "") {
				t.Errorf("mta_sts failure without its type or detail: %v", m)
			}
			if n := w.STSRequests(tt.domain); n != tt.requests {
				t.Errorf("%d HTTPS requests to the policy host, want %d", n, tt.requests)
			}
			if len(r.GetMxHosts()) == 0 {
				return
			}
			if h := r.GetMxHosts()[0]; h.GetMtaStsFailure() != tt.hostFail || (tt.hostFail != 0) != (h.GetMtaStsResultType() != "") {
				t.Errorf("first host's mta_sts_failure %v (%q), want %v", h.GetMtaStsFailure(), h.GetMtaStsResultType(), tt.hostFail)
			}
		})
	}

	t.Run("wildcard covers one label only", func(t *testing.T) {
		hs := d.validate(t, "sts-wildcard.test", false).GetMxHosts()
		if len(hs) != 2 || hs[0].GetUsableForDelivery() || hs[0].GetReason() != danev1.Reason_REASON_MX_NOT_IN_POLICY || !hs[1].GetUsableForDelivery() {
			t.Fatalf("hosts %v: want deep.mx not in the policy and mx usable", hs)
		}
	})

	t.Run("id revalidation makes no HTTPS request", func(t *testing.T) {
		before := w.STSRequests("sts-enforce.test")
		r := d.validate(t, "sts-enforce.test", true)
		if !r.GetMtaSts().GetFromCache() || r.GetMtaSts().GetRecordId() != "1" || r.GetPolicySource() != srcSTS {
			t.Errorf("mta_sts %v, want the cached policy of record id 1", r.GetMtaSts())
		}
		if n := w.STSRequests("sts-enforce.test"); n != before {
			t.Errorf("%d HTTPS requests after revalidating an unchanged id, want %d", n, before)
		}
	})

	t.Run("VerifyPeer enforces the policy", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, tc := range []struct {
			domain, host string
			verified     bool
			reason       danev1.Reason
		}{
			{"sts-enforce.test", "mx.sts-enforce.test", true, danev1.Reason_REASON_OK},
			{"sts-untrusted.test", "mx.sts-untrusted.test", false, danev1.Reason_REASON_CERT_NOT_TRUSTED},
			{"sts-badname.test", "mx.sts-badname.test", false, danev1.Reason_REASON_CERT_NAME_MISMATCH},
		} {
			h, _ := w.Host(tc.host)
			var chain [][]byte
			for _, c := range h.Chain {
				chain = append(chain, c.Raw)
			}
			resp, err := d.client.VerifyPeer(ctx, &danev1.VerifyPeerRequest{Domain: tc.domain, MxHost: tc.host, Chain: chain})
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetVerified() != tc.verified || resp.GetReason() != tc.reason || resp.GetHostPolicy() != stsReq {
				t.Errorf("VerifyPeer %s: verified %v reason %v policy %v (%s), want %v %v MTA_STS_REQUIRED", tc.host,
					resp.GetVerified(), resp.GetReason(), resp.GetHostPolicy(), resp.GetDetail(), tc.verified, tc.reason)
			}
		}
	})

	t.Run("Invalidate drops the policy", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		before := w.STSRequests("sts-signed.test")
		inv, err := d.client.Invalidate(ctx, &danev1.InvalidateRequest{Domain: "sts-signed.test"})
		if err != nil {
			t.Fatal(err)
		}
		if inv.GetRemoved() == 0 {
			t.Error("Invalidate removed nothing")
		}
		if r := d.validate(t, "sts-signed.test", false); r.GetMtaSts().GetFromCache() {
			t.Error("the policy came from the cache after Invalidate")
		}
		if n := w.STSRequests("sts-signed.test"); n != before+1 {
			t.Errorf("%d HTTPS requests, want %d: the policy fetched again", n, before+1)
		}
	})

	t.Run("the fetcher obeys --probe-allow", func(t *testing.T) {
		ec := stsConfig(w, u.Addr(), "")
		ec.ProbeAllow = nil
		strict := startSTSDaned(t, w, ec)
		before := w.STSRequests("sts-signed.test")
		m := strict.validate(t, "sts-signed.test", false).GetMtaSts()
		if m.GetFailure() != danev1.Reason_REASON_STS_POLICY_FETCH_FAILED || !strings.Contains(m.GetDetail(), "no permitted address") {
			t.Errorf("mta_sts %v, want a fetch failure for want of a permitted address", m)
		}
		if n := w.STSRequests("sts-signed.test"); n != before {
			t.Errorf("%d HTTPS requests, want %d", n, before)
		}
	})

	t.Run("the cached policy survives a restart while the policy host is down and the TXT record blocked", func(t *testing.T) {
		const domain = "sts-downgrade.test"
		r := d.validate(t, domain, false)
		if r.GetPolicySource() != srcSTS || w.STSRequests(domain) != 1 {
			t.Fatalf("first validation: source %v, %d requests", r.GetPolicySource(), w.STSRequests(domain))
		}
		d.stop()
		// The attacker: the policy host unreachable, the TXT record
		// dropped; a new Unbound, so that nothing it cached hides that.
		w.StopPolicyHost(domain)
		if err := w.BlockName("_mta-sts."+domain, dns.TypeTXT); err != nil {
			t.Fatal(err)
		}
		u2 := testworld.StartUnboundT(t, w)

		restarted := startSTSDaned(t, w, stsConfig(w, u2.Addr(), stateDir))
		r = restarted.validate(t, domain, false)
		m := r.GetMtaSts()
		if r.GetAction() != deliver || r.GetPolicySource() != srcSTS || r.GetMxHosts()[0].GetHostPolicy() != stsReq {
			t.Fatalf("after the restart: %v/%v source %v, want DELIVER under MTA-STS enforce (%s)", r.GetAction(), r.GetPolicy(), r.GetPolicySource(), r.GetPolicySourceDetail())
		}
		if !m.GetFromCache() || m.GetMode() != danev1.MtaStsMode_MTA_STS_MODE_ENFORCE || m.GetFailure() != danev1.Reason_REASON_STS_POLICY_FETCH_FAILED {
			t.Errorf("mta_sts %v, want the stored enforce policy standing in for a failed discovery", m)
		}
		if !strings.Contains(r.GetPolicySourceDetail(), "cached one") {
			t.Errorf("policy source detail %q does not say the cached policy stands in", r.GetPolicySourceDetail())
		}
		if n := w.STSRequests(domain); n != 1 {
			t.Errorf("%d HTTPS requests, want 1", n)
		}

		// Without the state store the same attack succeeds: no policy.
		fresh := startSTSDaned(t, w, stsConfig(w, u2.Addr(), t.TempDir()))
		if r := fresh.validate(t, domain, false); r.GetPolicySource() != srcNone || r.GetMtaSts().GetMode() != danev1.MtaStsMode_MTA_STS_MODE_UNSPECIFIED {
			t.Errorf("a daned with an empty state dir: source %v, mta_sts %v; want no policy", r.GetPolicySource(), r.GetMtaSts())
		}
	})
}
