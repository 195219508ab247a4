package deliver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/daned/daned/probe"
)

// mail sends r as mail to the addresses to through the relay: EHLO,
// STARTTLS when offered, MAIL FROM with the size, RCPT TO each address,
// DATA. It succeeds when the relay accepts the mail for at least one
// address.
func (d *Deliverer) mail(ctx context.Context, to []string, r Report) (detail string, permanent bool, err error) {
	msg, err := compose(r, d.from, to, d.now())
	if err != nil {
		return "", true, err
	}
	if d.dkim != nil {
		if msg, err = d.dkim.sign(msg); err != nil {
			return "", true, fmt.Errorf("DKIM signing: %w", err)
		}
	}
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", d.relay)
	if err != nil {
		return "", false, fmt.Errorf("connecting to the SMTP relay: %w", err)
	}
	defer conn.Close()
	// go-smtp sets and clears deadlines of its own around each command;
	// closing the connection is what ends the dialogue at the context's
	// deadline, whatever step it is at.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)

	detail, permanent, err = d.session(ctx, conn, deadline, to, msg)
	if err != nil {
		// The connection's deadline may strike a moment before the
		// context's.
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("%w (%v)", cerr, err)
		} else if errors.Is(err, os.ErrDeadlineExceeded) {
			err = fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
		}
	}
	return detail, permanent, err
}

