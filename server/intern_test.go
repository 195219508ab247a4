package server_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"google.golang.org/protobuf/proto"

	danev1 "github.com/daned/daned/proto/dane/v1"
	"github.com/daned/daned/server"
)

// Cached verdicts of domains at the same MX hosts share the hosts'
// sub-messages, and say exactly what ToProto says.
func TestCachedVerdictsShareHosts(t *testing.T) {
	eng := &realisticEngine{p: hostPKIT(t), pairs: [][2]string{{"mx1.provider0.example", "mx2.provider0.example"}}}
	s, err := server.New(server.Config{Engine: eng, CacheSize: 10, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var got []*danev1.ValidateResponse
	for _, d := range []string{"a.example", "b.example"} {
		r, err := s.Validate(ctx, &danev1.ValidateRequest{Domain: d})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := eng.Validate(ctx, d, engineOptions)
		if !proto.Equal(r, server.ToProto(want)) {
			t.Errorf("%s: cached verdict differs from ToProto:\n%v\n%v", d, r, server.ToProto(want))
		}
		got = append(got, r)
	}
	for i := range got[0].GetMxHosts() {
		if got[0].GetMxHosts()[i] != got[1].GetMxHosts()[i] {
			t.Errorf("host %d is held twice", i)
		}
	}
}
