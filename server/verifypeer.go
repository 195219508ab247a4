package server

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	grpccodes "google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/dnsname"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/mtasts"
	danev1 "github.com/daned/daned/proto/dane/v1"
	"github.com/daned/daned/protoconv"
)

// Bounds on the chain of a VerifyPeer request. Real SMTP servers send two
// to four certificates of a few KiB each; the bounds keep a caller from
// making daned parse megabytes.
const (
	maxPeerCerts      = 16
	maxPeerChainBytes = 64 << 10
)

// VerifyPeer implements dane.v1.DaneService.VerifyPeer: it authenticates
// the chain an MTA received on its own connection against the TLSA
// records of the MX host as a policy-only validation of the domain found
// them (from the verdict cache when it holds one), with the same dane
// code and reference names as the probes, at the current time; for a host
// under an enforced MTA-STS policy, with the same mtasts.VerifyHost as
// the probes, against the WebPKI roots.
func (s *Server) VerifyPeer(ctx context.Context, req *danev1.VerifyPeerRequest) (*danev1.VerifyPeerResponse, error) {
	chain, err := parseChain(req.GetChain())
	if err != nil {
		return nil, status.Error(grpccodes.InvalidArgument, err.Error())
	}
	mx, err := dnsname.Normalize(req.GetMxHost())
	if err != nil {
		if _, derr := dnsname.Normalize(req.GetDomain()); derr != nil {
			return nil, callError(derr)
		}
		return nil, status.Error(grpccodes.InvalidArgument, "mx_host: "+err.Error())
	}
	d, err := s.verdicts.Decide(ctx, req.GetDomain(), engine.Options{PolicyOnly: true})
	if err != nil {
		return nil, callError(err)
	}
	domain := d.Result.Domain
	resp := verifyPeer(d.Result, mx, chain, s.clock(), s.roots)
	s.log.LogAttrs(ctx, slog.LevelInfo, "verify peer",
		slog.String("domain", domain),
		slog.String("mx_host", mx),
		slog.Bool("verified", resp.GetVerified()),
		slog.String("reason", strings.TrimPrefix(resp.GetReason().String(), "REASON_")),
		slog.String("host_policy", strings.TrimPrefix(resp.GetHostPolicy().String(), "POLICY_")))
	return resp, nil
}

// clock is the time of VerifyPeer's DANE-TA validity checks.
func (s *Server) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// parseChain checks a VerifyPeer chain against the bounds and parses it.
// Unlike dane.VerifyDER, which takes a certificate that does not parse as
// an invalid chain (the handshake would have failed), it rejects one: a
// caller that sends something other than the DER it received has made a
// mistake, and saying so is kinder than a verdict.
func parseChain(ders [][]byte) ([]*x509.Certificate, error) {
	if len(ders) == 0 {
		return nil, errors.New("chain: no certificate (send the server's certificates, DER, leaf first)")
	}
	if len(ders) > maxPeerCerts {
		return nil, fmt.Errorf("chain: %d certificates, at most %d are accepted", len(ders), maxPeerCerts)
	}
	total := 0
	for _, d := range ders {
		total += len(d)
	}
	if total > maxPeerChainBytes {
		return nil, fmt.Errorf("chain: %d bytes of certificates, at most %d are accepted", total, maxPeerChainBytes)
	}
	certs := make([]*x509.Certificate, len(ders))
	for i, d := range ders {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			return nil, fmt.Errorf("chain[%d] is not a DER X.509 certificate: %v", i, err)
		}
		certs[i] = c
	}
	return certs, nil
}

