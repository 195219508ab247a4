package fleet_test

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/daned/daned/internal/redistest"
	"github.com/daned/daned/shared"
	"github.com/daned/daned/shared/fleet"
)

var _ fleet.Backend = (*shared.Store)(nil)

// redisServer is a real redis-server on a loopback port of its own.
type redisServer struct{ *redistest.Server }

func startRedis(t *testing.T) *redisServer {
	t.Helper()
	return &redisServer{redistest.Start(t, redistest.Config{})}
}

func (s *redisServer) kill()    { s.Kill() }
func (s *redisServer) restart() { s.Restart() }

// client is a plain client of the server: what someone with write access
// to Redis but not the secret has.
func (s *redisServer) client(t *testing.T) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// backend is the shared store of a replica, with the fleet's secret
// (made long enough from secret) and clock. It tries Redis again at once
// after a failure, so that the tests need not wait out a back-off.
func (s *redisServer) backend(t *testing.T, secret string, now func() time.Time) *shared.Store {
	t.Helper()
	st, err := shared.New(shared.Config{URL: s.URL(), Secret: []byte(secret + strings.Repeat(".", 32)), Now: now,
		Timeout: 2 * time.Second, Backoff: time.Nanosecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}
