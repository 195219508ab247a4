// Command smload drives a running daned socketmap (or any socketmap
// server) over many persistent connections and reports the rate, the
// latency percentiles and the reply words. Each connection sends a
// request and waits for its reply, as Postfix does, or keeps up to
// -pipeline requests in flight. Every run is bounded by -n requests and by
// -max-time.
//
//	smload -addr 127.0.0.1:8054 -c 50 -n 200000 -domains ee-spki.test,unsigned.test
//	smload -addr /var/spool/postfix/private/daned -c 1 -pipeline 16
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/daned/daned/socketmap"
)

// options are the flags of one run.
type options struct {
	addr     string
	name     string
	domains  []string
	n        int
	conns    int
	pipeline int
	maxTime  time.Duration
}

func main() {
	var o options
	var domains string
	flag.StringVar(&o.addr, "addr", "127.0.0.1:8054", "socketmap address: host:port, or the path of a UNIX-domain socket")
	flag.StringVar(&o.name, "name", "QUERY", "map name of the requests (QUERY or QUERYwithTLSRPT)")
	flag.StringVar(&domains, "domains", "ee-spki.test", "comma-separated keys, asked in turn")
	flag.IntVar(&o.n, "n", 100000, "total requests")
	flag.IntVar(&o.conns, "c", 50, "connections, each with its own sender")
	flag.IntVar(&o.pipeline, "pipeline", 1, "requests in flight per connection (1: wait for each reply, as Postfix does)")
	flag.DurationVar(&o.maxTime, "max-time", time.Minute, "stop after this long even if -n is not reached")
	flag.Parse()
	o.domains = strings.Split(domains, ",")
	r, err := run(context.Background(), o)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r)
}

// report is the outcome of a run.
type report struct {
	o       options
	latency []time.Duration // sorted
	errors  int64
	replies map[string]int64 // by reply word
	wall    time.Duration
}

func (r report) String() string {
	pct := func(p float64) time.Duration {
		return r.latency[min(len(r.latency)-1, int(float64(len(r.latency))*p))].Round(time.Microsecond)
	}
	var words []string
	for w, n := range r.replies {
		words = append(words, fmt.Sprintf("%s=%d", w, n))
	}
	slices.Sort(words)
	return fmt.Sprintf("connections=%d pipeline=%d requests=%d errors=%d wall=%v rate=%.0f/s p50=%v p90=%v p99=%v replies: %s",
		r.o.conns, r.o.pipeline, len(r.latency), r.errors, r.wall.Round(time.Millisecond), float64(len(r.latency))/r.wall.Seconds(),
		pct(0.50), pct(0.90), pct(0.99), strings.Join(words, " "))
}

func dial(addr string) (net.Conn, error) {
	network := "tcp"
	if strings.Contains(addr, "/") {
		network = "unix"
	}
	return net.DialTimeout(network, addr, 10*time.Second)
}

// run opens the connections, warms the server (one request per key),
// then sends o.n requests and measures each from its write to its reply.
func run(ctx context.Context, o options) (report, error) {
	if o.n < 1 || o.conns < 1 || o.pipeline < 1 || len(o.domains) == 0 {
		return report{}, errors.New("-n, -c and -pipeline must be at least 1, and -domains not empty")
	}
	reqs := make([][]byte, len(o.domains))
	for i, d := range o.domains {
		reqs[i] = socketmap.AppendNetstring(nil, o.name+" "+strings.TrimSpace(d))
	}
	conns := make([]net.Conn, 0, o.conns)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range o.conns {
		c, err := dial(o.addr)
		if err != nil {
			return report{}, fmt.Errorf("connection %d of %d: %w (raise the open-file limit for thousands of connections)", len(conns)+1, o.conns, err)
		}
		conns = append(conns, c)
	}
	// Warm the server's cache with every key before the clock starts.
	{
		rd := bufio.NewReader(conns[0])
		for _, r := range reqs {
			if _, err := conns[0].Write(r); err != nil {
				return report{}, err
			}
			if _, err := socketmap.ReadNetstring(rd, nil, socketmap.MaxReply); err != nil {
				return report{}, fmt.Errorf("warm-up: %w", err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.maxTime)
	defer cancel()
	var left atomic.Int64
	left.Store(int64(o.n))
	var errs atomic.Int64
	lat := make([][]time.Duration, len(conns))
	words := make([]map[string]int64, len(conns))
	var wg sync.WaitGroup
	start := time.Now()
	for i, c := range conns {
		lat[i] = make([]time.Duration, 0, o.n/len(conns)+1)
		words[i] = map[string]int64{}
		stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
		wg.Go(func() {
			defer stop()
			w := worker{c: c, rd: bufio.NewReaderSize(c, 64<<10), reqs: reqs, next: i, left: &left, lat: &lat[i], words: words[i]}
			var err error
			if o.pipeline == 1 {
				err = w.lockstep()
			} else {
				err = w.pipelined(o.pipeline)
			}
			if err != nil && ctx.Err() == nil {
				errs.Add(1)
			}
		})
	}
	wg.Wait()
	rep := report{o: o, wall: time.Since(start), errors: errs.Load(), replies: map[string]int64{}}
	for i := range conns {
		rep.latency = append(rep.latency, lat[i]...)
		for w, n := range words[i] {
			rep.replies[w] += n
		}
	}
	slices.Sort(rep.latency)
	if len(rep.latency) == 0 {
		return rep, fmt.Errorf("no request answered (%d connection errors)", rep.errors)
	}
	return rep, nil
}

// worker drives one connection.
type worker struct {
	c     net.Conn
	rd    *bufio.Reader
	reqs  [][]byte
	next  int
	left  *atomic.Int64
	lat   *[]time.Duration
	words map[string]int64
	buf   []byte
}

func (w *worker) request() []byte {
	r := w.reqs[w.next%len(w.reqs)]
	w.next++
	return r
}

func (w *worker) reply() error {
	p, err := socketmap.ReadNetstring(w.rd, w.buf, socketmap.MaxReply)
	if err != nil {
		return err
	}
	w.buf = p
	word, _, _ := strings.Cut(string(p), " ")
	w.words[word]++
	return nil
}

// lockstep sends one request at a time.
func (w *worker) lockstep() error {
	for w.left.Add(-1) >= 0 {
		t := time.Now()
		if _, err := w.c.Write(w.request()); err != nil {
			return err
		}
		if err := w.reply(); err != nil {
			return err
		}
		*w.lat = append(*w.lat, time.Since(t))
	}
	return nil
}

// pipelined keeps up to depth requests in flight: a sender writes each
// request as soon as the window has room, while the replies are read in
// order.
func (w *worker) pipelined(depth int) error {
	window := make(chan struct{}, depth)
	sent := make(chan time.Time, depth)
	var sendErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(sent)
		for w.left.Add(-1) >= 0 {
			window <- struct{}{}
			sent <- time.Now()
			if _, err := w.c.Write(w.request()); err != nil {
				sendErr = err
				return
			}
		}
	}()
	var err error
	for t := range sent {
		if err = w.reply(); err != nil {
			_ = w.c.SetDeadline(time.Unix(1, 0)) // stop the sender
			break
		}
		*w.lat = append(*w.lat, time.Since(t))
		<-window
	}
	// Unblock the sender, wherever it waits, until it has finished.
	for finished := false; !finished; {
		select {
		case <-window:
		case <-sent:
		case <-done:
			finished = true
		}
	}
	if err == nil {
		err = sendErr
	}
	return err
}
