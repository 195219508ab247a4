package deliver

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/daned/daned/tlsrpt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/daned/daned/dnsname"
)

// DefaultTimeout bounds one delivery when Config.Timeout is zero.
const DefaultTimeout = 60 * time.Second

// Report is one report ready to send.
type Report struct {
	// PolicyDomain is the report's policy domain (RFC 8460 §4.4
	// "policy-domain"): the TLS-Report-Domain header and the file name's
	// policy-domain.
	PolicyDomain string
	// Submitter is the submitting domain (--tlsrpt-submitter), the domain
	// of the report's contact-info: the TLS-Report-Submitter header and
	// the file name's sender (RFC 8460 §5.3.1 wants all three equal).
	Submitter string
	// ReportID is the report's "report-id", printable ASCII.
	ReportID string
	// Begin and End are the report's period (its "date-range").
	Begin, End time.Time
	// Gzip is the gzip-compressed JSON report (tlsrpt.Report.Gzip).
	Gzip []byte
}

// Config configures a Deliverer. Only what the URIs used need is required:
// From for mail.
type Config struct {
	// HTTPClient posts to https: URIs. nil means a client of its own: the
	// system's roots (WebPKI), TLS 1.2 or later, no proxy, no connection
	// kept open, Timeout. A given client is used as it is (daned passes
	// one whose dialer obeys the probe target policy), except that
	// redirects are followed only to https: URIs and only when they keep
	// the POST (307, 308); the client itself is not changed.
	HTTPClient *http.Client
	// SMTPRelay is the host:port of the relay mail is sent through
	// (--tlsrpt-smtp). "" means mailto: URIs are not deliverable: Deliver
	// fails them, permanently, with ErrNoRelay.
	SMTPRelay string
	// From is the address reports are mailed from, envelope and header
	// (--tlsrpt-from); its domain is the EHLO name. Required with
	// SMTPRelay.
	From string
	// SMTPTLS configures STARTTLS to the relay, which is used whenever
	// the relay offers it; a relay that offers it and then fails the
	// handshake or verification gets no mail in the clear. nil means the
	// system's roots; an empty ServerName means the relay's host.
	SMTPTLS *tls.Config
	// DKIM signs mail when set (RFC 8460 §5.3.1 wants reports sent by
	// mail signed by the submitting domain); nil sends mail unsigned.
	DKIM *DKIM
	// Timeout bounds one delivery, connection included; 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// Now dates mail; nil means time.Now.
	Now func() time.Time
	// Logger receives one line per delivery; nil means slog.Default().
	Logger *slog.Logger
}

// Deliverer sends reports. It is safe for concurrent use.
type Deliverer struct {
	http    *http.Client
	relay   string
	from    string
	helo    string
	smtpTLS *tls.Config
	dkim    *DKIM
	timeout time.Duration
	now     func() time.Time
	log     *slog.Logger
}

// New checks cfg and returns a Deliverer.
func New(cfg Config) (*Deliverer, error) {
	if cfg.Timeout < 0 {
		return nil, errors.New("tlsrpt/deliver: the timeout must not be negative")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	d := &Deliverer{relay: cfg.SMTPRelay, timeout: cfg.Timeout, now: cfg.Now, log: cfg.Logger, dkim: cfg.DKIM}
	if cfg.SMTPRelay != "" {
		host, port, err := net.SplitHostPort(cfg.SMTPRelay)
		if err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("tlsrpt/deliver: SMTP relay %q is not host:port", cfg.SMTPRelay)
		}
		if cfg.From == "" {
			return nil, errors.New("tlsrpt/deliver: an SMTP relay needs a From address (--tlsrpt-from)")
		}
		from, err := tlsrpt.CheckAddress(cfg.From)
		if err != nil {
			return nil, fmt.Errorf("tlsrpt/deliver: From: %v", err)
		}
		d.from = from
		d.helo = from[strings.LastIndexByte(from, '@')+1:]
		d.smtpTLS = relayTLS(cfg.SMTPTLS, host)
	}
	if cfg.DKIM != nil {
		if err := cfg.DKIM.check(); err != nil {
			return nil, fmt.Errorf("tlsrpt/deliver: DKIM: %w", err)
		}
	}
	d.http = httpClient(cfg.HTTPClient, cfg.Timeout)
	return d, nil
}

