// Package config maps command-line flags and DANED_* environment variables
// one to one onto the configuration of daned's components, and builds the
// engine from them, with the MTA-STS policy source beside it. daned and
// danectl share it, so the same resolver, probe and MTA-STS flags mean the
// same thing in both.
package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/daned/daned/cache"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/mtasts/manager"
	"github.com/daned/daned/probe"
	"github.com/daned/daned/shared"
	"github.com/daned/daned/state"
	"github.com/daned/daned/telemetry"
)

// EnvPrefix starts the environment variable of every flag: --probe-allow
// is DANED_PROBE_ALLOW.
const EnvPrefix = "DANED_"

// EnvName returns the environment variable of a flag.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// ApplyEnv sets every flag of fs whose environment variable is set, so
// that the environment overrides the default and the command line
// overrides the environment. Call it after defining the flags and before
// fs.Parse.
func ApplyEnv(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil {
			return
		}
		if v, ok := lookup(EnvName(f.Name)); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %v", EnvName(f.Name), v, e)
			}
		}
	})
	return err
}

// Usage returns a usage function that lists every flag with its
// environment variable and default.
func Usage(fs *flag.FlagSet, synopsis string) func() {
	return func() {
		w := fs.Output()
		fmt.Fprintf(w, "%s\n\nFlags (each also set by its environment variable):\n", synopsis)
		fs.VisitAll(func(f *flag.Flag) {
			def := f.DefValue
			if def == "" {
				def = `""`
			}
			fmt.Fprintf(w, "  --%s (%s, default %s)\n    \t%s\n", f.Name, EnvName(f.Name), def, f.Usage)
		})
	}
}

// Prefixes is a repeatable flag of CIDR prefixes; each value may also be a
// comma-separated list (as in an environment variable).
type Prefixes []netip.Prefix

// String implements flag.Value.
func (p *Prefixes) String() string {
	s := make([]string, len(*p))
	for i, x := range *p {
		s[i] = x.String()
	}
	return strings.Join(s, ",")
}

// Set implements flag.Value.
func (p *Prefixes) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(part)
		if err != nil {
			addr, aerr := netip.ParseAddr(part)
			if aerr != nil {
				return fmt.Errorf("%q is not a CIDR prefix or address", part)
			}
			pfx = netip.PrefixFrom(addr, addr.BitLen())
		}
		*p = append(*p, pfx.Masked())
	}
	return nil
}

// EngineFlags holds the flags that configure the resolver, the prober,
// their caches and the engine; Build and BuildService make the engine
// from them.
type EngineFlags struct {
	ResolverFlags
	Resolver         string
	ResolverTrusted  bool
	ResolverTimeout  time.Duration
	HeloName         string
	TLSMinVersion    string
	ProbePort        int
	ProbeTimeout     time.Duration
	ProbeStepTimeout time.Duration
	ProbeAllow       Prefixes
	ProbeConcurrency int
	InsecureMXPolicy string
	MaxMXHosts       int
	FailureTTL       time.Duration
	ValidateTimeout  time.Duration
	CacheSize        int
	CacheMinTTL      time.Duration
	CacheMaxTTL      time.Duration
	ProbeCacheTTL    time.Duration

	// MTASTS consults MTA-STS (RFC 8461) for domains without DANE.
	MTASTS bool
	// MTASTSFetchTimeout bounds one policy fetch; 0 means fetch's default
	// (a minute).
	MTASTSFetchTimeout time.Duration
	// MTASTSPort is the policy hosts' HTTPS port; 0 means 443.
	MTASTSPort int
	// StateDir is the directory of the state store that keeps MTA-STS
	// policies across restarts (package state). Not registered by
	// Register: daned defines --state-dir (RegisterStateDir), danectl
	// does not, so that a check never takes daned's store. Empty, or a
	// Build rather than BuildService, keeps policies in memory only.
	StateDir string

	// Metrics counts DNS queries, probes and policy fetches; nil counts
	// nothing. Not a flag: daned sets it from its telemetry.
	Metrics *telemetry.Metrics
	// WebPKIRoots are the roots of MTA-STS's WebPKI checks (policy hosts
	// and MX hosts). Not a flag: nil means the system roots, which honour
	// SSL_CERT_FILE and SSL_CERT_DIR; tests pass their own CA.
	WebPKIRoots *x509.CertPool
	// Logger receives the MTA-STS manager's fetch failures; nil means
	// slog.Default(). Not a flag.
	Logger *slog.Logger
	// Now is the clock of the engine and of the MTA-STS manager (fetch
	// times, expiry); nil means time.Now. Not a flag: tests fix it.
	Now func() time.Time
	// Shared is the store the replicas share (SharedFlags.Open sets it):
	// BuildService reads and writes the verdicts, DNS answers and probe
	// results through it, and Built.Close closes it. nil: this process
	// alone. Not a flag.
	Shared *shared.Store
}

