//go:build unix

// Command dgload sends TLSRPT datagrams, as Postfix's TLSRPT library
// does, to a collector's UNIX datagram socket (daned's --tlsrpt-socket)
// and reports how many it sent and how many the kernel refused. What the
// collector made of them is in daned's metrics.
//
// Like libtlsrpt it sends without waiting (MSG_DONTWAIT): when the
// collector's queue is full the datagram is refused and counted, as
// Postfix would lose it. -block waits instead. Every run is bounded by
// -n datagrams and by -duration.
//
//	dgload -socket /run/daned/tlsrpt.sock -n 100000
//	dgload -socket /run/daned/tlsrpt.sock -rate 500 -duration 1m -file failure.json
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"syscall"
	"time"
)

// sample is what libtlsrpt sends for a Postfix session that failed its
// MTA-STS policy (tlsrpt/testdata/datagram/failure-certificate-host-mismatch.json).
const sample = `{"dpv": "1","d": "example.com","pr": "v=TLSRPTv1; rua=mailto:tlsrpt@example.com","policies":[{"policy-type":2,"policy-domain": "example.com","policy-string":["version: STSv1","mode: enforce","mx: mx1.example.com","mx: *.mail.example.net","max_age: 604800"],"mx-host":["mx1.example.com","*.mail.example.net"],"failure-details":[{"c":202,"s": "192.0.2.25","n": "mx1.example.com","h": "mx1.example.com ESMTP\r\nPIPELINING\r\nSIZE 10240000\r\nSTARTTLS\r\n8BITMIME","r": "198.51.100.7","f": "server certificate does not match mx1.example.com"}],"t":1,"f":1}]}`

// options are the flags of one run.
type options struct {
	socket   string
	datagram []byte
	n        int
	rate     float64
	duration time.Duration
	block    bool
}

func main() {
	var o options
	var file string
	flag.StringVar(&o.socket, "socket", "", "path of the collector's UNIX datagram socket (required)")
	flag.StringVar(&file, "file", "", "file holding the datagram to send (default: a Postfix MTA-STS failure)")
	flag.IntVar(&o.n, "n", 100000, "datagrams to send")
	flag.Float64Var(&o.rate, "rate", 0, "datagrams per second (0: as fast as they go)")
	flag.DurationVar(&o.duration, "duration", time.Minute, "stop after this long even if -n is not reached")
	flag.BoolVar(&o.block, "block", false, "wait while the collector's queue is full instead of counting the datagram as refused")
	flag.Parse()
	o.datagram = []byte(sample)
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			log.Fatal(err)
		}
		o.datagram = b
	}
	r, err := run(context.Background(), o)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r)
}

// report is the outcome of a run.
type report struct {
	sent, refused int
	wall          time.Duration
}

func (r report) String() string {
	return fmt.Sprintf("sent=%d refused=%d (collector queue full) wall=%v rate=%.0f/s",
		r.sent, r.refused, r.wall.Round(time.Millisecond), float64(r.sent)/r.wall.Seconds())
}

// run sends o.n datagrams, or as many as o.duration allows, at o.rate.
func run(ctx context.Context, o options) (report, error) {
	if o.socket == "" || o.n < 1 || o.rate < 0 || o.duration <= 0 || len(o.datagram) == 0 {
		return report{}, errors.New("-socket is required, -n and -duration must be positive, -rate not negative, the datagram not empty")
	}
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_DGRAM, 0)
	if err != nil {
		return report{}, err
	}
	defer syscall.Close(fd)
	to := &syscall.SockaddrUnix{Name: o.socket}
	flags := syscall.MSG_DONTWAIT
	if o.block {
		// Wait, but not past the run's end: a send that times out is
		// tried again while there is time.
		flags = 0
		tv := syscall.NsecToTimeval(int64(100 * time.Millisecond))
		if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv); err != nil {
			return report{}, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	var r report
	start := time.Now()
	for r.sent+r.refused < o.n && ctx.Err() == nil {
		if o.rate > 0 {
			// Send what is due by now, then wait for the next one.
			due := int(time.Since(start).Seconds()*o.rate) + 1
			if r.sent+r.refused >= due {
				wait := time.Until(start.Add(time.Duration(float64(r.sent+r.refused) / o.rate * float64(time.Second))))
				select {
				case <-time.After(wait):
				case <-ctx.Done():
				}
				continue
			}
		}
		switch err := syscall.Sendto(fd, o.datagram, flags, to); {
		case err == nil:
			r.sent++
		case errors.Is(err, syscall.EAGAIN) && !o.block:
			r.refused++
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR):
		default:
			r.wall = time.Since(start)
			return r, fmt.Errorf("after %d datagrams: %w", r.sent, err)
		}
	}
	r.wall = time.Since(start)
	return r, nil
}
