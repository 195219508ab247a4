package collector

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/daned/daned/tlsrpt"
)

// Sink receives the sessions of each accepted datagram: the aggregation.
// Add is called from one goroutine at a time, in the order the datagrams
// arrived, and should return quickly: while it runs, datagrams wait in
// the queue, and past the queue they are dropped.
//
// Add gets the sessions only: the datagram's report domain and TLSRPT
// record ("d" and "pr", tlsrpt.Datagram) are not passed on.
type Sink interface {
	Add(sessions ...tlsrpt.Session)
}

// Metrics counts what the collector does. Its methods may be called from
// two goroutines at once. Every datagram read is counted once, by
// Datagram or by Dropped.
type Metrics interface {
	// Datagram counts one datagram read from the socket, by outcome:
	// "accepted" (its sessions went to the Sink), "malformed" (not the
	// JSON libtlsrpt writes, tlsrpt.ErrMalformed), "invalid" (well
	// formed, but with something that cannot be counted) or "oversize"
	// (longer than tlsrpt.MaxDatagram).
	Datagram(outcome string)
	// Sessions counts n sessions handed to the Sink.
	Sessions(n int)
	// Dropped counts n datagrams read but dropped unparsed because the
	// queue to the parser was full: the Sink is too slow.
	Dropped(n uint64)
}

// The outcomes of Metrics.Datagram.
const (
	outcomeAccepted  = "accepted"
	outcomeMalformed = "malformed"
	outcomeInvalid   = "invalid"
	outcomeOversize  = "oversize"
)

// Config configures a Datagrams. Zero values are the documented
// defaults.
type Config struct {
	// Path is the socket's path, Postfix's smtp_tlsrpt_socket_name.
	// Required. A socket file there that nobody listens on is replaced;
	// a socket in use, or anything else, is an error.
	Path string
	// Sink receives the sessions. Required.
	Sink Sink
	// Metrics counts datagrams and sessions; nil counts nothing.
	Metrics Metrics
	// Logger receives a debug record per refused datagram and at most
	// one warning a minute summing them up; nil means slog.Default().
	Logger *slog.Logger
	// ReadBuffer is the socket's receive buffer (SO_RCVBUF) in bytes. 0
	// means 8 MiB; the kernel caps it (Linux: net.core.rmem_max). Linux
	// bounds a UNIX datagram socket's queue by count, not by this (see
	// the package documentation).
	ReadBuffer int
	// Queue is how many datagrams may wait, read but not yet parsed,
	// while the Sink is busy; past it they are dropped and counted. 0
	// means 1024. Each holds its bytes only, a few hundred from Postfix.
	Queue int
	// Parsers is how many datagrams are parsed and counted at once; 0
	// means one per CPU (GOMAXPROCS). With more than one, the sink sees
	// datagrams in no particular order.
	Parsers int
	// Now gives the arrival time of a datagram, which is its sessions'
	// time (datagrams carry none), and the clock of the rate-limited
	// warning; nil means time.Now.
	Now func() time.Time
}

// ErrClosed is returned by Serve after Close.
var ErrClosed = errors.New("collector: closed")

// Datagrams is the collector on one UNIX datagram socket. Make one with
// New, run it with Serve, stop it with Close.
type Datagrams struct {
	cfg     Config
	log     *slog.Logger
	metrics Metrics
	conn    *net.UnixConn
	sock    os.FileInfo // the socket file New made, removed by Close if still there
	done    chan struct{}

	mu      sync.Mutex
	closed  bool
	serving bool

	warnMu   sync.Mutex
	refused  int // since the last warning
	lastWarn time.Time
}

// arrival is a datagram read and not yet parsed.
type arrival struct {
	b  []byte
	at time.Time
}

