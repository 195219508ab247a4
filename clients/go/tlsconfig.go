package daneclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/mtasts"
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
// host's chain is not authenticated by its TLSA records, or an
// MTA_STS_REQUIRED host's chain is not valid under the WebPKI for its
// name; the TLS handshake fails with it, and errors.As finds it.
type VerifyError struct {
	Host   string
	Reason dane.Reason
	Detail string // names the record and certificate involved
	// MTASTS: the host is under an enforced MTA-STS policy (RFC 8461 §4),
	// not DANE; Code then comes from dane.StatusOfSTS.
	MTASTS bool
}

// Code is the enhanced status code to defer with, such as "4.7.323".
func (e *VerifyError) Code() string {
	if e.MTASTS {
		return dane.StatusOfSTS(e.Reason, false).Code
	}
	return dane.StatusOf(e.Reason, false).Code
}

func (e *VerifyError) Error() string {
	what := "DANE authentication"
	if e.MTASTS {
		what = "MTA-STS WebPKI validation"
	}
	return fmt.Sprintf("daneclient: %s of %s failed: %s: %s (%s)", what, e.Host, e.Reason, e.Detail, e.Code())
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
			return c.HostTLSConfigFor(resp, h)
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
//   - MTA_STS_REQUIRED needs the domain's MTA-STS policy, which only the
//     whole response has: HostTLSConfig refuses such a host with a
//     *HostError; use HostTLSConfigFor.
//
// A host that may not take mail (reason other than OK) gets a *HostError.
func (c *Client) HostTLSConfig(h *danev1.MxHost) (*tls.Config, error) {
	return c.hostTLSConfig(h, nil)
}

// HostTLSConfigFor is HostTLSConfig for a host of resp, a Validate or
// Policy response, which also handles MTA_STS_REQUIRED hosts (RFC 8461
// §4): ServerName is the MX host name, and VerifyConnection requires, with
// mtasts.VerifyHost (the check daned's probes and VerifyPeer make), that
// the host name match one of the policy's mx patterns and the chain be
// valid under the WebPKI roots (WithWebPKIRoots, else the system's) for
// that name at the client's clock; otherwise the handshake fails with a
// *VerifyError whose MTASTS is set. TLS is mandatory for such a host:
// never fall back to cleartext.
func (c *Client) HostTLSConfigFor(resp *danev1.ValidateResponse, h *danev1.MxHost) (*tls.Config, error) {
	return c.hostTLSConfig(h, resp.GetMtaSts())
}

func (c *Client) hostTLSConfig(h *danev1.MxHost, sts *danev1.MtaSts) (*tls.Config, error) {
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
	if p == dane.PolicyMTASTSRequired {
		return c.stsTLSConfig(h, sts)
	}
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

// stsTLSConfig enforces an enforced MTA-STS policy on one host.
func (c *Client) stsTLSConfig(h *danev1.MxHost, sts *danev1.MtaSts) (*tls.Config, error) {
	host := h.GetName()
	patterns := append([]string(nil), sts.GetMxPatterns()...)
	if len(patterns) == 0 {
		return nil, &HostError{Host: host, Reason: danev1.Reason_REASON_NOT_CONSIDERED,
			Detail: "an MTA_STS_REQUIRED host is checked against the domain's MTA-STS policy: use HostTLSConfigFor with the whole response, or TLSConfig"}
	}
	roots := c.o.roots
	if roots == nil {
		var err error
		if roots, err = x509.SystemCertPool(); err != nil {
			return nil, fmt.Errorf("daneclient: the system WebPKI roots: %w", err)
		}
	}
	now := c.o.now
	return &tls.Config{
		ServerName:         host,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // mtasts.VerifyHost decides, in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			err := mtasts.VerifyHost(cs.PeerCertificates, roots, host, patterns, now())
			if err == nil {
				return nil
			}
			ve := &VerifyError{Host: host, Reason: dane.ReasonCertNotTrusted, Detail: err.Error(), MTASTS: true}
			var he *mtasts.HostError
			if errors.As(err, &he) {
				ve.Reason, ve.Detail = dane.ReasonNamed(he.Reason.String()), he.Detail
			}
			return ve
		},
	}, nil
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