// verifyPeer judges a chain presented by host mx against a policy-only
// verdict r (see VerifyPeerResponse in dane.proto for the semantics): it
// finds the host and maps dane.CheckPeer's result, or for a host under an
// enforced MTA-STS policy mtasts.VerifyHost's, the checks the Go client's
// TLS hook makes too, onto the response. r is shared with the verdict
// cache: it is only read.
func verifyPeer(r *engine.Result, mx string, chain []*x509.Certificate, now time.Time, roots *x509.CertPool) *danev1.VerifyPeerResponse {
	out := &danev1.VerifyPeerResponse{Domain: r.Domain, MxHost: mx}
	var h *engine.Host
	for i := range r.Hosts {
		if r.Hosts[i].Name == mx {
			h = &r.Hosts[i]
			break
		}
	}
	if h == nil || h.Reason == dane.ReasonNotConsidered {
		if len(r.Hosts) == 0 && r.Verdict.Reason != dane.ReasonOK {
			// No MX RRset to speak of: null MX, no such domain, or the
			// MX lookup failed. The domain's reason is the answer.
			return peerFail(out, r.Verdict.Reason, true, r.Verdict.Text)
		}
		out.Reason = danev1.Reason_REASON_NOT_CONSIDERED
		var names []string
		for _, c := range r.Hosts {
			if c.Reason != dane.ReasonNotConsidered {
				names = append(names, c.Name)
			}
		}
		out.Detail = fmt.Sprintf("%s is not an MX host daned judged for %s (those are: %s); daned knows no policy for it",
			mx, r.Domain, strings.Join(names, ", "))
		return out
	}
	out.HostPolicy = danev1.Policy(h.Policy)
	out.ReferenceNames = h.ReferenceNames
	if h.Reason != dane.ReasonOK {
		// The host's own lookups failed (RFC 7672 §2.1.2), or an enforced
		// MTA-STS policy does not name it: mail must not go through it,
		// whatever it presents.
		return peerFail(out, h.Reason, h.Reason != dane.ReasonMXNotInPolicy, h.Detail)
	}
	if h.Policy == dane.PolicyMTASTSRequired && r.MTASTS != nil {
		// RFC 8461 §4: the pattern and the WebPKI chain for the host name.
		err := mtasts.VerifyHost(chain, roots, mx, r.MTASTS.Policy.MX, now)
		var he *mtasts.HostError
		if errors.As(err, &he) {
			out = peerFail(out, dane.ReasonNamed(he.Reason.String()), false, fmt.Sprintf("%s: %s (RFC 8461 §4)", mx, he.Detail))
			st := dane.StatusOfSTS(dane.Reason(out.Reason), false)
			out.StatusCode, out.TlsrptResultType = st.Code, st.TLSRPT
			return out
		}
		if err != nil {
			return peerFail(out, dane.ReasonCertNotTrusted, false, fmt.Sprintf("%s: %v", mx, err))
		}
		out.Reason, out.Verified = danev1.Reason_REASON_OK, true
		out.Detail = fmt.Sprintf("%s: the chain is valid under the WebPKI for %s, which the domain's MTA-STS policy names (RFC 8461 §4)", mx, mx)
		return out
	}
	if !h.Policy.Enforceable() {
		return peerFail(out, r.Verdict.Reason, true, h.Detail)
	}
	var rrset []dane.AssessedRecord
	if h.Policy.RequiresAuthentication() {
		rrset = h.TLSA
	}
	m := dane.CheckPeer(dane.PeerPolicy{Policy: h.Policy, TLSABase: h.TLSABase, TLSA: rrset, ReferenceNames: h.ReferenceNames}, chain, now)
	if m.Reason != dane.ReasonOK {
		return peerFail(out, m.Reason, false, fmt.Sprintf("%s: %s", mx, m.Detail))
	}
	out.Reason = danev1.Reason_REASON_OK
	out.Detail = fmt.Sprintf("%s: %s", mx, m.Detail)
	if m.Authenticated {
		i := uint32(m.Matched)
		out.Verified = true
		out.MatchedTlsaIndex = &i
		out.MatchedRecord = protoconv.TLSARecord(h.TLSA[m.Matched])
	}
	return out
}

// peerFail fills a response that must not be delivered over.
func peerFail(out *danev1.VerifyPeerResponse, r dane.Reason, inDNS bool, detail string) *danev1.VerifyPeerResponse {
	if r == dane.ReasonOK || r == dane.ReasonUnspecified {
		r = dane.ReasonNotConsidered
	}
	st := dane.StatusOf(r, inDNS)
	out.Verified = false
	out.Reason = danev1.Reason(r)
	out.StatusCode = st.Code
	out.TlsrptResultType = st.TLSRPT
	out.Detail = detail
	if detail == "" {
		out.Detail = fmt.Sprintf("mail must not go through %s: %s", out.GetMxHost(), r)
	}
	return out
}
