package config

import (
	"errors"
	"flag"

	"github.com/daned/daned/engine"
	"github.com/daned/daned/resolver"
)

// EmbeddedResolver is the --resolver value that selects embedded mode:
// DNSSEC validated in-process by libunbound.
const EmbeddedResolver = "embedded"

// DefaultResolver is the default of --resolver: embedded mode when the
// build has cgo (libunbound), else a validating resolver on loopback.
var DefaultResolver = func() string {
	if resolver.EmbeddedAvailable {
		return EmbeddedResolver
	}
	return resolver.DefaultServer
}()

// ResolverUsage is the help text of --resolver.
const ResolverUsage = `"embedded" (validate DNSSEC in-process with libunbound), or a DNSSEC-validating resolver (host:port) whose AD bit is trusted`

// ResolverFlags holds the flags of embedded mode. Each is refused with
// an upstream resolver, where the upstream's own configuration decides.
type ResolverFlags struct {
	// TrustAnchor replaces the built-in IANA root anchors (DS or DNSKEY
	// records in presentation format).
	TrustAnchor string
	// TrustAnchorAuto is an RFC 5011 managed anchor file, created from
	// the built-in anchors (or TrustAnchor) when missing.
	TrustAnchorAuto string
	// RootHints replaces libunbound's built-in root hints.
	RootHints string
	// ResolverConfig is an unbound.conf read by the embedded validator
	// before the options above.
	ResolverConfig string
}

// Register defines the embedded-mode flags on fs.
func (c *ResolverFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.TrustAnchor, "trust-anchor", "", "embedded resolver: file of DS or DNSKEY records replacing the built-in IANA root trust anchors (KSK-2017 20326, KSK-2024 38696)")
	fs.StringVar(&c.TrustAnchorAuto, "trust-anchor-auto", "", "embedded resolver: RFC 5011 managed trust anchor file, updated as the root key rolls; created from the built-in anchors when missing (its directory must be writable)")
	fs.StringVar(&c.RootHints, "root-hints", "", "embedded resolver: root hints file replacing libunbound's built-in root server list")
	fs.StringVar(&c.ResolverConfig, "resolver-config", "", "embedded resolver: unbound.conf read by libunbound (server: options, stub-zone:, forward-zone:)")
}

// NewResolver returns the resolver c selects: embedded mode when
// c.Resolver is "embedded", else upstream mode. In embedded mode one
// lookup may take c.ResolverTimeout times resolver.DefaultAttempts, the
// budget of an upstream lookup. An embedded resolver holds a libunbound
// context: it implements io.Closer.
func NewResolver(c *EngineFlags, rf ResolverFlags) (engine.Lookuper, error) {
	if c.Resolver == EmbeddedResolver {
		if !resolver.EmbeddedAvailable {
			return nil, resolver.ErrNoCgo
		}
		r, err := resolver.NewEmbedded(resolver.EmbeddedConfig{
			TrustAnchorFile:     rf.TrustAnchor,
			AutoTrustAnchorFile: rf.TrustAnchorAuto,
			RootHintsFile:       rf.RootHints,
			ConfigFile:          rf.ResolverConfig,
			Timeout:             c.ResolverTimeout * resolver.DefaultAttempts,
		})
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return r, nil
	}
	if rf != (ResolverFlags{}) {
		return nil, errors.New("--trust-anchor, --trust-anchor-auto, --root-hints and --resolver-config apply only to --resolver embedded; an upstream resolver validates with its own anchors")
	}
	r, err := resolver.New(resolver.Config{Server: c.Resolver, Trusted: c.ResolverTrusted, Timeout: c.ResolverTimeout})
	if err != nil {
		return nil, err
	}
	return r, nil
}
