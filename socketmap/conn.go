package socketmap

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/daned/daned/limit"
)

// conn is one client connection. One goroutine reads requests in order;
// each is answered inline when nothing else is outstanding (the usual
// Postfix case: one request, wait for the reply) and in its own goroutine
// when requests are pipelined. Replies are written strictly in request
// order by whichever answer completes the head of the queue.
type conn struct {
	s      *Server
	nc     net.Conn
	rd     *bufio.Reader
	caller string
	ctx    context.Context // ends when the connection or the server is closed
	cancel context.CancelFunc
	slots  chan struct{} // MaxPipeline unanswered requests

	stateMu  sync.Mutex // orders stopReading against the reader's deadlines
	stopping bool
	readDL   time.Time // the read deadline set last

	writeDL time.Time // the write deadline set last; guarded by wmu

	wmu    sync.Mutex // guards queue, out, werr and the writes
	queue  []*slot    // unanswered requests, oldest first
	out    []byte
	werr   error
	unsent sync.WaitGroup // requests read and not yet written (or dropped)
}

// slot is one request's place in the reply order.
type slot struct {
	reply Reply
	done  bool
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{s: s, nc: nc, rd: bufio.NewReaderSize(nc, 4096), caller: limit.Key(nc.RemoteAddr()),
		slots: make(chan struct{}, s.cfg.MaxPipeline)}
	c.ctx, c.cancel = context.WithCancel(s.baseCtx)
	return c
}

// serve reads requests until the client leaves, the connection breaks or
// idles, or the server stops; then it waits for the replies owed and
// closes the connection.
func (c *conn) serve() {
	defer c.finish()
	var buf []byte
	for {
		if c.rd.Buffered() == 0 {
			// Between requests: wait for the next one's first byte.
			if !c.setReadDeadline(c.s.cfg.IdleTimeout) {
				return
			}
			if _, err := c.rd.Peek(1); err != nil {
				if isTimeout(err) && !c.isStopping() && c.outstanding() > 0 {
					continue // never close a connection that is owed a reply
				}
				return
			}
		}
		if bufferedNetstring(c.rd) {
			// The whole request is here: reading it cannot block, and
			// needs no deadline (setting one is a cost per request).
			if c.isStopping() {
				return
			}
		} else if !c.setReadDeadline(c.s.cfg.ReadTimeout) {
			return
		}
		payload, err := ReadNetstring(c.rd, buf, MaxQuery)
		if err != nil {
			c.readFailed(err)
			return
		}
		buf = payload
		if !c.dispatch(payload) {
			return
		}
	}
}

// readFailed answers a request that could not be read, when it can be
// answered: the stream cannot be resynchronised after it.
func (c *conn) readFailed(err error) {
	if c.isStopping() {
		return
	}
	switch {
	case errors.Is(err, ErrTooLong):
		c.s.cfg.Metrics.Refused(c.ctx, "oversize")
		c.s.cfg.Metrics.Request(c.ctx, "other", "PERM", "", 0)
		c.enqueue(perm("request longer than " + strconv.Itoa(MaxQuery) + " bytes (socketmap_table(5) limit)"))
	case errors.Is(err, ErrMalformed):
		c.s.cfg.Metrics.Refused(c.ctx, "malformed")
		c.s.cfg.Metrics.Request(c.ctx, "other", "PERM", "", 0)
		c.enqueue(perm("malformed request: not a netstring"))
	case isTimeout(err):
		// A request begun and not finished within ReadTimeout.
		c.s.cfg.Metrics.Refused(c.ctx, "read_timeout")
		c.s.log.LogAttrs(c.ctx, slog.LevelDebug, "socketmap: request not received in time; closing", slog.String("caller", c.caller))
	}
}

