package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ErrNoPostfix is returned when posttls-finger cannot be found.
var ErrNoPostfix = errors.New("posttls-finger not found: install Postfix with " +
	"`echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections && " +
	"DEBIAN_FRONTEND=noninteractive apt-get install -y postfix` (or `make debian-tools`)")

// FingerBinary finds posttls-finger on PATH or in /usr/sbin.
func FingerBinary() (string, error) {
	return findBinary("posttls-finger", ErrNoPostfix)
}

func findBinary(name string, notFound error) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", notFound
}

// Finger runs posttls-finger with a private Postfix configuration
// directory.
type Finger struct {
	// Bin is the posttls-finger binary.
	Bin string
	// ConfigDir holds the main.cf posttls-finger reads (MAIL_CONFIG).
	ConfigDir string
	// Timeout is posttls-finger's -t (connect and banner) and -T (each
	// SMTP command) in seconds.
	Timeout int
	// Deadline bounds one whole run (it is killed after it).
	Deadline time.Duration
}

// MainCF is the main.cf of the private configuration directory:
// DNSSEC-aware lookups (smtp_dns_support_level=dnssec, without which
// Postfix never sees a secure answer and never does DANE) and the dane
// security level, as a DANE-enabled Postfix MTA would have.
const MainCF = `compatibility_level = 3.6
myhostname = conformance.daned.test
smtp_dns_support_level = dnssec
smtp_tls_security_level = dane
smtp_host_lookup = dns
`

// NewFinger writes a main.cf into dir and returns a Finger using it.
func NewFinger(bin, dir string, timeout int, deadline time.Duration) (*Finger, error) {
	if err := os.WriteFile(filepath.Join(dir, "main.cf"), []byte(MainCF), 0o644); err != nil {
		return nil, err
	}
	return &Finger{Bin: bin, ConfigDir: dir, Timeout: timeout, Deadline: deadline}, nil
}

// Args returns posttls-finger's arguments for a destination, "domain"
// (MX lookup, as a delivery would do) or "[host]" (that host only): -v (verbose: the DNS lookups,
// among them whether a TLSA RRset was found, and the SMTP chat, which shows
// a missing STARTTLS), -l dane, -L routine,certmatch (the TLSA record that
// matched), -t/-T timeouts, and DNSSEC lookups.
func (f *Finger) Args(dest string) []string {
	t := fmt.Sprint(f.Timeout)
	return []string{"-v", "-l", "dane", "-L", "routine,certmatch", "-t", t, "-T", t,
		"-o", "smtp_dns_support_level=dnssec", dest}
}

// Run runs posttls-finger against dest and returns its combined output.
// A non-zero exit is not an error: posttls-finger exits non-zero on most
// failures, which its output explains.
func (f *Finger) Run(ctx context.Context, dest string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, f.Deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, f.Bin, f.Args(dest)...)
	cmd.Env = append(os.Environ(), "MAIL_CONFIG="+f.ConfigDir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return out.String(), fmt.Errorf("posttls-finger %s: no result within %s", dest, f.Deadline)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return out.String(), err
	}
	return out.String(), nil
}

// CommandLine returns the command line for dest, for the docs.
func (f *Finger) CommandLine(dest string) string {
	return "posttls-finger " + strings.Join(f.Args(dest), " ")
}

// ResolvConf is the private resolv.conf: the world's Unbound, short
// timeouts (a TLSA name whose server never answers must not hang the
// suite) and trust-ad, without which glibc (2.31 and later) clears the AD
// bit and Postfix sees every answer as insecure.
const ResolvConf = "nameserver 127.0.0.1\noptions timeout:3 attempts:2 trust-ad\n"

// ErrNoIP and ErrNoUnshare name the packages to install.
var (
	ErrNoIP      = errors.New("ip not found: install it with `apt-get install iproute2`")
	ErrNoUnshare = errors.New("unshare not found: install it with `apt-get install util-linux`")
)

// IPBinary finds ip(8).
func IPBinary() (string, error) { return findBinary("ip", ErrNoIP) }

// UnshareBinary finds unshare(1).
func UnshareBinary() (string, error) { return findBinary("unshare", ErrNoUnshare) }

// FingerRun is one posttls-finger run.
type FingerRun struct {
	Dest    string `json:"dest"`
	Command string `json:"command"`
	Output  string `json:"output"`
	Elapsed string `json:"elapsed"`
	Error   string `json:"error,omitempty"`
}