// New checks cfg, makes the socket at cfg.Path (mode 0666: the postfix
// user sends to it, and a datagram can only add counts; restrict access
// with the directory's permissions) and returns the collector, not yet
// reading.
func New(cfg Config) (*Datagrams, error) {
	if cfg.Path == "" {
		return nil, errors.New("collector: a socket path is required")
	}
	if cfg.Sink == nil {
		return nil, errors.New("collector: a sink is required")
	}
	if cfg.ReadBuffer < 0 || cfg.Queue < 0 || cfg.Parsers < 0 {
		return nil, errors.New("collector: ReadBuffer, Queue and Parsers must not be negative")
	}
	if cfg.ReadBuffer == 0 {
		cfg.ReadBuffer = 8 << 20
	}
	if cfg.Parsers == 0 {
		cfg.Parsers = runtime.GOMAXPROCS(0)
	}
	if cfg.Queue == 0 {
		cfg.Queue = 1024
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := cfg.Metrics
	if m == nil {
		m = noMetrics{}
	}
	conn, sock, err := listen(cfg.Path)
	if err != nil {
		return nil, err
	}
	if err := conn.SetReadBuffer(cfg.ReadBuffer); err != nil {
		conn.Close()
		os.Remove(cfg.Path)
		return nil, fmt.Errorf("collector: %s: setting the receive buffer: %w", cfg.Path, err)
	}
	return &Datagrams{cfg: cfg, log: cfg.Logger, metrics: m, conn: conn, sock: sock, done: make(chan struct{})}, nil
}

// listen makes the socket at path, replacing a stale one.
func listen(path string) (*net.UnixConn, os.FileInfo, error) {
	fi, err := os.Lstat(path)
	switch {
	case err == nil:
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, nil, fmt.Errorf("collector: %s exists and is not a socket", path)
		}
		// connect(2) to a datagram socket succeeds only while something
		// is bound to it: another collector (daned, tlsrpt-collectd).
		if c, err := net.Dial("unixgram", path); err == nil {
			c.Close()
			return nil, nil, fmt.Errorf("collector: %s is in use by another collector", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, nil, fmt.Errorf("collector: removing the stale socket: %w", err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, nil, fmt.Errorf("collector: %w", err)
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, nil, fmt.Errorf("collector: %w", err)
	}
	fail := func(err error) (*net.UnixConn, os.FileInfo, error) {
		conn.Close()
		os.Remove(path)
		return nil, nil, fmt.Errorf("collector: %w", err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		return fail(err)
	}
	sock, err := os.Lstat(path)
	if err != nil {
		return fail(err)
	}
	return conn, sock, nil
}

// Path returns the socket's path.
func (d *Datagrams) Path() string { return d.cfg.Path }

// Serve reads datagrams until Close, then parses those still queued and
// returns ErrClosed. Another read error ends it the same way and is
// returned. It may be called once.
func (d *Datagrams) Serve() error {
	d.mu.Lock()
	switch {
	case d.closed:
		d.mu.Unlock()
		return ErrClosed
	case d.serving:
		d.mu.Unlock()
		return errors.New("collector: Serve called twice")
	}
	d.serving = true
	d.mu.Unlock()
	defer close(d.done)

	queue := make(chan arrival, d.cfg.Queue)
	// Parsing is the collector's cost: one parser per CPU by default.
	var parsers sync.WaitGroup
	for range d.cfg.Parsers {
		parsers.Go(func() {
			for a := range queue {
				d.handle(a)
			}
		})
	}
	err := d.read(queue)
	close(queue)
	parsers.Wait()
	return err
}

// read is the read loop: it only reads and queues, so that the kernel's
// short queue empties as fast as it can.
func (d *Datagrams) read(queue chan<- arrival) error {
	// One byte more than the longest datagram parsed tells an oversize
	// datagram (the kernel truncates it to the buffer) from one at the
	// limit.
	buf := make([]byte, tlsrpt.MaxDatagram+1)
	for {
		n, err := d.conn.Read(buf)
		if err != nil {
			if d.isClosed() {
				return ErrClosed
			}
			return fmt.Errorf("collector: reading %s: %w", d.cfg.Path, err)
		}
		at := d.cfg.Now()
		if n > tlsrpt.MaxDatagram {
			d.refuse(outcomeOversize, fmt.Errorf("a datagram over %d bytes", tlsrpt.MaxDatagram))
			continue
		}
		select {
		case queue <- arrival{b: append([]byte(nil), buf[:n]...), at: at}:
		default:
			d.note(errors.New("the queue to the parser is full: the sink is too slow"))
			d.metrics.Dropped(1)
		}
	}
}

// handle parses one datagram and hands its sessions to the sink.
func (d *Datagrams) handle(a arrival) {
	dg, err := tlsrpt.ParseDatagram(a.b, a.at)
	if err != nil {
		outcome := outcomeInvalid
		if errors.Is(err, tlsrpt.ErrMalformed) {
			outcome = outcomeMalformed
		}
		d.refuse(outcome, err)
		return
	}
	d.cfg.Sink.Add(dg.Sessions...)
	d.metrics.Datagram(outcomeAccepted)
	d.metrics.Sessions(len(dg.Sessions))
}

// refuse logs and counts a refused datagram (in that order: once
// counted, it is logged).
func (d *Datagrams) refuse(outcome string, err error) {
	d.log.Debug("collector: datagram refused", slog.String("outcome", outcome), slog.Any("error", err))
	d.note(err)
	d.metrics.Datagram(outcome)
}

// note counts a datagram lost to err and warns at most once a minute,
// with the number lost since the last warning.
func (d *Datagrams) note(err error) {
	d.warnMu.Lock()
	d.refused++
	now := d.cfg.Now()
	if !d.lastWarn.IsZero() && now.Sub(d.lastWarn) < time.Minute {
		d.warnMu.Unlock()
		return
	}
	n := d.refused
	d.refused, d.lastWarn = 0, now
	d.warnMu.Unlock()
	d.log.Warn("collector: TLSRPT datagrams refused or dropped", slog.String("socket", d.cfg.Path),
		slog.Int("count", n), slog.String("last_error", err.Error()))
}

func (d *Datagrams) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// Close stops reading, waits until Serve has parsed what was queued and
// returned, and removes the socket file (unless something else has
// replaced it since). It may be called more than once.
func (d *Datagrams) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	serving := d.serving
	d.mu.Unlock()
	err := d.conn.Close()
	if serving {
		<-d.done
	}
	if fi, lerr := os.Lstat(d.cfg.Path); lerr == nil && os.SameFile(fi, d.sock) {
		if rerr := os.Remove(d.cfg.Path); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	if err != nil {
		return fmt.Errorf("collector: %w", err)
	}
	return nil
}

type noMetrics struct{}

func (noMetrics) Datagram(string) {}
func (noMetrics) Sessions(int)    {}
func (noMetrics) Dropped(uint64)  {}