// dispatch answers one request in order. It returns false when the
// connection is closing.
func (c *conn) dispatch(payload []byte) bool {
	select {
	case c.slots <- struct{}{}:
	case <-c.ctx.Done():
		return false
	}
	nameB, keyB, ok := splitRequest(payload)
	name := requestName(nameB)
	key := string(keyB)
	sl := &slot{}
	c.wmu.Lock()
	inline := len(c.queue) == 0 && c.rd.Buffered() == 0
	if inline {
		// Nothing else is owed and nothing else is read until this is
		// answered: the reply goes out at once, without a place in the
		// queue.
		c.wmu.Unlock()
		r := c.s.handle(c.ctx, c.caller, name, key, ok)
		c.wmu.Lock()
		c.write(r.Append(c.out))
		c.wmu.Unlock()
		<-c.slots
		return true
	}
	c.queue = append(c.queue, sl)
	c.wmu.Unlock()
	c.unsent.Add(1)
	go func() { c.complete(sl, c.s.handle(c.ctx, c.caller, name, key, ok)) }()
	return true
}

// enqueue queues a reply that needs no answering (an error reply).
func (c *conn) enqueue(r Reply) {
	sl := &slot{}
	c.wmu.Lock()
	c.queue = append(c.queue, sl)
	c.wmu.Unlock()
	c.unsent.Add(1)
	c.slots <- struct{}{} // complete releases one; the reader holds none here
	c.complete(sl, r)
}

// complete records a request's reply and writes every reply at the head
// of the queue that is ready, in order.
func (c *conn) complete(sl *slot, r Reply) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	sl.reply, sl.done = r, true
	n := 0
	for n < len(c.queue) && c.queue[n].done {
		c.out = c.queue[n].reply.Append(c.out)
		c.queue[n] = nil
		n++
	}
	if n == 0 {
		return
	}
	c.queue = c.queue[n:]
	if len(c.queue) == 0 {
		c.queue = c.queue[:0:0] // let the old array go
	}
	c.write(c.out)
	for range n {
		<-c.slots
		c.unsent.Done()
	}
}

// write sends out, which is c.out with replies appended, unless an
// earlier write failed; a failed write ends the connection. c.wmu must be
// held.
func (c *conn) write(out []byte) {
	if c.werr == nil {
		setDeadline(c.nc.SetWriteDeadline, &c.writeDL, c.s.cfg.WriteTimeout)
		if _, err := c.nc.Write(out); err != nil {
			c.werr = err
			c.cancel()
			c.nc.Close() // the reader stops too
		}
	}
	c.out = out[:0]
}

// bufferedNetstring reports whether rd's buffer holds a whole netstring
// (or what is certainly not one, which ReadNetstring reports at once).
func bufferedNetstring(rd *bufio.Reader) bool {
	b, _ := rd.Peek(rd.Buffered())
	n := 0
	for i, ch := range b {
		switch {
		case ch == ':' && i > 0:
			return len(b) >= i+1+n+1
		case ch < '0' || ch > '9', n > MaxQuery:
			return true // malformed or too long: no more bytes are needed
		}
		n = n*10 + int(ch-'0')
	}
	return false
}

// outstanding returns the number of unanswered requests.
func (c *conn) outstanding() int {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return len(c.queue)
}

// setReadDeadline sets the read deadline d from now, unless the
// connection is stopping.
func (c *conn) setReadDeadline(d time.Duration) bool {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	if c.stopping {
		return false
	}
	setDeadline(c.nc.SetReadDeadline, &c.readDL, d)
	return true
}

// setDeadline moves a deadline to d from now, through set, unless the
// deadline last set (*last) is already that within a 64th of d: a busy
// connection then does not move its timer on every request, which was a
// measurable part of a cached answer's cost. A deadline is thus never
// later than asked and at most d/64 earlier.
func setDeadline(set func(time.Time) error, last *time.Time, d time.Duration) {
	want := time.Now().Add(d)
	if !last.After(want) && want.Sub(*last) <= d/64 {
		return
	}
	*last = want
	_ = set(want)
}

func (c *conn) isStopping() bool {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	return c.stopping
}

// stopReading makes the reader stop at once (Shutdown): a request being
// read is abandoned, those already read are still answered.
func (c *conn) stopReading() {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	c.stopping = true
	c.readDL = time.Unix(1, 0)
	_ = c.nc.SetReadDeadline(c.readDL)
}

// finish waits for the replies owed, then closes the connection.
func (c *conn) finish() {
	c.unsent.Wait()
	c.cancel()
	c.nc.Close()
	c.s.forget(c)
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() && !errors.Is(err, io.EOF)
}