// Register defines the flags on fs with their production defaults.
func (c *EngineFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.Resolver, "resolver", DefaultResolver, ResolverUsage)
	fs.BoolVar(&c.ResolverTrusted, "resolver-trusted", false, "allow a resolver that is not on loopback (the channel to it must be trusted, RFC 7672 §2.1.1)")
	fs.DurationVar(&c.ResolverTimeout, "resolver-timeout", 2*time.Second, "deadline of one DNS query attempt")
	fs.StringVar(&c.HeloName, "helo-name", "", "EHLO name of the probes (empty: this machine's FQDN)")
	fs.StringVar(&c.TLSMinVersion, "tls-min-version", "1.2", "lowest TLS version the probes accept: 1.0, 1.1, 1.2 or 1.3 (RFC 7671 §3)")
	fs.IntVar(&c.ProbePort, "probe-port", 25, "SMTP port the probes connect to")
	fs.DurationVar(&c.ProbeTimeout, "probe-timeout", 30*time.Second, "deadline of one whole STARTTLS probe")
	fs.DurationVar(&c.ProbeStepTimeout, "probe-step-timeout", 10*time.Second, "deadline of each probe step (connect, banner, EHLO, STARTTLS, handshake)")
	fs.Var(&c.ProbeAllow, "probe-allow", "CIDR range the probes may connect to although it is internal (loopback, private, …); repeatable or comma-separated")
	fs.IntVar(&c.ProbeConcurrency, "probe-concurrency", 64, "most probes running at once")
	fs.StringVar(&c.InsecureMXPolicy, "insecure-mx-policy", "dane", "hosts of an insecure MX RRset: dane (use their secure TLSA, like Postfix) or may (opportunistic TLS only); RFC 7672 §2.2.1")
	fs.IntVar(&c.MaxMXHosts, "max-mx-hosts", 10, "most MX hosts considered per domain, in preference order")
	fs.DurationVar(&c.FailureTTL, "failure-ttl", 30*time.Second, "longest time a verdict resting on a failure may be reused")
	fs.DurationVar(&c.ValidateTimeout, "validate-timeout", 60*time.Second, "deadline of a whole validation when the caller sets none")
	fs.IntVar(&c.CacheSize, "cache-size", 100000, "most entries of each cache (verdicts, DNS answers, probe results); 0 disables caching")
	fs.DurationVar(&c.CacheMinTTL, "cache-min-ttl", 0, "shortest time a DNS answer is cached, whatever its TTL (0: its TTL; a TTL of 0 is not cached)")
	fs.DurationVar(&c.CacheMaxTTL, "cache-max-ttl", time.Hour, "longest time a DNS answer is cached, whatever its TTL")
	fs.DurationVar(&c.ProbeCacheTTL, "probe-cache-ttl", 10*time.Minute, "longest time a probe result is reused (never past the TLSA TTL)")
	fs.BoolVar(&c.MTASTS, "mta-sts", true, "consult MTA-STS (RFC 8461) for domains without DANE: DANE always comes first, and a DANE failure is never rescued")
	fs.DurationVar(&c.MTASTSFetchTimeout, "mta-sts-fetch-timeout", 20*time.Second, "deadline of one MTA-STS policy fetch over HTTPS: address lookup, connection, TLS, request and body (RFC 8461 §3.3)")
	fs.IntVar(&c.MTASTSPort, "mta-sts-port", 443, "HTTPS port of MTA-STS policy hosts")
	c.ResolverFlags.Register(fs)
}

