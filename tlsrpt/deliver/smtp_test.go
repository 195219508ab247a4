package deliver_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/daned/daned/internal/testca"
	"github.com/daned/daned/internal/testcert"
	"github.com/daned/daned/internal/testsmtp"
	"github.com/daned/daned/tlsrpt/deliver"
)

// relayHost is the name in the test relay's certificate.
const relayHost = testsmtp.Host

func startRelay(t *testing.T, o testsmtp.Options) *testsmtp.Relay { return testsmtp.Start(t, o) }

// freePort returns a loopback port nobody listened on a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return port(t, ln.Addr())
}

// checkMessage checks the report mail of RFC 8460 §5.3.1 to the
// addresses to: its header fields, the multipart/report and its
// attachment, which is the report.
func checkMessage(t *testing.T, raw []byte, to []string, r deliver.Report, reportJSON []byte) {
	t.Helper()
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Error("the message has a bare LF")
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	for name, want := range map[string]string{
		"From":                 fromAddr,
		"To":                   strings.Join(to, ", "),
		"Subject":              "Report Domain: example.com Submitter: reports.example Report-ID: <" + reportID + ">",
		"Mime-Version":         "1.0",
		"Tls-Report-Domain":    policyDomain,
		"Tls-Report-Submitter": submitter,
		"Tls-Required":         "No",
		"Auto-Submitted":       "auto-generated",
	} {
		if got := h[name]; len(got) != 1 || got[0] != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if date, err := h.Date(); err != nil || !date.Equal(fixedNow) {
		t.Errorf("Date %q (%v), want %v", h.Get("Date"), err, fixedNow)
	}
	if id := h.Get("Message-Id"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@"+submitter+">") {
		t.Errorf("Message-ID %q", id)
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "tlsrpt" {
		t.Fatalf("Content-Type %q (%v), want multipart/report; report-type=tlsrpt", h.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	text, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	if ct := text.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("first part %q, want text/plain", ct)
	}
	body, _ := io.ReadAll(text)
	if !bytes.Contains(body, []byte(reportID)) {
		t.Errorf("the text part does not name the report: %q", body)
	}
	att, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	if ct := att.Header.Get("Content-Type"); ct != "application/tlsrpt+gzip" {
		t.Errorf("attachment Content-Type %q", ct)
	}
	if cte := att.Header.Get("Content-Transfer-Encoding"); cte != "base64" {
		t.Errorf("attachment Content-Transfer-Encoding %q", cte)
	}
	if disp, dp, err := mime.ParseMediaType(att.Header.Get("Content-Disposition")); err != nil || disp != "attachment" || dp["filename"] != wantFile {
		t.Errorf("Content-Disposition %q (%v), want attachment; filename=%q", att.Header.Get("Content-Disposition"), err, wantFile)
	}
	gz, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, att))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gz, r.Gzip) {
		t.Error("the attachment is not the report's gzip data")
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	js, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(js, reportJSON) {
		t.Errorf("the attachment unzips to %q (%v), want %q", js, err, reportJSON)
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("a third part: %v", err)
	}
}

func mailConfig(rl *testsmtp.Relay) deliver.Config {
	cfg := deliver.Config{SMTPRelay: rl.Addr, From: fromAddr}
	if rl.Root != nil {
		cfg.SMTPTLS = &tls.Config{RootCAs: rl.Root.Pool(), ServerName: relayHost}
	}
	return cfg
}

func TestMailPlain(t *testing.T) {
	rl := startRelay(t, testsmtp.Options{})
	d := newDeliverer(t, mailConfig(rl))
	r, js := testReport(t)
	if err := d.Deliver(context.Background(), "mailto:tlsrpt@example.com", r); err != nil {
		t.Fatal(err)
	}
	m := rl.Only(t)
	if m.Meta.TLS {
		t.Error("TLS, but the relay offers no STARTTLS")
	}
	if m.Meta.MailFrom != fromAddr || !slices.Equal(m.Meta.RcptTos, []string{"tlsrpt@example.com"}) || m.Meta.Helo != submitter {
		t.Errorf("envelope MAIL FROM %q RCPT TO %q EHLO %q", m.Meta.MailFrom, m.Meta.RcptTos, m.Meta.Helo)
	}
	checkMessage(t, m.Raw, []string{"tlsrpt@example.com"}, r, js)
	if bytes.Contains(m.Raw, []byte("DKIM-Signature")) {
		t.Error("signed without a DKIM key")
	}
}

// dkimRecord returns the TXT record of key's public key (RFC 6376
// §3.6.1), with the service types of RFC 8460 §5.3.1.
func dkimRecord(t *testing.T, key crypto.Signer) string {
	t.Helper()
	switch pub := key.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return "v=DKIM1; k=rsa; s=email:tlsrpt; p=" + base64.StdEncoding.EncodeToString(der)
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; s=email:tlsrpt; p=" + base64.StdEncoding.EncodeToString(pub)
	}
	t.Fatalf("key %T", key)
	return ""
}