func (d *Deliverer) session(ctx context.Context, conn net.Conn, deadline time.Time, to []string, msg []byte) (detail string, permanent bool, err error) {
	sconn, secure, err := d.starttls(ctx, conn)
	if err != nil {
		return "", isPermanentReply(err), err
	}
	c := smtp.NewClient(sconn)
	c.CommandTimeout = time.Until(deadline)
	c.SubmissionTimeout = c.CommandTimeout
	if err := c.Hello(d.helo); err != nil {
		return "", isPermanentReply(err), fmt.Errorf("EHLO: %w", err)
	}
	if err := c.Mail(d.from, &smtp.MailOptions{Size: int64(len(msg))}); err != nil {
		return "", isPermanentReply(err), fmt.Errorf("MAIL FROM:<%s>: %w", d.from, err)
	}
	var accepted []string
	var refused []error
	allPermanent := true
	for _, a := range to {
		err := c.Rcpt(a, nil)
		var reply *smtp.SMTPError
		switch {
		case err == nil:
			accepted = append(accepted, a)
		case errors.As(err, &reply):
			refused = append(refused, fmt.Errorf("RCPT TO:<%s>: %w", a, err))
			allPermanent = allPermanent && isPermanentReply(err)
		default:
			return "", false, fmt.Errorf("RCPT TO:<%s>: %w", a, err)
		}
	}
	if len(accepted) == 0 {
		// One line, each reply kept for errors.As.
		args := make([]any, len(refused))
		for i, e := range refused {
			args[i] = e
		}
		return "", allPermanent, fmt.Errorf(strings.TrimSuffix(strings.Repeat("%w; ", len(refused)), "; "), args...)
	}
	for _, err := range refused {
		d.log.Warn("tlsrpt report mail refused for one of its addresses", "error", err)
	}
	w, err := c.Data()
	if err != nil {
		return "", isPermanentReply(err), fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return "", false, fmt.Errorf("DATA: %w", err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", isPermanentReply(err), fmt.Errorf("end of DATA: %w", err)
	}
	// The relay has the mail: QUIT is a courtesy (RFC 5321 §4.1.1.10).
	c.Quit()
	tlsNote := "without TLS"
	if secure {
		tlsNote = "over STARTTLS"
	}
	return fmt.Sprintf("relay accepted for %s %s: %s", strings.Join(accepted, ", "), tlsNote, resp.StatusText), false, nil
}

// isPermanentReply reports whether err carries an SMTP 5xx reply
// (RFC 5321 §4.2.1: a permanent negative completion).
func isPermanentReply(err error) bool {
	var reply *smtp.SMTPError
	return errors.As(err, &reply) && reply.Code/100 == 5
}

// starttls holds the start of the relay session itself: greeting, EHLO
// and, when the relay offers it, STARTTLS and the TLS handshake (RFC
// 3207). go-smtp's client (v0.25) can only upgrade a session whose EHLO
// it sent as "localhost", and cannot tell whether STARTTLS is offered
// before it tries. It returns the connection go-smtp continues on, the
// TLS one after STARTTLS, which starts with a copy of the greeting for
// go-smtp to read; go-smtp then sends EHLO anew, as RFC 3207 §4.2 wants
// after STARTTLS and RFC 5321 §4.1.4 allows in any case.
func (d *Deliverer) starttls(ctx context.Context, conn net.Conn) (net.Conn, bool, error) {
	br := bufio.NewReader(conn)
	code, lines, err := probe.ReadReply(br, 0, 0)
	if err != nil {
		return nil, false, fmt.Errorf("reading the relay's greeting: %w", err)
	}
	if code != 220 {
		return nil, false, fmt.Errorf("greeting: %w", reply(code, lines))
	}
	greeting := lines
	code, lines, err = command(conn, br, "EHLO "+d.helo)
	if err != nil {
		return nil, false, fmt.Errorf("EHLO: %w", err)
	}
	switch {
	case code == 500 || code == 502:
		// No ESMTP, so no STARTTLS: go-smtp falls back to HELO.
	case code != 250:
		return nil, false, fmt.Errorf("EHLO: %w", reply(code, lines))
	}
	offered := false
	if code == 250 {
		for _, l := range lines[1:] {
			kw, _, _ := strings.Cut(strings.TrimSpace(l), " ")
			offered = offered || strings.EqualFold(kw, "STARTTLS")
		}
	}
	if !offered {
		if br.Buffered() > 0 {
			return nil, false, errors.New("the relay sent more than its EHLO reply")
		}
		return greeted(conn, greeting), false, nil
	}
	code, lines, err = command(conn, br, "STARTTLS")
	if err != nil {
		return nil, false, fmt.Errorf("STARTTLS: %w", err)
	}
	if code != 220 {
		// Offered and then refused: no mail in the clear.
		return nil, false, fmt.Errorf("STARTTLS: %w", reply(code, lines))
	}
	// RFC 3207 §4.2 and the STARTTLS injection attacks (CVE-2011-0411):
	// nothing may come between the 220 and the handshake.
	if n := br.Buffered(); n > 0 {
		return nil, false, fmt.Errorf("the relay sent %d bytes after its STARTTLS reply, before the TLS handshake", n)
	}
	tc := tls.Client(conn, d.smtpTLS)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, false, fmt.Errorf("STARTTLS handshake with the relay: %w", err)
	}
	return greeted(tc, greeting), true, nil
}

// command writes one SMTP command and reads the reply.
func command(conn net.Conn, br *bufio.Reader, cmd string) (int, []string, error) {
	if _, err := io.WriteString(conn, cmd+"\r\n"); err != nil {
		return 0, nil, err
	}
	return probe.ReadReply(br, 0, 0)
}

// reply turns an SMTP reply into the error go-smtp would have returned.
func reply(code int, lines []string) error {
	return &smtp.SMTPError{Code: code, Message: strings.Join(lines, " / ")}
}

// greeted returns conn reading first a copy of the relay's greeting, for
// a go-smtp client that starts by reading one.
func greeted(conn net.Conn, greeting []string) net.Conn {
	var b strings.Builder
	for i, l := range greeting {
		sep := "-"
		if i == len(greeting)-1 {
			sep = " "
		}
		b.WriteString("220" + sep + l + "\r\n")
	}
	return &pregreeted{Conn: conn, r: io.MultiReader(strings.NewReader(b.String()), conn)}
}

type pregreeted struct {
	net.Conn
	r io.Reader
}

func (p *pregreeted) Read(b []byte) (int, error) { return p.r.Read(b) }
