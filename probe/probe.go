package probe

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Config configures a Prober. Zero values are documented defaults.
type Config struct {
	// HeloName is the EHLO name; "" → the machine's host name from
	// os.Hostname, or "localhost" if that fails or is not a valid host
	// name. A non-empty value must be a valid host name (LDH labels, no
	// trailing dot; address literals are not accepted).
	HeloName string
	// Port is the TCP port; 0 → 25.
	Port int
	// MinTLSVersion is the lowest TLS version accepted; 0 →
	// tls.VersionTLS12. It may be set down to tls.VersionTLS10 for old
	// receivers (RFC 7671 §3 requires at least TLS 1.0 and recommends
	// 1.2). Go's client refuses TLS 1.0 and 1.1 unless this is set.
	MinTLSVersion uint16
	// Timeout is the whole-probe deadline; 0 → 30s. Each step also has its
	// own deadline (see StepTimeout).
	Timeout time.Duration
	// StepTimeout is the deadline for each step (connect, banner, EHLO,
	// STARTTLS reply, handshake); 0 → 10s.
	StepTimeout time.Duration
	// MaxLineLength is the longest SMTP reply line accepted, reply code
	// included; 0 → 2048 bytes. RFC 5321 §4.5.3.1.5 says 512; daned is
	// lenient but bounded. Must be 512 to 65536.
	MaxLineLength int
	// MaxReplyLines is the most lines in one multi-line reply; 0 → 100.
	// Must be 1 to 10000.
	MaxReplyLines int
	// MaxChainCerts is the most certificates accepted in the server's
	// chain; 0 → 16 (DefaultMaxChainCerts). A longer chain fails the
	// handshake (ErrHandshake wrapping ErrChainLimit). Must be 1 to 1000.
	MaxChainCerts int
	// MaxChainBytes bounds the DER size of the server's whole chain; 0 →
	// 64 KiB (DefaultMaxChainBytes). A bigger chain fails the handshake
	// (ErrHandshake wrapping ErrChainLimit). Must be 1 KiB to 1 MiB.
	MaxChainBytes int
	// Dialer makes the TCP connections; nil → &net.Dialer{}.
	Dialer Dialer
}

// DefaultMaxChainCerts and DefaultMaxChainBytes bound the chain a server
// may present when Config leaves them zero: far above any real mail
// server's chain (leaf, one or two intermediates, perhaps a root), far
// below what would let one hostile receiver make daned parse, hash and
// keep megabytes per probe.
const (
	DefaultMaxChainCerts = 16
	DefaultMaxChainBytes = 64 << 10
)

// Dialer makes TCP connections (injected in tests).
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Prober probes SMTP servers for STARTTLS. It is safe for concurrent use.
type Prober struct {
	helo        string
	port        uint16
	minTLS      uint16
	timeout     time.Duration
	stepTimeout time.Duration
	quitTimeout time.Duration
	maxLine     int
	maxLines    int
	maxCerts    int
	maxDER      int
	dialer      Dialer
}

const (
	defaultPort        = 25
	defaultTimeout     = 30 * time.Second
	defaultStepTimeout = 10 * time.Second
	// maxQuitTimeout bounds the courtesy QUIT: a server that does not
	// answer it must not slow the probe down.
	maxQuitTimeout = time.Second
)

