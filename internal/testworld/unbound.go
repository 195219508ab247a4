package testworld

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// ErrNoUnbound is returned when the unbound binary cannot be found.
var ErrNoUnbound = errors.New("unbound not found: install it with `apt-get install unbound`")

// UnboundBinary finds the unbound daemon on PATH or at /usr/sbin/unbound.
func UnboundBinary() (string, error) {
	if p, err := exec.LookPath("unbound"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/unbound", "/usr/local/sbin/unbound"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", ErrNoUnbound
}

// Unbound is a running Unbound validating resolver for a World.
type Unbound struct {
	addr    string
	dir     string
	conf    string
	logFile string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	once    sync.Once
}

// unboundStartTimeout bounds how long StartUnbound waits for an answer.
const unboundStartTimeout = 15 * time.Second

// StartUnbound writes a configuration for w into dir (config, trust
// anchor, log) and runs `unbound -d -p -c <conf>` on 127.0.0.1 at a free
// port. It returns once Unbound answers a query for the root SOA, and
// retries with a new port when the chosen one was taken meanwhile.
func StartUnbound(ctx context.Context, w *World, dir string) (*Unbound, error) {
	bin, err := UnboundBinary()
	if err != nil {
		return nil, err
	}
	ta := filepath.Join(dir, "root.ds")
	if err := os.WriteFile(ta, []byte(w.TrustAnchor()), 0o644); err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		u, err := startUnbound(ctx, bin, w, dir, ta, port)
		if err == nil {
			return u, nil
		}
		lastErr = err
		if ctx.Err() != nil || !strings.Contains(err.Error(), "in use") {
			return nil, err
		}
	}
	return nil, lastErr
}

// freePort finds a port free for both UDP and TCP on 127.0.0.1.
func freePort() (int, error) {
	for i := 0; i < 10; i++ {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		pc.Close()
		if err != nil {
			continue
		}
		ln.Close()
		return port, nil
	}
	return 0, errors.New("testworld: no free port for unbound on 127.0.0.1")
}

// UnboundConfig returns the unbound.conf text for w, listening on
// 127.0.0.1:port, with dir as its directory and taFile as trust anchor.
func UnboundConfig(w *World, dir, taFile string, port int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `server:
	interface: 127.0.0.1
	port: %d
	do-ip4: yes
	do-ip6: no
	do-udp: yes
	do-tcp: yes
	access-control: 127.0.0.0/8 allow
	num-threads: 1
	so-reuseport: no
	username: ""
	chroot: ""
	directory: %q
	pidfile: %q
	use-syslog: no
	logfile: %q
	log-time-ascii: yes
	log-servfail: yes
	verbosity: 1
	do-not-query-localhost: no
	local-zone: "test." nodefault
	trust-anchor-file: %q
	module-config: "validator iterator"
	ede: yes
	val-log-level: 2
	qname-minimisation: no
	aggressive-nsec: no
	harden-dnssec-stripped: yes
	val-permissive-mode: no
	serve-expired: no
	prefetch: no
	prefetch-key: no
	val-bogus-ttl: 5
	cache-max-negative-ttl: 60
	infra-host-ttl: 60
	infra-keep-probing: yes
	infra-cache-max-rtt: 2000
	edns-buffer-size: 1232
	# Answer RRsets in the authority's order, not rotated: responses list
	# TLSA records in answer order and the golden files pin that order.
	rrset-roundrobin: no

remote-control:
	control-enable: no

`, port, dir, filepath.Join(dir, "unbound.pid"), filepath.Join(dir, "unbound.log"), taFile)
	b.WriteString(w.StubZones())
	return b.String()
}

func startUnbound(ctx context.Context, bin string, w *World, dir, ta string, port int) (*Unbound, error) {
	u := &Unbound{
		addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		dir:     dir,
		conf:    filepath.Join(dir, "unbound.conf"),
		logFile: filepath.Join(dir, "unbound.log"),
		exited:  make(chan struct{}),
	}
	_ = os.Remove(u.logFile)
	if err := os.WriteFile(u.conf, []byte(UnboundConfig(w, dir, ta, port)), 0o644); err != nil {
		return nil, err
	}
	stderr, err := os.Create(filepath.Join(dir, "unbound.stderr"))
	if err != nil {
		return nil, err
	}
	defer stderr.Close()
	u.cmd = exec.Command(bin, "-d", "-p", "-c", u.conf)
	u.cmd.Dir = dir
	u.cmd.Stdout, u.cmd.Stderr = stderr, stderr
	// Dies with us even if the test binary is killed without cleanup.
	u.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := u.cmd.Start(); err != nil {
		return nil, fmt.Errorf("testworld: start unbound: %w", err)
	}
	go func() {
		u.waitErr = u.cmd.Wait()
		close(u.exited)
	}()

	deadline := time.Now().Add(unboundStartTimeout)
	c := &dns.Client{Net: "udp", Timeout: 500 * time.Millisecond}
	q := new(dns.Msg)
	q.SetQuestion(".", dns.TypeSOA)
	q.SetEdns0(1232, true)
	for {
		select {
		case <-u.exited:
			return nil, fmt.Errorf("testworld: unbound exited (%v): %s", u.waitErr, u.Logs())
		case <-ctx.Done():
			u.Close()
			return nil, ctx.Err()
		default:
		}
		if r, _, err := c.Exchange(q, u.addr); err == nil && r.Rcode == dns.RcodeSuccess {
			return u, nil
		}
		if time.Now().After(deadline) {
			logs := u.Logs()
			u.Close()
			return nil, fmt.Errorf("testworld: unbound at %s did not answer the root SOA within %s: %s", u.addr, unboundStartTimeout, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Addr is Unbound's "127.0.0.1:port".
func (u *Unbound) Addr() string { return u.addr }

// ConfigFile is the path of the generated unbound.conf.
func (u *Unbound) ConfigFile() string { return u.conf }

// Logs returns the tail of Unbound's log and stderr (for failure messages).
func (u *Unbound) Logs() string {
	var out []string
	for _, f := range []string{u.logFile, filepath.Join(u.dir, "unbound.stderr")} {
		b, err := os.ReadFile(f)
		if err != nil || len(b) == 0 {
			continue
		}
		if len(b) > 8192 {
			b = b[len(b)-8192:]
		}
		out = append(out, filepath.Base(f)+":\n"+string(b))
	}
	return strings.Join(out, "\n")
}

// Close stops Unbound (SIGTERM, then SIGKILL after 5 s) and reaps it.
func (u *Unbound) Close() error {
	u.once.Do(func() {
		_ = u.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-u.exited:
		case <-time.After(5 * time.Second):
			_ = u.cmd.Process.Kill()
			<-u.exited
		}
	})
	return nil
}
