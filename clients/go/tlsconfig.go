package daneclient

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"

	"github.com/daned/daned/dane"
	danev1 "github.com/daned/daned/proto/dane/v1"
)

// HostError says why HostTLSConfig gave no configuration: the host may
// not take mail (its DNS lookups failed, or it is not an MX host of the
// domain daned judged). Try the next MX host, else defer with Code.
type HostError struct {
	Host   string
	Reason danev1.Reason
	Code   string // enhanced status code to defer with, such as "4.7.324"; "" when none
	Detail string // safe to show to a mail admin
}

func (e *HostError) Error() string {
	return fmt.Sprintf("daneclient: MX host %s may not be used: %s: %s",
		e.Host, strings.TrimPrefix(e.Reason.String(), "REASON_"), e.Detail)
}

// VerifyError is the error VerifyConnection returns when a DANE_REQUIRED
// host's chain is not authenticated by its TLSA records; the TLS
// handshake fails with it, and errors.As finds it.
type VerifyError struct {
	Host   string
	Reason dane.Reason
	Detail string // names the record and certificate involved
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("daneclient: DANE authentication of %s failed: %s: %s (%s)",
		e.Host, e.Reason, e.Detail, dane.StatusOf(e.Reason, false).Code)
}

// TLSConfig returns the TLS configuration for the caller's own
// connection to mxHost, an MX host of domain, from a policy-only Validate
// (one call, usually answered from daned's cache; none per connection).
// See HostTLSConfig.
func (c *Client) TLSConfig(ctx context.Context, domain, mxHost string) (*tls.Config, error) {
	resp, err := c.Policy(ctx, domain)
	if err != nil {
		return nil, err
	}
	name := strings.TrimSuffix(strings.ToLower(mxHost), ".")
	for _, h := range resp.GetMxHosts() {
		if h.GetName() == name {
			return c.HostTLSConfig(h)
		}
	}
	return nil, &HostError{Host: name, Reason: danev1.Reason_REASON_NOT_CONSIDERED,
		Detail: fmt.Sprintf("not an MX host of %s as daned sees it (%s)", resp.GetDomain(), resp.GetStatusText())}
}

// HostTLSConfig returns the TLS configuration enforcing the policy of
// one MX host of a Validate or Policy response:
//
//   - ServerName is the TLSA base domain (the SNI RFC 7672 §8.1 asks
//     for), or the host name when there is none; MinVersion is TLS 1.2.
//   - InsecureSkipVerify is set, because DANE, not the Web PKI, decides:
//     VerifyConnection (which crypto/tls runs even then) does.
//   - VerifyConnection judges the chain with dane.CheckPeer, the same
//     check daned's VerifyPeer makes, with DANE-TA validity at the
//     client's clock.
//   - DANE_REQUIRED: the chain must be authenticated by the host's usable
//     TLSA records and reference_names; otherwise the handshake fails
//     with a *VerifyError.
//   - TLS_REQUIRED (no usable record) and OPPORTUNISTIC: any chain is
//     accepted; that TLS is mandatory for TLS_REQUIRED is the caller's to
//     enforce (never fall back to cleartext for it).
//
// A host that may not take mail (reason other than OK) gets a *HostError.
func (c *Client) HostTLSConfig(h *danev1.MxHost) (*tls.Config, error) {
	if h.GetReason() != danev1.Reason_REASON_OK || !h.GetUsableForDelivery() {
		return nil, &HostError{Host: h.GetName(), Reason: h.GetReason(),
			Code: dane.StatusOf(dane.Reason(h.GetReason()), true).Code, Detail: h.GetDetail()}
	}
	server := h.GetTlsaBaseDomain()
	if server == "" {
		server = h.GetName()
	}
	cfg := &tls.Config{
		ServerName:         server,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // DANE decides, in VerifyConnection
	}
	p := dane.Policy(h.GetHostPolicy())
	if !p.Enforceable() {
		return nil, &HostError{Host: h.GetName(), Reason: danev1.Reason_REASON_NOT_CONSIDERED,
			Detail: fmt.Sprintf("host policy %s leaves nothing to enforce", h.GetHostPolicy())}
	}
	peer := dane.PeerPolicy{Policy: p, TLSABase: h.GetTlsaBaseDomain()}
	if p.RequiresAuthentication() {
		rrset, err := assessed(h.GetTlsa())
		if err != nil {
			return nil, err
		}
		peer.TLSA = rrset
		peer.ReferenceNames = append([]string(nil), h.GetReferenceNames()...)
	}
	host, now := h.GetName(), c.o.now
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		m := dane.CheckPeer(peer, cs.PeerCertificates, now())
		if m.Reason != dane.ReasonOK {
			return &VerifyError{Host: host, Reason: m.Reason, Detail: m.Detail}
		}
		return nil
	}
	return cfg, nil
}

// assessed rebuilds the assessed TLSA RRset from the API's records,
// keeping daned's usable flags (dane.Assess with digest agility), so the
// caller authenticates against exactly the records daned's probes use.
func assessed(recs []*danev1.TlsaRecord) ([]dane.AssessedRecord, error) {
	out := make([]dane.AssessedRecord, len(recs))
	for i, t := range recs {
		rec, err := dane.ParseRecord(uint8(t.GetUsage()), uint8(t.GetSelector()), uint8(t.GetMatchingType()), t.GetData())
		if err != nil {
			return nil, fmt.Errorf("daneclient: TLSA record [%d]: %w", i, err)
		}
		out[i] = dane.AssessedRecord{Record: rec, Usable: t.GetUsable(), Why: t.GetUnusableReason()}
	}
	return out, nil
}