// New validates cfg and returns a Prober: MinTLSVersion must be TLS 1.0 to
// TLS 1.3, Port 1 to 65535, durations positive, HeloName a valid host name,
// and the reply limits within the ranges documented on Config (zero
// selecting the default everywhere).
func New(cfg Config) (*Prober, error) {
	p := &Prober{
		helo:        cfg.HeloName,
		minTLS:      cfg.MinTLSVersion,
		timeout:     cfg.Timeout,
		stepTimeout: cfg.StepTimeout,
		maxLine:     cfg.MaxLineLength,
		maxLines:    cfg.MaxReplyLines,
		maxCerts:    cfg.MaxChainCerts,
		maxDER:      cfg.MaxChainBytes,
		dialer:      cfg.Dialer,
	}
	if p.helo == "" {
		p.helo = "localhost"
		if h, err := os.Hostname(); err == nil && validHostname(h) {
			p.helo = h
		}
	} else if !validHostname(p.helo) {
		return nil, fmt.Errorf("probe: HeloName %q is not a valid host name", p.helo)
	}
	switch {
	case cfg.Port == 0:
		p.port = defaultPort
	case cfg.Port < 1 || cfg.Port > 65535:
		return nil, fmt.Errorf("probe: Port %d is outside 1..65535", cfg.Port)
	default:
		p.port = uint16(cfg.Port)
	}
	switch {
	case p.minTLS == 0:
		p.minTLS = tls.VersionTLS12
	case p.minTLS < tls.VersionTLS10 || p.minTLS > tls.VersionTLS13:
		return nil, fmt.Errorf("probe: MinTLSVersion %#04x is not TLS 1.0 to TLS 1.3", p.minTLS)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{{"Timeout", &p.timeout, defaultTimeout}, {"StepTimeout", &p.stepTimeout, defaultStepTimeout}} {
		switch {
		case *d.v == 0:
			*d.v = d.def
		case *d.v < 0:
			return nil, fmt.Errorf("probe: %s %v is negative", d.name, *d.v)
		}
	}
	p.quitTimeout = min(p.stepTimeout, maxQuitTimeout)
	switch {
	case p.maxLine == 0:
		p.maxLine = DefaultMaxLineLength
	case p.maxLine < 512 || p.maxLine > 65536:
		return nil, fmt.Errorf("probe: MaxLineLength %d is outside 512..65536", p.maxLine)
	}
	switch {
	case p.maxLines == 0:
		p.maxLines = DefaultMaxReplyLines
	case p.maxLines < 1 || p.maxLines > 10000:
		return nil, fmt.Errorf("probe: MaxReplyLines %d is outside 1..10000", p.maxLines)
	}
	switch {
	case p.maxCerts == 0:
		p.maxCerts = DefaultMaxChainCerts
	case p.maxCerts < 1 || p.maxCerts > 1000:
		return nil, fmt.Errorf("probe: MaxChainCerts %d is outside 1..1000", p.maxCerts)
	}
	switch {
	case p.maxDER == 0:
		p.maxDER = DefaultMaxChainBytes
	case p.maxDER < 1<<10 || p.maxDER > 1<<20:
		return nil, fmt.Errorf("probe: MaxChainBytes %d is outside 1024..1048576", p.maxDER)
	}
	if p.dialer == nil {
		p.dialer = &net.Dialer{}
	}
	return p, nil
}

// validHostname reports whether s is a host name fit for EHLO (RFC 5321
// §4.1.2 Domain): dot-separated labels of letters, digits and inner
// hyphens, 1 to 63 bytes each, 253 bytes in all.
func validHostname(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// Probe connects to addr:Port, reads the banner (it must be 220; multi-line
// is allowed), sends EHLO, looks for STARTTLS among the EHLO keywords
// (case-insensitive), sends STARTTLS, expects 220, and runs the TLS
// handshake with sni as ServerName (the TLSA base domain, RFC 7672 §8.1;
// "" sends no SNI). It captures the chain as presented, then sends QUIT
// (best effort, short deadline) and closes. It never judges the chain.
//
// If EHLO is rejected with a 5xx reply, Probe tries HELO only to tell a
// server without ESMTP (HELO accepted → ErrNoSTARTTLS) apart from a broken
// one (ErrSMTP).
//
// Probe never hangs: every read and write has a deadline, the earliest of
// the step deadline, the whole-probe deadline and ctx's deadline, and
// cancelling ctx closes the connection at once. Cancellation and ctx
// deadlines are reported as ErrTimeout wrapping context.Cause(ctx).
//
// The Result is never nil; Result.Err wraps exactly one of the package's
// sentinel errors. Probe does not consult a TargetPolicy: the caller must.
func (p *Prober) Probe(ctx context.Context, addr netip.Addr, sni string) *Result {
	start := time.Now()
	r := &run{
		p: p,
		res: &Result{
			Addr:       netip.AddrPortFrom(addr.Unmap(), p.port),
			ServerName: sni,
		},
	}
	var cancel context.CancelFunc
	r.ctx, cancel = context.WithTimeoutCause(ctx, p.timeout,
		fmt.Errorf("whole-probe deadline of %v exceeded: %w", p.timeout, context.DeadlineExceeded))
	defer cancel()
	r.probe(sni)
	if r.res.Err == nil {
		r.res.Reached = StageDone
	}
	r.res.Elapsed = time.Since(start)
	return r.res
}

// run is the state of one probe.
type run struct {
	p    *Prober
	ctx  context.Context
	res  *Result
	conn net.Conn // the TCP connection, or the TLS connection over it
	br   *bufio.Reader
}

func (r *run) probe(sni string) {
	if !r.res.Addr.Addr().IsValid() {
		r.step(StageConnect, func(time.Time) error {
			return fmt.Errorf("%s: %w: invalid address", StageConnect, ErrConnect)
		})
		return
	}
	if r.step(StageConnect, r.connect) != nil {
		return
	}
	// Cancelling the context closes the connection, so a blocked read or
	// write returns at once whatever its deadline.
	tcp := r.conn
	stop := context.AfterFunc(r.ctx, func() { tcp.Close() })
	defer func() {
		stop()
		r.conn.Close()
	}()
	// A buffer just above the line limit lets ReadReply reject an endless
	// line as soon as the limit is passed rather than after 4 KiB.
	r.br = bufio.NewReaderSize(r.conn, r.p.maxLine+2)

	polite := false // whether the dialogue is in a state where QUIT makes sense
	defer func() {
		if polite {
			r.quit()
		}
	}()

	if r.step(StageBanner, r.banner) != nil {
		polite = !r.broken() // a non-220 greeting: RFC 5321 §3.1 says QUIT
		return
	}
	if r.step(StageEHLO, r.ehlo) != nil {
		polite = !r.broken()
		return
	}
	if r.step(StageSTARTTLS, r.starttls) != nil {
		polite = errors.Is(r.res.Err, ErrSTARTTLSRefused)
		return
	}
	if r.step(StageHandshake, func(dl time.Time) error { return r.handshake(dl, sni) }) != nil {
		return
	}
	polite = true
}

// broken reports whether the failed step left the connection unusable:
// timed out, closed or out of step with the server.
func (r *run) broken() bool {
	err := r.res.Err
	return errors.Is(err, ErrTimeout) || errors.Is(err, errUnsynced)
}

// errUnsynced marks a reply that could not be read to its end, after which
// the client and server no longer agree on where replies start.
var errUnsynced = errors.New("reply not read to its end")

// step runs f under the step deadline and records it.
func (r *run) step(stage Stage, f func(deadline time.Time) error) error {
	start := time.Now()
	deadline := start.Add(r.p.stepTimeout)
	if d, ok := r.ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if r.conn != nil {
		// Errors here surface on the next read or write.
		_ = r.conn.SetDeadline(deadline)
	}
	err := f(deadline)
	r.res.Steps = append(r.res.Steps, Step{Stage: stage, Start: start, Duration: time.Since(start), Err: err})
	if err != nil {
		r.res.Reached = stage
		r.res.Err = err
	}
	return err
}

func (r *run) connect(deadline time.Time) error {
	dctx, cancel := context.WithDeadline(r.ctx, deadline)
	defer cancel()
	conn, err := r.p.dialer.DialContext(dctx, "tcp", r.res.Addr.String())
	if err != nil {
		if r.ctx.Err() != nil || dctx.Err() != nil || isTimeout(err) {
			return r.fail(StageConnect, ErrTimeout, err)
		}
		return r.fail(StageConnect, ErrConnect, err)
	}
	if conn == nil {
		return r.fail(StageConnect, ErrConnect, errors.New("dialer returned no connection"))
	}
	r.conn = conn
	return nil
}

func (r *run) banner(time.Time) error {
	code, lines, err := r.readReply()
	if len(lines) > 0 {
		r.res.Banner = sanitize(lines[0])
	}
	if err != nil {
		return r.fail(StageBanner, ErrSMTP, err)
	}
	if code != 220 {
		return r.fail(StageBanner, ErrSMTP, fmt.Errorf("greeting %d %s", code, sanitize(strings.Join(lines, " / "))))
	}
	return nil
}

func (r *run) ehlo(time.Time) error {
	code, lines, err := r.command("EHLO " + r.p.helo)
	if err != nil {
		return r.fail(StageEHLO, ErrSMTP, err)
	}
	if code/100 == 5 {
		// RFC 5321 §3.2: a server without ESMTP rejects EHLO. HELO tells
		// that apart from a server that rejects everything.
		hcode, hlines, herr := r.command("HELO " + r.p.helo)
		if herr != nil {
			return r.fail(StageEHLO, ErrSMTP, herr)
		}
		if hcode/100 == 2 {
			return r.fail(StageEHLO, ErrNoSTARTTLS, fmt.Errorf("no ESMTP: EHLO rejected with %d, HELO accepted", code))
		}
		return r.fail(StageEHLO, ErrSMTP, fmt.Errorf("EHLO rejected with %d, HELO with %d %s", code, hcode, sanitize(strings.Join(hlines, " / "))))
	}
	if code != 250 {
		return r.fail(StageEHLO, ErrSMTP, fmt.Errorf("EHLO answered %d %s", code, sanitize(strings.Join(lines, " / "))))
	}
	// RFC 5321 §4.1.1.1: the first line names the server; each later line
	// starts with an extension keyword, case-insensitive.
	for _, l := range lines[1:] {
		kw, _, _ := strings.Cut(strings.TrimSpace(l), " ")
		if strings.EqualFold(kw, "STARTTLS") {
			r.res.STARTTLSOffered = true
		}
	}
	if !r.res.STARTTLSOffered {
		return r.fail(StageEHLO, ErrNoSTARTTLS, errors.New("EHLO reply does not list STARTTLS"))
	}
	return nil
}

func (r *run) starttls(time.Time) error {
	code, lines, err := r.command("STARTTLS")
	if err != nil {
		return r.fail(StageSTARTTLS, ErrSMTP, err)
	}
	if code != 220 {
		return r.fail(StageSTARTTLS, ErrSTARTTLSRefused, fmt.Errorf("STARTTLS answered %d %s", code, sanitize(strings.Join(lines, " / "))))
	}
	return nil
}

func (r *run) handshake(_ time.Time, sni string) error {
	// RFC 3207 §4.2 and the STARTTLS command-injection attacks
	// (CVE-2011-0411): nothing may arrive between the 220 and the
	// handshake. The TLS server cannot speak first, so buffered bytes are
	// never TLS.
	if n := r.br.Buffered(); n > 0 {
		return r.fail(StageHandshake, ErrHandshake, fmt.Errorf("server sent %d bytes before the TLS handshake", n))
	}
	cfg := &tls.Config{
		ServerName: sni,
		// DANE, not PKIX, decides (RFC 7672 §3): the chain is captured as
		// presented and judged later against TLSA records by package dane.
		// Skipping verification here is deliberate, not a shortcut.
		InsecureSkipVerify: true,
		MinVersion:         r.p.minTLS,
		// It runs even with InsecureSkipVerify, before the handshake
		// completes: a hostile chain ends the handshake there.
		VerifyConnection: r.checkChainSize,
	}
	tc := tls.Client(r.conn, cfg)
	if err := tc.HandshakeContext(r.ctx); err != nil {
		return r.fail(StageHandshake, ErrHandshake, err)
	}
	st := tc.ConnectionState()
	r.conn = tc
	r.br = bufio.NewReaderSize(tc, r.p.maxLine+2)
	r.res.TLS = true
	r.res.TLSVersion = st.Version
	r.res.CipherSuite = st.CipherSuite
	r.res.Chain = append(r.res.Chain, st.PeerCertificates...)
	return nil
}

// checkChainSize refuses a chain longer or bigger than the limits.
func (r *run) checkChainSize(cs tls.ConnectionState) error {
	n := len(cs.PeerCertificates)
	if n > r.p.maxCerts {
		return fmt.Errorf("%w: %d certificates, the limit is %d", ErrChainLimit, n, r.p.maxCerts)
	}
	size := 0
	for _, c := range cs.PeerCertificates {
		size += len(c.Raw)
	}
	if size > r.p.maxDER {
		return fmt.Errorf("%w: %d bytes of DER in %d certificates, the limit is %d", ErrChainLimit, size, n, r.p.maxDER)
	}
	return nil
}

// quit sends QUIT and reads the reply, best effort under a short deadline
// (RFC 5321 §4.1.1.10). Errors are ignored: the probe's outcome is known.
func (r *run) quit() {
	if r.ctx.Err() != nil {
		return
	}
	deadline := time.Now().Add(r.p.quitTimeout)
	if d, ok := r.ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if r.conn.SetDeadline(deadline) != nil {
		return
	}
	_, _, _ = r.command("QUIT")
}

// command writes one command line and reads the reply.
func (r *run) command(cmd string) (int, []string, error) {
	if _, err := r.conn.Write([]byte(cmd + "\r\n")); err != nil {
		return 0, nil, fmt.Errorf("writing %s: %w: %w", strings.Fields(cmd)[0], errUnsynced, err)
	}
	return r.readReply()
}

func (r *run) readReply() (int, []string, error) {
	code, lines, err := ReadReply(r.br, r.p.maxLine, r.p.maxLines)
	if err != nil {
		return code, lines, fmt.Errorf("%w: %w", errUnsynced, err)
	}
	return code, lines, nil
}

// fail builds the step error: stage, then the sentinel, then the cause. The
// cause decides the sentinel when it is a timeout, a cancellation or an
// SMTP protocol error; otherwise def applies (a closed connection during
// the SMTP dialogue is ErrSMTP, "connection closed early").
func (r *run) fail(stage Stage, def, cause error) error {
	if d, ok := r.ctx.Deadline(); ok && !time.Now().Before(d) {
		// A conn deadline equal to the context's can fire a moment
		// before the context's timer; wait for it (it is due) so the
		// error names the right cause.
		<-r.ctx.Done()
	}
	if r.ctx.Err() != nil {
		// The context's cause first: after a cancellation the I/O error is
		// only the echo of the closed connection.
		// The cause is formatted, not wrapped, so no second sentinel can
		// ride along.
		return fmt.Errorf("%s: %w: %w (%v)", stage, ErrTimeout, context.Cause(r.ctx), cause)
	}
	if isTimeout(cause) {
		return fmt.Errorf("%s: %w: %w", stage, ErrTimeout, cause)
	}
	if errors.Is(cause, ErrSMTP) {
		return fmt.Errorf("%s: %w", stage, cause)
	}
	return fmt.Errorf("%s: %w: %w", stage, def, cause)
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// sanitize makes server text safe for logs and reports: valid UTF-8, no
// control characters.
func sanitize(s string) string {
	s = strings.ToValidUTF8(s, string(utf8.RuneError))
	return strings.Map(func(c rune) rune {
		if unicode.IsControl(c) {
			return '?'
		}
		return c
	}, s)
}
