package server

import (
	"context"
	"encoding/json"
	"log/slog"

	grpccodes "google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/daned/daned/dnsname"
	danev1 "github.com/daned/daned/proto/dane/v1"
	"github.com/daned/daned/tlsrpt"
	"github.com/daned/daned/tlsrpt/collect"
	"github.com/daned/daned/tlsrpt/reporter"
)

// TLSRPT is TLS reporting as the gRPC door serves it: the collector of
// reported sessions, the reporter and the live counts.
type TLSRPT interface {
	Report(ctx context.Context, in []collect.Input) (accepted int, refused []collect.Refusal, err error)
	SendNow(ctx context.Context, includeCurrent bool) ([]reporter.Sent, error)
	Live(domain string) []tlsrpt.Counts
}

var errTLSRPTOff = status.Error(grpccodes.FailedPrecondition, "TLS reporting is off on this daned (start it with --tlsrpt)")

// ReportSessions counts the sessions an MTA reports.
func (s *Server) ReportSessions(ctx context.Context, req *danev1.ReportSessionsRequest) (*danev1.ReportSessionsResponse, error) {
	if s.tlsrpt == nil {
		return nil, errTLSRPTOff
	}
	if n := len(req.GetResults()); n > collect.MaxBatch {
		return nil, status.Errorf(grpccodes.InvalidArgument, "%d results in one batch; send at most %d", n, collect.MaxBatch)
	}
	in := make([]collect.Input, len(req.GetResults()))
	for i, r := range req.GetResults() {
		in[i] = collect.Input{Domain: r.GetDomain(), MXHost: r.GetMxHost(), ReceivingIP: r.GetReceivingIp(), SendingMTAIP: r.GetSendingMtaIp(),
			ReceivingHELO: r.GetReceivingMxHelo(), Success: r.GetSuccess(), Result: r.GetResultType(), FailureCode: r.GetFailureReasonCode(),
			AdditionalInfo: r.GetAdditionalInformation()}
		if r.GetTime() != nil {
			in[i].Time = r.GetTime().AsTime()
		}
	}
	accepted, refused, err := s.tlsrpt.Report(ctx, in)
	if err != nil {
		return nil, status.Error(grpccodes.InvalidArgument, err.Error())
	}
	resp := &danev1.ReportSessionsResponse{Accepted: uint32(accepted)}
	for _, r := range refused {
		resp.Refused = append(resp.Refused, &danev1.RefusedSession{Index: uint32(r.Index), Reason: r.Reason})
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "report sessions", slog.Int("accepted", accepted), slog.Int("refused", len(refused)))
	return resp, nil
}

// SendReports makes and sends the reports due, at once.
func (s *Server) SendReports(ctx context.Context, req *danev1.SendReportsRequest) (*danev1.SendReportsResponse, error) {
	if s.tlsrpt == nil {
		return nil, errTLSRPTOff
	}
	sent, err := s.tlsrpt.SendNow(ctx, req.GetIncludeCurrentPeriod())
	if err != nil {
		return nil, status.Error(grpccodes.Internal, "making the reports failed: "+err.Error())
	}
	resp := &danev1.SendReportsResponse{}
	for _, r := range sent {
		resp.Reports = append(resp.Reports, &danev1.SentReport{PolicyDomain: r.PolicyDomain, Rua: r.RUA, ReportId: r.ReportID, Ok: r.OK, Error: r.Error})
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "send reports", slog.Bool("include_current_period", req.GetIncludeCurrentPeriod()), slog.Int("attempts", len(sent)))
	return resp, nil
}

// TlsRptCounts returns the live counts of a policy domain.
func (s *Server) TlsRptCounts(ctx context.Context, req *danev1.TlsRptCountsRequest) (*danev1.TlsRptCountsResponse, error) {
	if s.tlsrpt == nil {
		return nil, errTLSRPTOff
	}
	domain, err := dnsname.Normalize(req.GetDomain())
	if err != nil {
		return nil, callError(err)
	}
	resp := &danev1.TlsRptCountsResponse{}
	for _, c := range s.tlsrpt.Live(domain) {
		js, err := json.Marshal(c.Policies)
		if err != nil {
			return nil, status.Error(grpccodes.Internal, err.Error())
		}
		resp.Ranges = append(resp.Ranges, &danev1.TlsRptRange{PolicyDomain: c.PolicyDomain, Start: timestamppb.New(c.Start),
			End: timestamppb.New(c.End), PoliciesJson: string(js)})
	}
	return resp, nil
}
