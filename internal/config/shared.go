package config

import (
	"bytes"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/daned/daned/shared"
)

// SharedFlags are the flags of the store daned's replicas share (package
// shared, over Redis). Without --redis daned runs alone.
type SharedFlags struct {
	// Redis is the URL of the shared Redis: redis://[user:password@]host:port[/db]
	// or rediss:// for TLS; empty: no sharing.
	Redis string
	// SecretFile holds the secret (at least 32 bytes once surrounding
	// white space is trimmed) that authenticates shared entries; every
	// replica has the same. Required with Redis.
	SecretFile string
	// Timeout bounds each Redis call; 0 means shared's default (100ms).
	Timeout time.Duration
	// Prefix starts every key and channel; "" means "daned:".
	Prefix string
	// Lease is how long the others wait for a replica that died while it
	// validated; 0 means shared's default (5s).
	Lease time.Duration
	// CAFile holds the PEM certificates that verify a rediss:// server;
	// empty means the system roots.
	CAFile string
}

// Register defines the flags on fs.
func (c *SharedFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.Redis, "redis", "", "Redis shared by daned's replicas (verdicts, DNS answers, probe results, leases, invalidations): redis://[user:password@]host:port[/db], rediss:// for TLS; empty: this replica alone (docs/SHARED.md)")
	fs.StringVar(&c.SecretFile, "shared-secret", "", "file holding the secret, at least 32 bytes, that authenticates shared entries (HMAC-SHA256); the same on every replica; required with --redis")
	fs.DurationVar(&c.Timeout, "redis-timeout", 100*time.Millisecond, "deadline of each Redis call; a slower Redis counts as down and the replica answers on its own")
	fs.StringVar(&c.Prefix, "redis-prefix", "daned:", "prefix of every Redis key and channel daned uses (the Redis ACL grants it this prefix only)")
	fs.DurationVar(&c.Lease, "redis-lease", 5*time.Second, "lifetime of a validation lease: how long the other replicas wait for one that died mid-validation before taking over (a live holder extends it)")
	fs.StringVar(&c.CAFile, "redis-ca", "", "PEM file of the CA certificates that verify a rediss:// server (empty: the system roots)")
}

// Open connects to the shared store when --redis is set, and sets
// ec.Shared so that BuildService shares the caches through it; without
// --redis it returns nil. It needs ec's Logger and ValidateTimeout
// (a replica waits for another's validation at most a little longer than
// a validation may take).
func (c *SharedFlags) Open(ec *EngineFlags) (*shared.Store, error) {
	if c.Redis == "" {
		if c.SecretFile != "" {
			return nil, errors.New("--shared-secret needs --redis")
		}
		return nil, nil
	}
	if c.SecretFile == "" {
		return nil, errors.New("--redis needs --shared-secret: shared entries are authenticated with a secret every replica holds")
	}
	raw, err := os.ReadFile(c.SecretFile)
	if err != nil {
		return nil, fmt.Errorf("--shared-secret: %w", err)
	}
	secret := bytes.TrimSpace(raw)
	if len(secret) < 32 {
		return nil, fmt.Errorf("--shared-secret %s: %d bytes, want at least 32 (head -c 32 /dev/urandom | base64)", c.SecretFile, len(secret))
	}
	if !strings.HasPrefix(c.Redis, "redis://") && !strings.HasPrefix(c.Redis, "rediss://") {
		return nil, errors.New("--redis: want a redis:// or rediss:// URL")
	}
	cfg := shared.Config{URL: c.Redis, Secret: secret, Prefix: c.Prefix, Timeout: c.Timeout, Lease: c.Lease,
		Logger: ec.Logger}
	if ec.ValidateTimeout > 0 {
		cfg.MaxWait = ec.ValidateTimeout + 10*time.Second
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--redis-ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--redis-ca %s: no PEM certificate in it", c.CAFile)
		}
	}
	s, err := shared.New(cfg)
	if err != nil {
		// The URL may hold a password: shared's errors never quote it.
		return nil, fmt.Errorf("--redis: %w", err)
	}
	ec.Shared = s
	return s, nil
}
