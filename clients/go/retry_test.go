package daneclient_test

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	daneclient "github.com/daned/daned/clients/go"
)

func TestNextAttempt(t *testing.T) {
	first := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		attempt int
		after   time.Duration
	}{
		{"the first try", 0, 0},
		{"negative is the first try", -1, 0},
		{"first retry after 15 min", 1, 15 * time.Minute},
		{"second retry 15 min more", 2, 30 * time.Minute},
		{"then hourly", 3, 90 * time.Minute},
		{"hourly again", 4, 150 * time.Minute},
		{"last retry before a day", 25, 23*time.Hour + 30*time.Minute},
		{"past a day", 26, 24*time.Hour + 30*time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := daneclient.NextAttempt(first, tc.attempt); !got.Equal(first.Add(tc.after)) {
				t.Errorf("NextAttempt(first, %d) = first+%s, want first+%s", tc.attempt, got.Sub(first), tc.after)
			}
		})
	}
}

func TestFinalCode(t *testing.T) {
	first := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		code      string
		elapsed   time.Duration
		want      string
		permanent bool
	}{
		{"temporary at first", "4.7.323", 0, "4.7.323", false},
		{"still temporary just before a day", "4.7.324", 24*time.Hour - time.Second, "4.7.324", false},
		{"permanent after a day", "4.7.323", 24 * time.Hour, "5.7.323", true},
		{"same subject and detail", "4.4.312", 25 * time.Hour, "5.4.312", true},
		{"5.x.x is permanent at once", "5.1.10", 0, "5.1.10", true},
		{"no code stays as is", "", 48 * time.Hour, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, perm := daneclient.FinalCode(tc.code, first, first.Add(tc.elapsed))
			if got != tc.want || perm != tc.permanent {
				t.Errorf("FinalCode(%q, +%s) = %q, %v; want %q, %v", tc.code, tc.elapsed, got, perm, tc.want, tc.permanent)
			}
		})
	}
}

// TestRetriesUnavailableOnly checks that a call is retried on Unavailable
// up to the maximum, and that other codes are not retried.
func TestRetriesUnavailableOnly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: every attempt is Unavailable
	attempts := 0
	count := grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		attempts++
		return invoker(ctx, method, req, reply, cc, opts...)
	})
	c, err := daneclient.Dial(addr, daneclient.WithInsecure(), daneclient.WithMaxAttempts(3),
		daneclient.WithBackoff(time.Millisecond, 4*time.Millisecond), daneclient.WithDialOptions(count))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Validate(context.Background(), "example.com")
	if status.Code(err) != codes.Unavailable || attempts != 3 {
		t.Fatalf("err %v after %d attempts, want Unavailable after 3", err, attempts)
	}

	attempts = 0
	refuse := grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		attempts++
		return status.Error(codes.InvalidArgument, "bad domain")
	})
	c2, err := daneclient.Dial(addr, daneclient.WithInsecure(), daneclient.WithMaxAttempts(3), daneclient.WithDialOptions(refuse))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := c2.Validate(context.Background(), "x"); status.Code(err) != codes.InvalidArgument || attempts != 1 {
		t.Fatalf("err %v after %d attempts, want InvalidArgument after 1", err, attempts)
	}
}
