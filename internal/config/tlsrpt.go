package config

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/daned/daned/engine"
	"github.com/daned/daned/mtasts/manager"
	"github.com/daned/daned/probe"
	"github.com/daned/daned/state"
	"github.com/daned/daned/telemetry"
	"github.com/daned/daned/tlsrpt"
	"github.com/daned/daned/tlsrpt/collect"
	"github.com/daned/daned/tlsrpt/deliver"
	"github.com/daned/daned/tlsrpt/reporter"
)

// TLSRPTFlags configure TLS reporting (RFC 8460): daned as the fleet's
// one reporter.
type TLSRPTFlags struct {
	Enabled         bool
	Org             string
	Contact         string
	Submitter       string
	From            string
	SMTP            string
	Socket          string
	Period          time.Duration
	RedactSendingIP bool
	FailuresOnly    bool
	DKIMKey         string
	DKIMSelector    string
	DKIMDomain      string
}

// Register defines the --tlsrpt flags on fs.
func (f *TLSRPTFlags) Register(fs *flag.FlagSet) {
	fs.BoolVar(&f.Enabled, "tlsrpt", false, "TLS reporting (RFC 8460): count the TLS sessions MTAs report (ReportSessions, --tlsrpt-socket) and send the daily reports; needs --state-dir; with --redis the replicas send one report for the fleet (docs/TLSRPT.md)")
	fs.StringVar(&f.Org, "tlsrpt-org", "", "organization-name of the reports (required with --tlsrpt)")
	fs.StringVar(&f.Contact, "tlsrpt-contact", "", "contact-info of the reports: an address or URI for the receiving admins (required with --tlsrpt)")
	fs.StringVar(&f.Submitter, "tlsrpt-submitter", "", "the submitting domain, named in mail reports' subject, headers and file name (required with --tlsrpt)")
	fs.StringVar(&f.From, "tlsrpt-from", "", "From address of mail reports (default tlsrpt-noreply@SUBMITTER)")
	fs.StringVar(&f.SMTP, "tlsrpt-smtp", "", "host:port of the relay that takes mail reports (mailto: rua), STARTTLS when offered; empty: mailto: addresses are not served")
	fs.StringVar(&f.Socket, "tlsrpt-socket", "", "path of a Unix datagram socket that takes Postfix's TLSRPT datagrams (smtp_tlsrpt_socket_name); empty: off")
	fs.DurationVar(&f.Period, "tlsrpt-period", 24*time.Hour, "report period, aligned to UTC midnight; must divide 24h (RFC 8460 §4.1: a day)")
	fs.BoolVar(&f.RedactSendingIP, "tlsrpt-redact-sending-ip", false, "leave the sending MTAs' addresses out of the reports")
	fs.BoolVar(&f.FailuresOnly, "tlsrpt-failures-only", false, "send a report only for a policy domain that had a failed session in the period")
	fs.StringVar(&f.DKIMKey, "tlsrpt-dkim-key", "", "PEM private key (RSA or Ed25519) that DKIM-signs mail reports; empty: unsigned")
	fs.StringVar(&f.DKIMSelector, "tlsrpt-dkim-selector", "", "DKIM selector of --tlsrpt-dkim-key")
	fs.StringVar(&f.DKIMDomain, "tlsrpt-dkim-domain", "", "DKIM signing domain (d=) of --tlsrpt-dkim-key (default: the submitter)")
}

// TLSRPT is TLS reporting as daned runs it: the aggregator, the
// collector of reported sessions and the reporter, sharing one state
// store. Close it after the front doors stop.
type TLSRPT struct {
	*collect.Collector
	*reporter.Reporter
	Aggregator *tlsrpt.Aggregator
	cancel     context.CancelFunc
	done       chan struct{}
	fleet      bool // the replicas report as one (--redis)
	log        *slog.Logger
}

// Close stops the reporter and commits the counts.
func (t *TLSRPT) Close() error {
	t.cancel()
	<-t.done
	return t.Aggregator.Close()
}

