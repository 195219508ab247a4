package probe

import (
	"crypto/x509"
	"errors"
	"net/netip"
	"strconv"
	"time"
)

// Stage is how far a probe got. The stages run in the order declared.
type Stage int

const (
	// StageConnect is the TCP connection.
	StageConnect Stage = iota
	// StageBanner is reading the server's 220 greeting (RFC 5321 §4.3.1).
	StageBanner
	// StageEHLO is EHLO and its reply, including the HELO fallback that
	// only serves to tell "no ESMTP" apart from other failures.
	StageEHLO
	// StageSTARTTLS is sending STARTTLS and reading its reply (RFC 3207 §4).
	StageSTARTTLS
	// StageHandshake is the TLS handshake.
	StageHandshake
	// StageDone means every step succeeded.
	StageDone
)

var stageNames = [...]string{
	StageConnect:   "connect",
	StageBanner:    "banner",
	StageEHLO:      "ehlo",
	StageSTARTTLS:  "starttls",
	StageHandshake: "handshake",
	StageDone:      "done",
}

// String returns the stage's lower-case name, such as "banner".
func (s Stage) String() string {
	if s >= 0 && int(s) < len(stageNames) {
		return stageNames[s]
	}
	return "Stage(" + strconv.Itoa(int(s)) + ")"
}

// Step records one step for tracing and reports.
type Step struct {
	Stage    Stage
	Start    time.Time
	Duration time.Duration
	Err      error // nil if the step succeeded
}

// Result is what one probe saw.
type Result struct {
	Addr            netip.AddrPort
	ServerName      string              // SNI sent; "" means none was sent
	Banner          string              // text of the first line of the 220 greeting, without the code; control characters replaced, bounded by MaxLineLength
	STARTTLSOffered bool                // EHLO reply listed STARTTLS
	TLS             bool                // handshake completed
	TLSVersion      uint16              // 0 unless TLS
	CipherSuite     uint16              // 0 unless TLS
	Chain           []*x509.Certificate // as presented, leaf first; nil unless TLS
	Reached         Stage               // the stage that failed, or StageDone
	Steps           []Step              // one per step attempted, in order
	Elapsed         time.Duration
	Err             error // nil on success; else wraps exactly one of the sentinels below (errors.Is)
}

// The sentinel errors. Result.Err wraps exactly one of them, so callers
// classify with errors.Is; the rest of the message is diagnostic detail.
var (
	// ErrConnect: the TCP connection failed (refused, unreachable) or the
	// address is invalid.
	ErrConnect = errors.New("connection failed")
	// ErrTimeout: a step's deadline, the whole-probe deadline, or the
	// caller's context expired. When the caller's context was cancelled the
	// error also wraps context.Cause(ctx), so errors.Is(err,
	// context.Canceled) holds as well.
	ErrTimeout = errors.New("timed out")
	// ErrSMTP: a reply that is not the one expected (non-220 banner,
	// EHLO and HELO both rejected), a malformed reply, a line too long,
	// too many lines, or the connection closed early.
	ErrSMTP = errors.New("smtp error")
	// ErrNoSTARTTLS: EHLO did not list STARTTLS, or the server does not
	// speak ESMTP at all (EHLO rejected, HELO accepted).
	ErrNoSTARTTLS = errors.New("starttls not offered")
	// ErrSTARTTLSRefused: STARTTLS was answered with a reply other than 220.
	ErrSTARTTLSRefused = errors.New("starttls refused")
	// ErrHandshake: the TLS handshake failed, including when the server sent
	// bytes between its 220 reply to STARTTLS and the handshake.
	ErrHandshake = errors.New("tls handshake failed")
)

// ErrChainLimit says why a handshake failed when the server's chain has
// more certificates or more DER bytes than Config.MaxChainCerts and
// Config.MaxChainBytes allow. It is not one of the sentinels above: it
// always comes wrapped in ErrHandshake, so the chain is treated like any
// other failed handshake (TLS_HANDSHAKE_FAILED; DEFER for a DANE host).
var ErrChainLimit = errors.New("certificate chain over the limit")
