// Command deliver delivers one message over SMTP with DANE (RFC 7672),
// as an MTA would with daned: a policy-only Validate gives the MX hosts
// in preference order with their DNSSEC-validated addresses and policies,
// daneclient.HostTLSConfigFor the tls.Config that enforces each host's
// policy (DANE, or an enforced MTA-STS policy) on deliver's own
// connection, and a host that fails (no STARTTLS where TLS is mandatory, a
// chain DANE or the WebPKI rejects, a refused connection) is left for the
// next one. Cleartext is used only for OPPORTUNISTIC hosts.
//
//	deliver -server 127.0.0.1:8053 -from me@example.org -to you@example.com < message.eml
//
// Exit status: 0 delivered, 1 deferred or bounced (the enhanced status
// code is printed), 2 usage error. It is an example: it makes one attempt
// and leaves retries (daneclient.NextAttempt) to its caller.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"os"
	"strconv"
	"strings"
	"time"

	daneclient "github.com/daned/daned/clients/go"
	danev1 "github.com/daned/daned/proto/dane/v1"
)

// message is what to deliver and how.
type message struct {
	From, To string
	Data     []byte
	Helo     string        // the EHLO name
	Port     int           // the SMTP port (25)
	Timeout  time.Duration // per connection
}

// Delivery says where the message went.
type Delivery struct {
	Host string // the MX host that took it
	Addr string // the address, host:port
	TLS  bool
}

// Failure is why the message was not delivered: an enhanced status code
// to defer or bounce with, and the story.
type Failure struct {
	Code      string // "4.7.323"
	Permanent bool
	Detail    string
}

func (f *Failure) Error() string { return f.Code + " " + f.Detail }

// deliver sends m to the MX hosts of the recipient's domain, in
// preference order, through the first that takes it under its policy.
func deliver(ctx context.Context, daned *daneclient.Client, m message) (Delivery, error) {
	_, domain, ok := strings.Cut(m.To, "@")
	if !ok || domain == "" {
		return Delivery{}, fmt.Errorf("recipient %q has no domain", m.To)
	}
	v, err := daned.Policy(ctx, domain)
	if err != nil {
		return Delivery{}, &Failure{Code: "4.4.3", Detail: "daned: " + err.Error()}
	}
	if v.GetAction() == danev1.Action_ACTION_REJECT {
		return Delivery{}, &Failure{Code: v.GetStatusCode(), Permanent: true, Detail: v.GetStatusText()}
	}
	var failures []string
	last := &Failure{Code: v.GetStatusCode(), Detail: v.GetStatusText()}
	for _, h := range v.GetMxHosts() {
		if !h.GetUsableForDelivery() {
			continue
		}
		cfg, err := daned.HostTLSConfigFor(v, h)
		if err != nil {
			failures = append(failures, err.Error())
			continue
		}
		for _, a := range h.GetAddresses() {
			addr := net.JoinHostPort(a.GetIp(), strconv.Itoa(m.Port))
			d, err := send(ctx, m, h, addr, cfg)
			if err == nil {
				return d, nil
			}
			failures = append(failures, fmt.Sprintf("%s [%s]: %v", h.GetName(), addr, err))
			last = failureOf(err)
		}
	}
	if len(failures) == 0 {
		return Delivery{}, last
	}
	last.Detail = strings.Join(failures, "; ")
	return Delivery{}, last
}

// failureOf gives a delivery error its enhanced status code.
func failureOf(err error) *Failure {
	var ve *daneclient.VerifyError
	var ne net.Error
	switch {
	case errors.As(err, &ve):
		return &Failure{Code: ve.Code()}
	case errors.Is(err, errNoTLS):
		return &Failure{Code: "4.7.321"}
	case errors.As(err, &ne):
		return &Failure{Code: "4.4.1"}
	}
	return &Failure{Code: "4.4.2"}
}

// errNoTLS: the server does not offer STARTTLS where the policy demands TLS.
var errNoTLS = errors.New("STARTTLS not offered where the host's policy demands TLS (RFC 7672 §2.2)")

// send delivers m over one connection to addr, a host of policy h.
func send(ctx context.Context, m message, h *danev1.MxHost, addr string, cfg *tls.Config) (Delivery, error) {
	dialer := net.Dialer{Timeout: m.Timeout}
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return Delivery{}, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(m.Timeout))
	c, err := smtp.NewClient(conn, h.GetName())
	if err != nil {
		return Delivery{}, err
	}
	defer c.Close()
	if err := c.Hello(m.Helo); err != nil {
		return Delivery{}, err
	}
	d := Delivery{Host: h.GetName(), Addr: addr}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(cfg); err != nil {
			return Delivery{}, err
		}
		d.TLS = true
	} else if h.GetHostPolicy() != danev1.Policy_POLICY_OPPORTUNISTIC {
		return Delivery{}, errNoTLS
	}
	if err := c.Mail(m.From); err != nil {
		return Delivery{}, err
	}
	if err := c.Rcpt(m.To); err != nil {
		return Delivery{}, err
	}
	w, err := c.Data()
	if err != nil {
		return Delivery{}, err
	}
	if _, err := w.Write(m.Data); err != nil {
		return Delivery{}, err
	}
	if err := w.Close(); err != nil {
		return Delivery{}, err
	}
	_ = c.Quit()
	return d, nil
}

func main() {
	server := flag.String("server", "127.0.0.1:8053", "daned's gRPC address (plaintext: loopback only)")
	from := flag.String("from", "", "envelope sender")
	to := flag.String("to", "", "recipient (one)")
	helo := flag.String("helo", "localhost", "EHLO name")
	port := flag.Int("port", 25, "SMTP port of the MX hosts")
	timeout := flag.Duration("timeout", 2*time.Minute, "bound on each SMTP connection")
	flag.Parse()
	if *to == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: deliver -server host:port -from sender -to recipient < message")
		os.Exit(2)
	}
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	daned, err := daneclient.Dial(*server, daneclient.WithInsecure())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer daned.Close()
	d, err := deliver(context.Background(), daned, message{From: *from, To: *to, Data: data, Helo: *helo, Port: *port, Timeout: *timeout})
	if err != nil {
		fmt.Fprintln(os.Stderr, "not delivered:", err)
		os.Exit(1)
	}
	fmt.Printf("delivered to %s [%s], TLS %v\n", d.Host, d.Addr, d.TLS)
}