// TestMailSTARTTLSAndDKIM: the relay offers STARTTLS (and refuses mail
// without it), the client verifies its certificate, and the mail it gets
// carries a DKIM signature that verifies against the published key.
func TestMailSTARTTLSAndDKIM(t *testing.T) {
	rl := startRelay(t, testsmtp.Options{STARTTLS: true})
	tests := []struct {
		name string
		key  crypto.Signer
	}{
		{name: "RSA", key: testcert.RSAKey(t)},
		{name: "Ed25519", key: testcert.Ed25519Key(t)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mailConfig(rl)
			cfg.DKIM = &deliver.DKIM{Domain: submitter, Selector: "tlsrpt2026", Signer: tt.key}
			d := newDeliverer(t, cfg)
			r, js := testReport(t)
			if err := d.Deliver(context.Background(), "mailto:tlsrpt@example.com", r); err != nil {
				t.Fatal(err)
			}
			all := rl.Messages(t)
			if len(all) != i+1 {
				t.Fatalf("the relay kept %d messages, want %d", len(all), i+1)
			}
			m := all[i]
			if !m.Meta.TLS {
				t.Error("the mail did not go over STARTTLS")
			}
			checkMessage(t, m.Raw, []string{"tlsrpt@example.com"}, r, js)

			record := dkimRecord(t, tt.key)
			var asked []string
			verifs, err := dkim.VerifyWithOptions(bytes.NewReader(m.Raw), &dkim.VerifyOptions{
				LookupTXT: func(name string) ([]string, error) {
					asked = append(asked, name)
					if name != "tlsrpt2026._domainkey."+submitter {
						return nil, fmt.Errorf("no TXT record at %s", name)
					}
					return []string{record}, nil
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(verifs) != 1 {
				t.Fatalf("%d signatures, want 1", len(verifs))
			}
			v := verifs[0]
			if v.Err != nil {
				t.Fatalf("the DKIM signature does not verify: %v (keys asked: %q)", v.Err, asked)
			}
			if v.Domain != submitter {
				t.Errorf("signing domain %q, want %q", v.Domain, submitter)
			}
			for _, want := range []string{"from", "to", "subject", "date", "message-id", "mime-version", "content-type",
				"tls-report-domain", "tls-report-submitter", "tls-required"} {
				if !slices.ContainsFunc(v.HeaderKeys, func(k string) bool { return strings.EqualFold(k, want) }) {
					t.Errorf("%s is not signed (signed: %q)", want, v.HeaderKeys)
				}
			}

			// A changed report no longer verifies.
			tampered := bytes.Replace(m.Raw, []byte("TLS-Report-Domain: example.com"), []byte("TLS-Report-Domain: example.org"), 1)
			verifs, err = dkim.VerifyWithOptions(bytes.NewReader(tampered), &dkim.VerifyOptions{
				LookupTXT: func(string) ([]string, error) { return []string{record}, nil },
			})
			if err != nil || len(verifs) != 1 || verifs[0].Err == nil {
				t.Errorf("a tampered message verifies: %v, %v", verifs, err)
			}
		})
	}
}

// TestMailSTARTTLSUntrusted: a relay that offers STARTTLS with a
// certificate the client does not trust gets no mail, in the clear or
// otherwise, and the failure is temporary.
func TestMailSTARTTLSUntrusted(t *testing.T) {
	rl := startRelay(t, testsmtp.Options{STARTTLS: true})
	tests := []struct {
		name string
		tls  *tls.Config
		want string
	}{
		// The relay's host, 127.0.0.1, is the name to verify.
		{name: "no configuration", tls: nil, want: "cannot validate certificate for 127.0.0.1"},
		{name: "system roots", tls: &tls.Config{ServerName: relayHost}, want: "certificate signed by unknown authority"},
		{name: "another root", tls: &tls.Config{RootCAs: testca.New(t, "Other Root", time.Now()).Pool(), ServerName: relayHost},
			want: "certificate signed by unknown authority"},
		{name: "wrong name", tls: &tls.Config{RootCAs: rl.Root.Pool(), ServerName: "other.test"}, want: "other.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mailConfig(rl)
			cfg.SMTPTLS = tt.tls
			d := newDeliverer(t, cfg)
			r, _ := testReport(t)
			err := d.Deliver(context.Background(), "mailto:tlsrpt@example.com", r)
			wantFailure(t, err, false, tt.want)
		})
	}
	if n := len(rl.Messages(t)); n != 0 {
		t.Errorf("the relay kept %d messages", n)
	}
}

// TestMailRefusals: refused recipients, by the relay's reply.
func TestMailRefusals(t *testing.T) {
	rl := startRelay(t, testsmtp.Options{})
	tests := []struct {
		name      string
		rua       string
		permanent bool
		want      string   // part of the error, "" for delivered
		accepted  []string // the envelope of the mail kept, when delivered
	}{
		{name: "550", rua: "mailto:refuse-perm@example.com", permanent: true, want: "RCPT TO:<refuse-perm@example.com>: SMTP error 550"},
		{name: "451", rua: "mailto:refuse-temp@example.com", want: "SMTP error 451"},
		{name: "550 and 451", rua: "mailto:refuse-perm@example.com,refuse-temp@example.com", want: "SMTP error 451"},
		{name: "550 twice", rua: "mailto:refuse-perm@example.com,refuse-perm2@example.com", permanent: true, want: "refuse-perm2@example.com"},
		{name: "one of two accepted", rua: "mailto:refuse-perm@example.com,tlsrpt@example.com", accepted: []string{"tlsrpt@example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rl.Messages(t))
			d := newDeliverer(t, mailConfig(rl))
			r, _ := testReport(t)
			err := d.Deliver(context.Background(), tt.rua, r)
			all := rl.Messages(t)
			if tt.want != "" {
				wantFailure(t, err, tt.permanent, tt.want)
				if len(all) != before {
					t.Errorf("the relay kept a message")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != before+1 || !slices.Equal(all[before].Meta.RcptTos, tt.accepted) {
				t.Fatalf("kept %d messages (%d before), want one to %q", len(all), before, tt.accepted)
			}
		})
	}
}

// TestMailTooBig: a relay whose SIZE limit the mail exceeds refuses it at
// MAIL FROM, for good.
func TestMailTooBig(t *testing.T) {
	rl := startRelay(t, testsmtp.Options{Size: 2000})
	d := newDeliverer(t, mailConfig(rl))
	r, _ := testReport(t)
	var big bytes.Buffer
	zw := gzip.NewWriter(&big)
	io.CopyN(zw, rand.Reader, 4000)
	zw.Close()
	r.Gzip = big.Bytes()
	err := d.Deliver(context.Background(), "mailto:tlsrpt@example.com", r)
	wantFailure(t, err, true, "SMTP error 552")
	if n := len(rl.Messages(t)); n != 0 {
		t.Errorf("the relay kept %d messages", n)
	}
}

// TestMailRelayDown: nobody listening is a temporary failure.
func TestMailRelayDown(t *testing.T) {
	d := newDeliverer(t, deliver.Config{SMTPRelay: net.JoinHostPort("127.0.0.1", freePort(t)), From: fromAddr})
	r, _ := testReport(t)
	err := d.Deliver(context.Background(), "mailto:tlsrpt@example.com", r)
	wantFailure(t, err, false, "connection refused")
}

// TestMailRelaySilent: a relay that accepts the connection and says
// nothing costs Config.Timeout, and the failure is temporary.
func TestMailRelaySilent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	defer func() { <-done }()
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(io.Discard, c) // until the client hangs up
		c.Close()
	}()
	d := newDeliverer(t, deliver.Config{SMTPRelay: ln.Addr().String(), From: fromAddr, Timeout: 300 * time.Millisecond})
	r, _ := testReport(t)
	start := time.Now()
	err = d.Deliver(context.Background(), "mailto:tlsrpt@example.com", r)
	wantFailure(t, err, false, "deadline exceeded")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v with a timeout of 300ms", took)
	}
}

func TestMailNoRelay(t *testing.T) {
	d := newDeliverer(t, deliver.Config{})
	r, _ := testReport(t)
	err := d.Deliver(context.Background(), "mailto:tlsrpt@example.com", r)
	wantFailure(t, err, true, "no SMTP relay is configured")
	if !errors.Is(err, deliver.ErrNoRelay) {
		t.Errorf("error %v does not wrap ErrNoRelay", err)
	}
}

func writeFile(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