// BuildTLSRPT makes TLS reporting over b's decision layer and state store
// (opened under c.StateDir when MTA-STS has not opened it) and starts the
// reporter. It returns nil when --tlsrpt is off.
func (f *TLSRPTFlags) BuildTLSRPT(c *EngineFlags, b *Built, m *telemetry.TLSRPTMetrics) (*TLSRPT, error) {
	if !f.Enabled {
		if f.Socket != "" || f.SMTP != "" {
			return nil, errors.New("--tlsrpt-socket and --tlsrpt-smtp need --tlsrpt")
		}
		return nil, nil
	}
	switch {
	case f.Org == "" || f.Contact == "" || f.Submitter == "":
		return nil, errors.New("--tlsrpt needs --tlsrpt-org, --tlsrpt-contact and --tlsrpt-submitter (RFC 8460 §4.4: organization-name, contact-info; the submitter names mail reports)")
	case b.Verdicts == nil:
		return nil, errors.New("tlsrpt: no decision layer")
	}
	if b.Store == nil {
		if c.StateDir == "" {
			return nil, errors.New("--tlsrpt needs --state-dir: counts and reports must survive a restart")
		}
		var err error
		if b.Store, err = state.Open(c.StateDir, state.Options{}); err != nil {
			return nil, fmt.Errorf("--state-dir %s: %w", c.StateDir, err)
		}
	}
	if m == nil {
		m = &telemetry.TLSRPTMetrics{} // counts, exported nowhere
	}
	agg, err := tlsrpt.NewAggregator(tlsrpt.AggregatorConfig{Store: b.Store, Period: f.Period, RedactSendingIP: f.RedactSendingIP,
		Metrics: m, Now: c.Now, Logger: c.logger()})
	if err != nil {
		return nil, fmt.Errorf("--tlsrpt-period: %w", err)
	}
	col, err := collect.New(collect.Config{Validator: b.Verdicts, Aggregator: agg})
	if err != nil {
		agg.Close()
		return nil, err
	}
	snd, err := f.sender(c, b)
	if err != nil {
		agg.Close()
		return nil, err
	}
	rc := reporter.Config{Aggregator: agg, Store: b.Store, Sender: snd, TXT: txtRecords{b.Lookup},
		Organization: f.Org, Contact: f.Contact, Submitter: f.Submitter, FailuresOnly: f.FailuresOnly,
		Now: c.Now, Metrics: m, Logger: c.logger()}
	if err := fleetReports(c.Shared, b.Store, c.Now, &rc); err != nil {
		agg.Close()
		return nil, err
	}
	rep, err := reporter.New(rc)
	if err != nil {
		agg.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &TLSRPT{Collector: col, Reporter: rep, Aggregator: agg, cancel: cancel, done: make(chan struct{}),
		fleet: rc.Fleet != nil, log: c.logger()}
	go func() {
		defer close(t.done)
		rep.Run(ctx)
	}()
	return t, nil
}

// sender makes the report deliverer: HTTPS under the probes' target
// policy with WebPKI, mail through --tlsrpt-smtp.
func (f *TLSRPTFlags) sender(c *EngineFlags, b *Built) (reporter.Sender, error) {
	from := f.From
	if from == "" {
		from = "tlsrpt-noreply@" + f.Submitter
	}
	dc := deliver.Config{
		HTTPClient: reportClient(c, b.Lookup),
		SMTPRelay:  f.SMTP,
		From:       from,
		Now:        c.Now,
		Logger:     c.logger(),
	}
	if f.SMTP != "" {
		host, _, err := net.SplitHostPort(f.SMTP)
		if err != nil {
			return nil, fmt.Errorf("--tlsrpt-smtp %q: %w", f.SMTP, err)
		}
		dc.SMTPTLS = &tls.Config{ServerName: host, RootCAs: c.WebPKIRoots, MinVersion: tls.VersionTLS12}
	}
	if f.DKIMKey != "" {
		if f.DKIMSelector == "" {
			return nil, errors.New("--tlsrpt-dkim-key needs --tlsrpt-dkim-selector")
		}
		signer, err := deliver.LoadDKIMKey(f.DKIMKey)
		if err != nil {
			return nil, fmt.Errorf("--tlsrpt-dkim-key: %w", err)
		}
		domain := f.DKIMDomain
		if domain == "" {
			domain = f.Submitter
		}
		dc.DKIM = &deliver.DKIM{Domain: domain, Selector: f.DKIMSelector, Signer: signer}
	}
	d, err := deliver.New(dc)
	if err != nil {
		return nil, err
	}
	return sender{d: d, submitter: f.Submitter}, nil
}

// sender adapts the deliverer to the reporter.
type sender struct {
	d         *deliver.Deliverer
	submitter string
}

func (s sender) Send(ctx context.Context, rua string, r state.TLSRPTReport) error {
	return s.d.Deliver(ctx, rua, deliver.Report{PolicyDomain: r.PolicyDomain, Submitter: s.submitter, ReportID: r.ReportID,
		Begin: r.Begin, End: r.End, Gzip: r.Gzip})
}

func (s sender) Permanent(err error) bool { return deliver.IsPermanent(err) }

// reportClient is the HTTPS client of https: reports: names resolve
// through daned's resolver, and an address the probes may not reach
// (loopback, private ranges, unless --probe-allow) is not reached either.
func reportClient(c *EngineFlags, lookup engine.Lookuper) *http.Client {
	targets := probe.TargetPolicy{Allow: c.ProbeAllow}
	addrs := addrLookup{lookup}
	var d net.Dialer
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, hostport string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(hostport)
			if err != nil {
				return nil, err
			}
			var ips []netip.Addr
			if ip, err := netip.ParseAddr(host); err == nil {
				ips = []netip.Addr{ip}
			} else if ips, err = addrs.LookupAddrs(ctx, host); err != nil {
				return nil, err
			}
			var errs []error
			for _, ip := range ips {
				if ok, why := targets.Permitted(ip); !ok {
					errs = append(errs, fmt.Errorf("%s (%s): %s", host, ip, why))
					continue
				}
				conn, err := d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
				if err == nil {
					return conn, nil
				}
				errs = append(errs, err)
			}
			if len(errs) == 0 {
				return nil, fmt.Errorf("%s: no address", host)
			}
			return nil, errors.Join(errs...)
		},
		TLSClientConfig:     &tls.Config{RootCAs: c.WebPKIRoots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 30 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}
}

