// Package protoconv maps engine results to the dane.v1 API messages. It
// imports no gRPC, so that every front door (the gRPC server, the web
// page's JSON) and danectl's in-process check give the same response for
// the same verdict.
package protoconv

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/daned/daned/dane"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/mtasts"
	danev1 "github.com/daned/daned/proto/dane/v1"
)

// ToProto maps an engine result to the API response.
func ToProto(r *engine.Result) *danev1.ValidateResponse {
	out := &danev1.ValidateResponse{
		Domain:           r.Domain,
		Policy:           danev1.Policy(r.Verdict.Policy),
		Action:           danev1.Action(r.Verdict.Action),
		Reason:           danev1.Reason(r.Verdict.Reason),
		StatusCode:       r.Verdict.Status.Code,
		StatusText:       r.Verdict.Text,
		TlsrptResultType: r.Verdict.Status.TLSRPT,
		CheckedAt:        timestamppb.New(r.CheckedAt),
		Ttl:              durationpb.New(r.TTL),
		FromCache:        r.FromCache,
		MxSecurity:       dnsSecurity(r.MXState),
		ImplicitMx:       r.ImplicitMX,
		PolicyOnly:       r.PolicyOnly,

		PolicySource:       PolicySource(r.PolicySource),
		PolicySourceDetail: r.PolicySourceDetail,
	}
	if r.MTASTS != nil {
		out.MtaSts = MTASTS(r.MTASTS)
	}
	for i := range r.Hosts {
		out.MxHosts = append(out.MxHosts, mxHost(&r.Hosts[i]))
	}
	return out
}

func mxHost(h *engine.Host) *danev1.MxHost {
	out := &danev1.MxHost{
		Name:              h.Name,
		Preference:        uint32(h.Preference),
		MxSecurity:        dnsSecurity(h.MXState),
		AddressSecurity:   dnsSecurity(h.AddressState),
		CnameChain:        h.CNAMEChain,
		TlsaBaseDomain:    h.TLSABase,
		TlsaSecurity:      dnsSecurity(h.TLSAState),
		HostPolicy:        danev1.Policy(h.Policy),
		Reason:            danev1.Reason(h.Reason),
		UsableForDelivery: h.Usable,
		Detail:            h.Detail,
		ReferenceNames:    h.ReferenceNames,
	}
	if h.STSFailure != dane.ReasonUnspecified {
		out.MtaStsFailure = danev1.Reason(h.STSFailure)
		out.MtaStsResultType = dane.StatusOf(h.STSFailure, false).TLSRPT
	}
	for _, t := range h.TLSA {
		out.Tlsa = append(out.Tlsa, TLSARecord(t))
	}
	for i := range h.Addresses {
		out.Addresses = append(out.Addresses, address(&h.Addresses[i]))
	}
	return out
}

// PolicySource maps the mechanism that decided a verdict.
func PolicySource(s mtasts.Source) danev1.PolicySource {
	switch s {
	case mtasts.SourceDANE:
		return danev1.PolicySource_POLICY_SOURCE_DANE
	case mtasts.SourceMTASTS:
		return danev1.PolicySource_POLICY_SOURCE_MTA_STS
	case mtasts.SourceNone:
		return danev1.PolicySource_POLICY_SOURCE_NONE
	}
	return danev1.PolicySource_POLICY_SOURCE_UNSPECIFIED
}

// MTASTS maps what the policy source found for a domain.
func MTASTS(p *mtasts.PolicyResult) *danev1.MtaSts {
	out := &danev1.MtaSts{
		RecordId:   p.RecordID,
		Mode:       danev1.MtaStsMode(p.Policy.Mode), // mtasts.Mode mirrors the API by value
		MxPatterns: p.Policy.MX,
		FromCache:  p.FromCache,
		PolicyText: p.Text,
		Detail:     p.Detail,
	}
	if p.HasPolicy() {
		out.MaxAge = durationpb.New(p.Policy.MaxAge)
		out.FetchedAt = timestamppb.New(p.FetchedAt)
		out.ExpiresAt = timestamppb.New(p.Expires)
	}
	if p.Failure != mtasts.ReasonNone {
		out.Failure = danev1.Reason(dane.ReasonNamed(p.Failure.String()))
		out.TlsrptResultType = p.Failure.ResultType()
	}
	return out
}

// TLSARecord maps an assessed TLSA record.
func TLSARecord(t dane.AssessedRecord) *danev1.TlsaRecord {
	return &danev1.TlsaRecord{
		Usage:          uint32(t.Usage),
		Selector:       uint32(t.Selector),
		MatchingType:   uint32(t.MatchingType),
		Data:           hex.EncodeToString(t.Data),
		Usable:         t.Usable,
		UnusableReason: t.Why,
	}
}

func address(a *engine.Address) *danev1.AddressResult {
	out := &danev1.AddressResult{
		Ip:              a.IP.String(),
		Reason:          danev1.Reason(a.Reason),
		StarttlsOffered: a.STARTTLSOffered,
		TlsVersion:      engine.TLSVersionName(a.TLSVersion),
		CipherSuite:     engine.CipherSuiteName(a.CipherSuite),
		Elapsed:         durationpb.New(a.Elapsed),
		Detail:          a.Detail,
		Authenticated:   a.Authenticated,
	}
	if a.Matched >= 0 {
		out.MatchedTlsaIndex = proto.Uint32(uint32(a.Matched))
	}
	for _, c := range a.Chain {
		out.Chain = append(out.Chain, certificate(c))
	}
	return out
}

func certificate(c *x509.Certificate) *danev1.Certificate {
	certSum := sha256.Sum256(c.Raw)
	spkiSum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return &danev1.Certificate{
		Subject:    c.Subject.String(),
		Issuer:     c.Issuer.String(),
		DnsNames:   c.DNSNames,
		NotBefore:  timestamppb.New(c.NotBefore),
		NotAfter:   timestamppb.New(c.NotAfter),
		Sha256:     hex.EncodeToString(certSum[:]),
		SpkiSha256: hex.EncodeToString(spkiSum[:]),
	}
}

func dnsSecurity(s engine.DNSState) danev1.DnsSecurity {
	switch s {
	case engine.DNSSecure:
		return danev1.DnsSecurity_DNS_SECURITY_SECURE
	case engine.DNSInsecure:
		return danev1.DnsSecurity_DNS_SECURITY_INSECURE
	case engine.DNSBogus:
		return danev1.DnsSecurity_DNS_SECURITY_BOGUS
	case engine.DNSIndeterminate:
		return danev1.DnsSecurity_DNS_SECURITY_INDETERMINATE
	case engine.DNSFailed:
		return danev1.DnsSecurity_DNS_SECURITY_LOOKUP_FAILED
	}
	return danev1.DnsSecurity_DNS_SECURITY_UNSPECIFIED
}
