package resolver

import (
	"errors"
	"time"
)

// Embedded mode validates DNSSEC in-process with libunbound (cgo), so that
// daned needs no separate validating resolver. It iterates from the root
// itself and trusts only its own trust anchors; the Answer and QueryError
// it returns mean exactly what they mean in upstream mode, with the
// validator's failure text (libunbound's why_bogus) kept in
// QueryError.Reason (a short phrase, see BogusReason) and QueryError.Err.
//
// The binding (embedded_cgo.go) is a thin layer over libunbound's
// asynchronous API: ub_resolve_async queues a query to libunbound's own
// worker thread, one goroutine waits on ub_fd and calls ub_process, and a
// Lookup whose context ends calls ub_cancel and returns ErrTimeout at once.
// libunbound does all DNSSEC validation; this package validates nothing.

// RootAnchors are the IANA root zone trust anchors as DS records
// (https://data.iana.org/root-anchors/root-anchors.xml): KSK-2017 (key tag
// 20326) and KSK-2024 (key tag 38696), both RSA/SHA-256 with SHA-256
// digests. Embedded mode uses them unless EmbeddedConfig names a trust
// anchor file.
var RootAnchors = []string{
	". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
	". IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16",
}

// DefaultEmbeddedTimeout bounds one embedded Lookup when
// EmbeddedConfig.Timeout is zero: the budget of upstream mode's default
// attempts.
const DefaultEmbeddedTimeout = DefaultAttempts * DefaultTimeout

// ErrNoCgo is returned by NewEmbedded in a build without cgo.
var ErrNoCgo = errors.New("embedded mode needs cgo; build with CGO_ENABLED=1 or use --resolver host:port")

// EmbeddedConfig configures embedded mode. Zero values are documented
// defaults; the zero EmbeddedConfig validates the Internet from the IANA
// root anchors and libunbound's built-in root hints.
type EmbeddedConfig struct {
	// TrustAnchorFile, when set, replaces RootAnchors: a file of DS or
	// DNSKEY records in presentation format (ub_ctx_add_ta_file).
	TrustAnchorFile string
	// AutoTrustAnchorFile, when set, is an RFC 5011 managed trust anchor
	// file that libunbound reads and rewrites as the root key rolls
	// (auto-trust-anchor-file). A missing file is created holding
	// RootAnchors (or the records of TrustAnchorFile when that is set,
	// which is then not added separately). Its directory must be writable.
	AutoTrustAnchorFile string
	// RootHintsFile, when set, replaces libunbound's built-in root hints
	// (root-hints: a zone file of the root servers' NS, A and AAAA).
	RootHintsFile string
	// ConfigFile, when set, is an unbound.conf read first with
	// ub_ctx_config (server: options, stub-zone:, forward-zone:, …). Tests
	// use it for the stub zones of a loopback world, which need ports that
	// root hints cannot carry, and for `local-zone: "test." nodefault`.
	ConfigFile string
	// Timeout bounds each Lookup; 0 means DefaultEmbeddedTimeout. The
	// context deadline wins when it is sooner.
	Timeout time.Duration
	// MaxChain is the longest CNAME chain accepted; 0 means 8.
	MaxChain int
}
