//go:build cgo

package resolver

/*
#cgo LDFLAGS: -lunbound
#include <stdint.h>
#include <stdlib.h>
#include <poll.h>
#include <unbound.h>

// danedUnboundDone is exported by embedded_export.go.
extern void danedUnboundDone(void* mydata, int err, struct ub_result* result);

// daned_resolve_async starts one query; id (not a pointer) comes back as
// the callback's mydata.
static int daned_resolve_async(struct ub_ctx* ctx, const char* name, int rrtype, uintptr_t id, int* async_id) {
	return ub_resolve_async(ctx, name, rrtype, 1, (void*)id, (ub_callback_type)danedUnboundDone, async_id);
}

// daned_wait waits up to ms milliseconds for answers on ub_fd.
static int daned_wait(struct ub_ctx* ctx, int ms) {
	struct pollfd p;
	p.fd = ub_fd(ctx);
	p.events = POLLIN;
	p.revents = 0;
	if (p.fd < 0) return -1;
	return poll(&p, 1, ms);
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/miekg/dns"
)

// Embedded validates DNSSEC in-process with libunbound. It is safe for
// concurrent use; Close releases libunbound.
type Embedded struct {
	ctx      *C.struct_ub_ctx
	timeout  time.Duration
	maxChain int

	mu       sync.RWMutex // held for reading around libunbound calls, for writing by Close
	closed   bool
	stopping atomic.Bool
	loopDone chan struct{}
}

// NewEmbedded creates a libunbound context configured from cfg and starts
// its worker thread. Configuration errors (an unreadable file, a bad
// anchor) are reported here, not at the first Lookup.
func NewEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	e := &Embedded{timeout: cfg.Timeout, maxChain: cfg.MaxChain, loopDone: make(chan struct{})}
	switch {
	case e.timeout < 0:
		return nil, fmt.Errorf("resolver timeout %v is negative", cfg.Timeout)
	case e.timeout == 0:
		e.timeout = DefaultEmbeddedTimeout
	}
	switch {
	case e.maxChain < 0:
		return nil, fmt.Errorf("resolver max CNAME chain %d is negative", cfg.MaxChain)
	case e.maxChain == 0:
		e.maxChain = DefaultMaxChain
	}
	for _, f := range []struct{ flag, path string }{
		{"--trust-anchor", cfg.TrustAnchorFile},
		{"--root-hints", cfg.RootHintsFile},
		{"embedded resolver config", cfg.ConfigFile},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.ReadFile(f.path); err != nil {
			return nil, fmt.Errorf("%s: %w", f.flag, err)
		}
	}

	if cfg.TrustAnchorFile != "" {
		if err := checkAnchorFile(cfg.TrustAnchorFile); err != nil {
			return nil, err
		}
	}

	e.ctx = C.ub_ctx_create()
	if e.ctx == nil {
		return nil, errors.New("embedded resolver: ub_ctx_create failed")
	}
	if err := e.configure(cfg); err != nil {
		C.ub_ctx_delete(e.ctx)
		return nil, err
	}
	go e.loop()
	return e, nil
}

func (e *Embedded) configure(cfg EmbeddedConfig) error {
	check := func(what string, rc C.int) error {
		if rc != 0 {
			return fmt.Errorf("embedded resolver: %s: %s", what, C.GoString(C.ub_strerror(rc)))
		}
		return nil
	}
	withC := func(s string, f func(*C.char) C.int) C.int {
		cs := C.CString(s)
		defer C.free(unsafe.Pointer(cs))
		return f(cs)
	}
	setOption := func(opt, val string) error {
		return check("option "+opt+" "+val, withC(opt, func(o *C.char) C.int {
			return withC(val, func(v *C.char) C.int { return C.ub_ctx_set_option(e.ctx, o, v) })
		}))
	}

	// libunbound logs to stderr; daned reports failures through its
	// answers, so the library's own log is silenced.
	C.ub_ctx_debugout(e.ctx, nil)
	if cfg.ConfigFile != "" {
		if err := check("reading "+cfg.ConfigFile, withC(cfg.ConfigFile, func(p *C.char) C.int { return C.ub_ctx_config(e.ctx, p) })); err != nil {
			return err
		}
	}
	// why_bogus is only filled with the validator's reason when
	// val-log-level is 2 (or EDE is on).
	for _, o := range [][2]string{{"val-log-level:", "2"}, {"ede:", "yes"}} {
		if err := setOption(o[0], o[1]); err != nil {
			return err
		}
	}
	if cfg.RootHintsFile != "" {
		if err := setOption("root-hints:", cfg.RootHintsFile); err != nil {
			return err
		}
	}
	switch {
	case cfg.AutoTrustAnchorFile != "":
		if err := seedAutoAnchor(cfg.AutoTrustAnchorFile, cfg.TrustAnchorFile); err != nil {
			return err
		}
		if err := check("auto trust anchor "+cfg.AutoTrustAnchorFile, withC(cfg.AutoTrustAnchorFile, func(p *C.char) C.int { return C.ub_ctx_add_ta_autr(e.ctx, p) })); err != nil {
			return err
		}
	case cfg.TrustAnchorFile != "":
		if err := check("trust anchor "+cfg.TrustAnchorFile, withC(cfg.TrustAnchorFile, func(p *C.char) C.int { return C.ub_ctx_add_ta_file(e.ctx, p) })); err != nil {
			return err
		}
	default:
		for _, ta := range RootAnchors {
			if err := check("trust anchor "+ta, withC(ta, func(p *C.char) C.int { return C.ub_ctx_add_ta(e.ctx, p) })); err != nil {
				return err
			}
		}
	}
	// A thread, not a forked process, works the queries.
	return check("async mode", C.ub_ctx_async(e.ctx, 1))
}

// checkAnchorFile parses a trust anchor file: libunbound reads it only at
// the first query, too late to refuse a broken configuration.
func checkAnchorFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("--trust-anchor: %w", err)
	}
	defer f.Close()
	zp := dns.NewZoneParser(f, ".", path)
	n := 0
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		switch rr.(type) {
		case *dns.DS, *dns.DNSKEY:
			n++
		default:
			return fmt.Errorf("--trust-anchor %s: %s is not a DS or DNSKEY record", path, dns.TypeToString[rr.Header().Rrtype])
		}
	}
	if err := zp.Err(); err != nil {
		return fmt.Errorf("--trust-anchor %s: %w", path, err)
	}
	if n == 0 {
		return fmt.Errorf("--trust-anchor %s: no DS or DNSKEY record", path)
	}
	return nil
}

// seedAutoAnchor creates an RFC 5011 anchor file holding the initial
// anchors when it does not exist yet.
func seedAutoAnchor(path, from string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("--trust-anchor-auto: %w", err)
	}
	seed := strings.Join(RootAnchors, "\n") + "\n"
	if from != "" {
		b, err := os.ReadFile(from)
		if err != nil {
			return fmt.Errorf("--trust-anchor: %w", err)
		}
		seed = string(b)
	}
	if err := os.WriteFile(path, []byte(seed), 0o644); err != nil {
		return fmt.Errorf("--trust-anchor-auto: seeding %s: %w", path, err)
	}
	return nil
}

// pollInterval bounds how long Close waits for the answer loop to notice.
const pollInterval = 50 * time.Millisecond

// loop delivers answers: it waits on ub_fd and lets ub_process run the
// callbacks, until Close.
func (e *Embedded) loop() {
	defer close(e.loopDone)
	for !e.stopping.Load() {
		n := C.daned_wait(e.ctx, C.int(pollInterval/time.Millisecond))
		switch {
		case n > 0:
			C.ub_process(e.ctx)
		case n < 0:
			time.Sleep(pollInterval) // EINTR or a closed fd: do not spin
		}
	}
}

// Close stops the answer loop and deletes the libunbound context. Lookups
// in flight fail with ErrNetwork; later Lookups too.
func (e *Embedded) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	e.stopping.Store(true)
	<-e.loopDone
	failPending(e)
	C.ub_ctx_delete(e.ctx)
	e.ctx = nil
	return nil
}

var errClosed = errors.New("embedded resolver closed")

// ubResult is a libunbound answer copied into Go memory.
type ubResult struct {
	err    int    // libunbound error code (UB_*), 0 on success
	errMsg string // ub_strerror(err)
	rcode  int
	secure bool
	bogus  bool
	why    string // why_bogus
	packet []byte // the answer packet in wire format
}

// pending is one query waiting for its callback.
type pending struct {
	owner *Embedded
	done  chan ubResult // buffered: the callback never blocks
}

// The registry maps the id passed to libunbound as mydata to its query;
// ids, not Go pointers, cross into C.
var (
	regMu  sync.Mutex
	regID  uintptr
	regMap = map[uintptr]*pending{}
)

func register(p *pending) uintptr {
	regMu.Lock()
	defer regMu.Unlock()
	regID++
	regMap[regID] = p
	return regID
}

// take removes and returns the query of id, or nil when it is gone
// (cancelled, or delivered).
func take(id uintptr) *pending {
	regMu.Lock()
	defer regMu.Unlock()
	p := regMap[id]
	delete(regMap, id)
	return p
}

func failPending(owner *Embedded) {
	regMu.Lock()
	defer regMu.Unlock()
	for id, p := range regMap {
		if p.owner == owner {
			delete(regMap, id)
			p.done <- ubResult{err: -1, errMsg: errClosed.Error()}
		}
	}
}

// deliver copies result into Go memory, frees it and hands it to the
// waiting Lookup, if it still waits. It runs on the answer loop's
// goroutine, inside ub_process.
func deliver(id uintptr, err C.int, res *C.struct_ub_result) {
	r := ubResult{err: int(err)}
	if err != 0 {
		r.errMsg = C.GoString(C.ub_strerror(err))
	}
	if res != nil {
		r.rcode = int(res.rcode)
		r.secure = res.secure != 0
		r.bogus = res.bogus != 0
		if res.why_bogus != nil {
			r.why = C.GoString(res.why_bogus)
		}
		if res.answer_packet != nil && res.answer_len > 0 {
			r.packet = C.GoBytes(res.answer_packet, res.answer_len)
		}
		C.ub_resolve_free(res)
	}
	if p := take(id); p != nil {
		p.done <- r
	}
}

// Lookup resolves name (any case, trailing dot optional) for qtype and
// validates the answer with libunbound, with the semantics of
// (*Resolver).Lookup: a secure or insecure NXDOMAIN/NODATA is an *Answer;
// every failure is a *QueryError wrapping a sentinel. A bogus answer is
// ErrBogus with Security Bogus, Reason the short phrase for libunbound's
// why_bogus text and Err that text. libunbound reports no indeterminate
// state: an answer that is neither secure nor bogus is Insecure.
//
// The query runs on libunbound's thread. When ctx ends, or after
// EmbeddedConfig.Timeout, Lookup cancels it (ub_cancel) and returns
// ErrTimeout at once; libunbound may still finish the resolution and cache
// the result for the next Lookup.
func (e *Embedded) Lookup(ctx context.Context, name string, qtype uint16) (*Answer, error) {
	qname := dns.CanonicalName(name)
	if _, ok := dns.IsDomainName(qname); !ok || len(qname) > 255 {
		return nil, fmt.Errorf("resolver: invalid query name %q", printable(name, 255))
	}
	if err := ctx.Err(); err != nil {
		return nil, &QueryError{Name: qname, Type: qtype, Kind: ErrTimeout, Rcode: -1, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()

	p := &pending{owner: e, done: make(chan ubResult, 1)}
	id, asyncID, err := e.start(qname, qtype, p)
	if err != nil {
		return nil, err
	}
	select {
	case r := <-p.done:
		return answerOf(qname, qtype, r, e.maxChain)
	case <-ctx.Done():
		if take(id) != nil {
			e.cancel(asyncID)
		}
		return nil, &QueryError{Name: qname, Type: qtype, Kind: ErrTimeout, Rcode: -1, Err: ctx.Err()}
	}
}

// start registers p and queues the query to libunbound.
func (e *Embedded) start(qname string, qtype uint16, p *pending) (uintptr, C.int, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return 0, 0, &QueryError{Name: qname, Type: qtype, Kind: ErrNetwork, Rcode: -1, Err: errClosed}
	}
	id := register(p)
	cname := C.CString(qname)
	defer C.free(unsafe.Pointer(cname))
	var asyncID C.int
	if rc := C.daned_resolve_async(e.ctx, cname, C.int(qtype), C.uintptr_t(id), &asyncID); rc != 0 {
		take(id)
		return 0, 0, &QueryError{Name: qname, Type: qtype, Kind: ErrNetwork, Rcode: -1,
			Err: fmt.Errorf("libunbound: %s", C.GoString(C.ub_strerror(rc)))}
	}
	return id, asyncID, nil
}

func (e *Embedded) cancel(asyncID C.int) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if !e.closed {
		C.ub_cancel(e.ctx, asyncID) // an error means it already finished
	}
}

// ubServFail is libunbound's UB_SERVFAIL: the query could not be resolved.
const ubServFail = -2

// answerOf turns a libunbound result into an Answer or a *QueryError with
// the same meaning as in upstream mode.
func answerOf(qname string, qtype uint16, r ubResult, maxChain int) (*Answer, error) {
	var why string
	if r.why != "" {
		why = printable(dedupeFrom(r.why), maxEDEText)
	}
	fail := func(kind error, sec Security, rcode int, err error) error {
		return &QueryError{Name: qname, Type: qtype, Kind: kind, Security: sec, Rcode: rcode,
			Reason: BogusReason(nil, r.why), Why: why, Err: err}
	}
	switch {
	case r.err == -1:
		return nil, fail(ErrNetwork, SecurityUnknown, -1, errClosed)
	case r.err == ubServFail:
		return nil, fail(ErrServFail, SecurityUnknown, -1, fmt.Errorf("libunbound: %s", r.errMsg))
	case r.err != 0:
		return nil, fail(ErrNetwork, SecurityUnknown, -1, fmt.Errorf("libunbound: %s", r.errMsg))
	case r.bogus:
		// RFC 4035 §5.5: bogus data is never returned, whatever the rcode.
		return nil, fail(ErrBogus, Bogus, r.rcode, nil)
	case r.rcode == dns.RcodeServerFailure:
		// Not bogus: the authorities failed or could not be reached
		// (libunbound's packet then has no question section).
		return nil, fail(ErrServFail, SecurityUnknown, r.rcode, nil)
	case len(r.packet) == 0:
		return nil, fail(ErrMalformed, SecurityUnknown, r.rcode, errors.New("libunbound returned no answer packet"))
	}
	m := new(dns.Msg)
	if err := m.Unpack(r.packet); err != nil {
		return nil, fail(ErrMalformed, SecurityUnknown, r.rcode, fmt.Errorf("answer packet: %w", err))
	}
	// The packet is libunbound's internal reply, never from the network:
	// its security is r.secure, not a header bit.
	m.Response = true
	m.AuthenticatedData = r.secure
	if len(m.Question) == 0 {
		m.Question = []dns.Question{{Name: qname, Qtype: qtype, Qclass: dns.ClassINET}}
	}
	m.Rcode = r.rcode
	ans, err := parseReply(qname, qtype, m, maxChain)
	var qe *QueryError
	if errors.As(err, &qe) && r.why != "" {
		qe.Reason = BogusReason(qe.EDE, r.why)
		qe.Why = why
	}
	return ans, err
}

// dedupeFrom shortens "no signatures from 192.0.2.1 and 192.0.2.1 and
// 192.0.2.1" (libunbound names the server of every attempt) to one
// mention of each address.
func dedupeFrom(why string) string {
	parts := strings.Split(why, " and ")
	if len(parts) < 2 {
		return why
	}
	out := parts[:1]
	for _, p := range parts[1:] {
		if p != out[len(out)-1] && !strings.HasSuffix(out[len(out)-1], " "+p) {
			out = append(out, p)
		}
	}
	return strings.Join(out, " and ")
}

// EmbeddedAvailable reports whether this build has embedded mode (cgo).
const EmbeddedAvailable = true