// RegisterStateDir defines --state-dir, with state.DefaultDir as its
// default.
func (c *EngineFlags) RegisterStateDir(fs *flag.FlagSet) {
	fs.StringVar(&c.StateDir, "state-dir", state.DefaultDir(), "directory of daned's state store (MTA-STS policies, kept across restarts for their max_age, RFC 8461 §5.1); created when missing")
}

// ParseTLSVersion parses "1.0" … "1.3".
func ParseTLSVersion(s string) (uint16, error) {
	switch s {
	case "1.0":
		return tls.VersionTLS10, nil
	case "1.1":
		return tls.VersionTLS11, nil
	case "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("TLS version %q: want 1.0, 1.1, 1.2 or 1.3", s)
}

// Built is what Build makes: the engine, the caches it reads through
// (nil when caching is disabled), the MTA-STS policy source and its state
// store (nil when MTA-STS is off, or without a state directory), and the
// decision layer over them that every front door calls (nil from Build).
type Built struct {
	Engine   *engine.Engine
	DNS      *cache.Resolver
	Probes   *cache.Prober
	STS      *manager.Manager
	Store    *state.Store
	Verdicts *cache.Validator
	// Shared is the store the replicas share; nil when alone.
	Shared *shared.Store
	// Lookup is the resolver the engine reads through (cached in a
	// service), for the other lookups daned makes (TLSRPT records).
	Lookup engine.Lookuper

	closer io.Closer // the embedded validator, when there is one
}

// Close waits for the decision layer's background refreshes, stops the
// MTA-STS manager (its refresher and fetches), closes the state store and
// releases what the engine holds (the embedded validator's libunbound
// context). The engine must not be used afterwards.
func (b *Built) Close() error {
	if b.Verdicts != nil {
		b.Verdicts.Close()
	}
	var errs []error
	if b.Shared != nil {
		errs = append(errs, b.Shared.Close())
	}
	if b.STS != nil {
		errs = append(errs, b.STS.Close())
	}
	if b.Store != nil {
		errs = append(errs, b.Store.Close())
	}
	if b.closer != nil {
		errs = append(errs, b.closer.Close())
	}
	return errors.Join(errs...)
}

// Build makes an engine without caches, for one-shot use (danectl's
// in-process check, tests). Close the result when done with it.
func (c *EngineFlags) Build() (*Built, error) { return c.build(false) }

// BuildService makes the engine of a long-running service and the
// decision layer over it: the verdicts, and the resolver's and prober's
// answers, are cached, each cache bounded by --cache-size (none when it
// is 0: identical concurrent requests still share one validation).
func (c *EngineFlags) BuildService() (*Built, error) {
	b, err := c.buildWith(c.CacheSize > 0, true)
	if err != nil {
		if c.Shared != nil {
			c.Shared.Close()
		}
		return nil, err
	}
	vc := cache.ValidatorConfig{
		Upstream: b.Engine,
		Size:     c.CacheSize,
		NoCache:  c.CacheSize == 0,
		DNS:      b.DNS,
		Probes:   b.Probes,
		Logger:   c.Logger,
	}
	b.Shared = c.Shared // closed with b
	if c.Shared != nil && c.CacheSize > 0 {
		vc.Shared = c.Shared
	}
	if b.STS != nil {
		vc.Policies = b.STS
	}
	b.Verdicts, err = cache.NewValidator(vc)
	if err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func (c *EngineFlags) build(cached bool) (*Built, error) { return c.buildWith(cached, false) }

// buildWith makes the engine, with caches when cached is set and the
// state store under StateDir when store is set.
func (c *EngineFlags) buildWith(cached, store bool) (_ *Built, err error) {
	res, err := NewResolver(c, c.ResolverFlags)
	if err != nil {
		return nil, err
	}
	b := &Built{}
	if cl, ok := res.(io.Closer); ok {
		b.closer = cl
	}
	defer func() {
		if err != nil {
			b.Close() // the embedded validator's goroutine and context
		}
	}()
	tlsMin, err := ParseTLSVersion(c.TLSMinVersion)
	if err != nil {
		return nil, err
	}
	pr, err := probe.New(probe.Config{
		HeloName:      c.HeloName,
		Port:          c.ProbePort,
		MinTLSVersion: tlsMin,
		Timeout:       c.ProbeTimeout,
		StepTimeout:   c.ProbeStepTimeout,
	})
	if err != nil {
		return nil, err
	}
	imx, err := engine.ParseInsecureMXPolicy(c.InsecureMXPolicy)
	if err != nil {
		return nil, err
	}
	if c.ProbeConcurrency < 1 || c.MaxMXHosts < 1 || c.CacheSize < 0 {
		return nil, fmt.Errorf("--probe-concurrency and --max-mx-hosts must be at least 1, --cache-size at least 0")
	}
	// Counted below the caches: the metrics count what reaches the
	// network.
	var lookup engine.Lookuper = telemetry.CountingResolver{Upstream: res, Metrics: c.Metrics}
	var prober engine.Prober = telemetry.CountingProber{Upstream: pr, Metrics: c.Metrics}
	if cached {
		if b.DNS, err = cache.NewResolver(cache.ResolverConfig{
			Upstream:     lookup,
			Size:         c.CacheSize,
			MinTTL:       c.CacheMinTTL,
			MaxTTL:       c.CacheMaxTTL,
			FailureTTL:   c.FailureTTL,
			FetchTimeout: c.ResolverTimeout * 4,
			Shared:       c.sharedStore(store),
		}); err != nil {
			return nil, err
		}
		if b.Probes, err = cache.NewProber(cache.ProberConfig{
			Upstream:   prober,
			Size:       c.CacheSize,
			TTL:        c.ProbeCacheTTL,
			FailureTTL: c.FailureTTL,
			Shared:     c.sharedStore(store),
		}); err != nil {
			return nil, err
		}
		lookup, prober = b.DNS, b.Probes
	}
	b.Lookup = lookup
	var sts engine.PolicySource
	if c.MTASTS {
		if err := c.buildSTS(b, lookup, store); err != nil {
			return nil, err
		}
		sts = b.STS
	}
	b.Engine, err = engine.New(engine.Config{
		Resolver:         lookup,
		Prober:           prober,
		Targets:          probe.TargetPolicy{Allow: c.ProbeAllow},
		InsecureMX:       imx,
		MaxMXHosts:       c.MaxMXHosts,
		ProbeConcurrency: c.ProbeConcurrency,
		FailureTTL:       c.FailureTTL,
		Timeout:          c.ValidateTimeout,
		ProbeTTL:         c.ProbeCacheTTL,
		MTASTS:           sts,
		WebPKIRoots:      c.WebPKIRoots,
		Now:              c.Now,
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// sharedStore returns the shared store for a service's caches (store is
// set by BuildService), as the caches' interface: nil when alone.
func (c *EngineFlags) sharedStore(service bool) cache.SharedStore {
	if !service || c.Shared == nil {
		return nil
	}
	return c.Shared
}

// Parse applies the environment, then parses args. A usage error is
// reported on fs.Output.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := ApplyEnv(fs, os.LookupEnv); err != nil {
		fmt.Fprintln(fs.Output(), err)
		return err
	}
	return fs.Parse(args)
}