// relayTLS returns the STARTTLS configuration for the relay at host.
func relayTLS(c *tls.Config, host string) *tls.Config {
	if c == nil {
		c = &tls.Config{}
	}
	c = c.Clone()
	if c.ServerName == "" {
		c.ServerName = host
	}
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	return c
}

// Deliver sends r to the rua URI rua: a POST for https:, a mail through
// the relay for mailto:. It returns nil once the receiver or the relay
// accepted the report, else an *Error (see IsPermanent).
//
// A mailto: URI with several addresses is one mail to all of them; it is
// delivered when the relay accepts at least one, and the refused ones are
// logged.
func (d *Deliverer) Deliver(ctx context.Context, rua string, r Report) error {
	fail := func(permanent bool, err error) error {
		d.log.Debug("tlsrpt report not delivered", "rua", short(rua), "policy_domain", r.PolicyDomain,
			"report_id", r.ReportID, "permanent", permanent, "error", err)
		return &Error{RUA: rua, Permanent: permanent, Err: err}
	}
	u, err := tlsrpt.ParseRUA(rua)
	if err != nil {
		return fail(true, err)
	}
	r, err = checkReport(r)
	if err != nil {
		return fail(true, err)
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	start := time.Now()
	var detail string
	var permanent bool
	if u.URL != nil {
		detail, permanent, err = d.post(ctx, u.URL, r)
	} else {
		if d.relay == "" {
			return fail(true, ErrNoRelay)
		}
		detail, permanent, err = d.mail(ctx, u.Addresses, r)
	}
	if err != nil {
		return fail(permanent, err)
	}
	d.log.Debug("tlsrpt report delivered", "rua", short(rua), "policy_domain", r.PolicyDomain,
		"report_id", r.ReportID, "bytes", len(r.Gzip), "detail", detail, "elapsed", time.Since(start))
	return nil
}

// Limits on the Report's text fields.
const (
	maxReportID = 256
)

// checkReport returns r with its domains normalized, or why it cannot be
// sent: every field goes into a mail header or the attachment's name.
func checkReport(r Report) (Report, error) {
	bad := func(format string, a ...any) (Report, error) {
		return Report{}, fmt.Errorf("%w: %s", ErrBadReport, fmt.Sprintf(format, a...))
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"policy domain", &r.PolicyDomain}, {"submitter", &r.Submitter}} {
		for i := 0; i < len(*f.v); i++ {
			if (*f.v)[i] >= 0x7f {
				return bad("the %s %q is not ASCII (A-labels)", f.name, short(*f.v))
			}
		}
		n, err := dnsname.Normalize(*f.v)
		if err != nil {
			return bad("%s: %v", f.name, err)
		}
		*f.v = n
	}
	if r.ReportID == "" || len(r.ReportID) > maxReportID {
		return bad("the report ID must have 1 to %d characters", maxReportID)
	}
	for i := 0; i < len(r.ReportID); i++ {
		if c := r.ReportID[i]; c <= ' ' || c >= 0x7f || c == '<' || c == '>' {
			return bad("the report ID %q has a character other than printable ASCII without <>", short(r.ReportID))
		}
	}
	if r.Begin.IsZero() || r.End.IsZero() || !r.Begin.Before(r.End) {
		return bad("the period %v to %v is not a range", r.Begin, r.End)
	}
	// RFC 1952 §2.3.1: a gzip member starts with ID1 ID2 = 1f 8b.
	if !bytes.HasPrefix(r.Gzip, []byte{0x1f, 0x8b}) {
		return bad("the report is not gzip data")
	}
	return r, nil
}
