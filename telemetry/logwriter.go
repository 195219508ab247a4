package telemetry

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// LogWriter batches log output: writes go to a buffer, which is flushed
// when full, every interval, and on Close. daned writes one log line per
// verdict; without batching each is a write system call under the
// logger's lock, which on a busy server costs more than serving a cached
// verdict. The price: a crash loses at most the last interval of lines.
type LogWriter struct {
	mu   sync.Mutex
	buf  *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

// NewLogWriter returns a LogWriter over w flushing every interval (at
// least 10ms).
func NewLogWriter(w io.Writer, interval time.Duration) *LogWriter {
	l := &LogWriter{buf: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go l.flushEvery(max(interval, 10*time.Millisecond))
	return l
}

// Write buffers p.
func (l *LogWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// Flush writes out what is buffered.
func (l *LogWriter) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Flush()
}

// Close stops the periodic flush and flushes. Writes after Close are
// still buffered and flushed by the next Flush or when the buffer fills.
func (l *LogWriter) Close() error {
	select {
	case <-l.stop:
	default:
		close(l.stop)
		<-l.done
	}
	return l.Flush()
}

func (l *LogWriter) flushEvery(interval time.Duration) {
	defer close(l.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = l.Flush()
		case <-l.stop:
			return
		}
	}
}