// txtRecords answers the reporter's TLSRPT lookups through daned's
// resolver, as txtLookup answers MTA-STS's. An answer that failed DNSSEC
// validation is an error (retried), never a list of addresses to send a
// report to.
type txtRecords struct{ l engine.Lookuper }

func (t txtRecords) LookupTXT(ctx context.Context, name string) ([]string, error) {
	a, err := txtLookup(t).LookupTXT(ctx, name)
	if err != nil {
		return nil, err
	}
	if a.Security == manager.Bogus || a.Security == manager.Indeterminate {
		return nil, fmt.Errorf("%s TXT: DNSSEC validation failed", name)
	}
	return a.Records, nil
}

// TLSRPTRecords looks up a policy domain's TLS-RPT records
// (tlsrpt.RecordName) through the resolver the engine reads through, as
// the reporter does: each record's strings joined, none for NXDOMAIN or
// NODATA, an error for an answer that failed DNSSEC validation. The
// diagnostics page shows them.
func (b *Built) TLSRPTRecords(ctx context.Context, domain string) ([]string, error) {
	if b.Lookup == nil {
		return nil, errors.New("tlsrpt: no resolver")
	}
	return txtRecords{b.Lookup}.LookupTXT(ctx, tlsrpt.RecordName(domain))
}
