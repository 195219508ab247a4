package server

import (
	"context"

	"github.com/daned/daned/engine"
)

// HostEncodings returns the mx_hosts fields the gRPC door keeps for the
// cached verdict of domain.
func HostEncodings(s *Server, ctx context.Context, domain string) [][]byte {
	d, err := s.verdicts.Decide(ctx, domain, engine.Options{})
	if err != nil {
		return nil
	}
	return s.wireOf(d.Verdict).hosts
}
