package deliver

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// FileName returns the report's attachment name (RFC 8460 §5.1):
//
//	sender "!" policy-domain "!" begin-timestamp "!" end-timestamp [ "!" unique-id ] ".json.gz"
//
// with the submitter as sender, the period's bounds in seconds since the
// Unix epoch, and the report ID's letters and digits as unique-id (the
// ABNF allows no others; it is left out when none remain).
func FileName(r Report) string {
	var b strings.Builder
	b.WriteString(r.Submitter)
	b.WriteByte('!')
	b.WriteString(r.PolicyDomain)
	b.WriteByte('!')
	b.WriteString(strconv.FormatInt(r.Begin.Unix(), 10))
	b.WriteByte('!')
	b.WriteString(strconv.FormatInt(r.End.Unix(), 10))
	id := strings.Map(func(c rune) rune {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			return c
		}
		return -1
	}, r.ReportID)
	if id != "" {
		b.WriteByte('!')
		b.WriteString(id)
	}
	b.WriteString(".json.gz")
	return b.String()
}

// Subject returns the Subject of the report's mail (RFC 8460 §5.3.1):
// "Report Domain: D Submitter: S Report-ID: <ID>".
func Subject(r Report) string {
	return fmt.Sprintf("Report Domain: %s Submitter: %s Report-ID: <%s>", r.PolicyDomain, r.Submitter, r.ReportID)
}

// signedHeaders are the header fields the DKIM signature covers: all the
// message's own, so that none can be changed or added on the way.
var signedHeaders = []string{"From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type",
	"TLS-Report-Domain", "TLS-Report-Submitter", "TLS-Required", "Auto-Submitted"}

// compose returns the report's mail to the addresses to, with CRLF line
// endings (RFC 8460 §5.3.1): a multipart/report; report-type="tlsrpt" of
// a short text/plain part and the report as an application/tlsrpt+gzip
// attachment in base64.
func compose(r Report, from string, to []string, now time.Time) ([]byte, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)

	text := textproto.MIMEHeader{}
	text.Set("Content-Type", "text/plain; charset=us-ascii")
	text.Set("Content-Transfer-Encoding", "7bit")
	pw, err := mw.CreatePart(text)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(pw, "This is an aggregate TLS report (RFC 8460) from %s\r\nfor %s, %s to %s.\r\nReport-ID: %s\r\n",
		r.Submitter, r.PolicyDomain, r.Begin.UTC().Format(time.RFC3339), r.End.UTC().Format(time.RFC3339), r.ReportID)

	att := textproto.MIMEHeader{}
	att.Set("Content-Type", MediaTypeGzip)
	att.Set("Content-Transfer-Encoding", "base64")
	// The name has only letters, digits and ".-!": quoting needs no
	// escapes. Folded as in RFC 8460's example, the line stays short.
	att.Set("Content-Disposition", "attachment;\r\n filename=\""+FileName(r)+"\"")
	pw, err = mw.CreatePart(att)
	if err != nil {
		return nil, err
	}
	writeBase64(pw, r.Gzip)
	if err := mw.Close(); err != nil {
		return nil, err
	}

	var msg bytes.Buffer
	header := func(name, value string) { fmt.Fprintf(&msg, "%s: %s\r\n", name, value) }
	header("From", from)
	header("To", strings.Join(to, ", "))
	header("Date", now.Format(time.RFC1123Z))
	header("Subject", foldSubject(r))
	header("Message-ID", messageID(from))
	header("MIME-Version", "1.0")
	header("TLS-Report-Domain", r.PolicyDomain)
	header("TLS-Report-Submitter", r.Submitter)
	// RFC 8689 §5: a report about broken TLS must get through even
	// where the TLS policy it reports on fails.
	header("TLS-Required", "No")
	// RFC 3834 §5: no vacation or other automatic replies to a report.
	header("Auto-Submitted", "auto-generated")
	header("Content-Type", mime.FormatMediaType("multipart/report",
		map[string]string{"report-type": "tlsrpt", "boundary": mw.Boundary()}))
	msg.WriteString("\r\n")
	msg.Write(body.Bytes())
	return msg.Bytes(), nil
}

// foldSubject returns the Subject folded before "Submitter:" and
// "Report-ID:" when it would not fit in 78 characters (RFC 5322 §2.1.1),
// as in the example of RFC 8460 §5.3.1.
func foldSubject(r Report) string {
	s := Subject(r)
	if len("Subject: ")+len(s) <= 78 {
		return s
	}
	return fmt.Sprintf("Report Domain: %s\r\n Submitter: %s\r\n Report-ID: <%s>", r.PolicyDomain, r.Submitter, r.ReportID)
}

// messageID returns a new Message-ID in the domain of the address from.
func messageID(from string) string {
	var b [16]byte
	rand.Read(b[:])
	return "<" + hex.EncodeToString(b[:]) + "@" + from[strings.LastIndexByte(from, '@')+1:] + ">"
}

// writeBase64 writes data in base64 lines of 76 characters (RFC 2045
// §6.8), each ending in CRLF.
func writeBase64(w io.Writer, data []byte) {
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 76 {
		w.Write([]byte(enc[:76] + "\r\n"))
		enc = enc[76:]
	}
	if enc != "" {
		w.Write([]byte(enc + "\r\n"))
	}
}
