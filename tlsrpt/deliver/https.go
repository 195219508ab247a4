package deliver

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// MediaTypeGzip is the media type of a gzip-compressed report (RFC 8460
// §6.5), for the POST body and the mail attachment.
const MediaTypeGzip = "application/tlsrpt+gzip"

// Limits on the receiver's answer.
const (
	// maxResponseRead bounds what is read of a response body: enough to
	// reuse the connection after a short answer, never the whole of a
	// long one.
	maxResponseRead = 64 << 10
	// maxResponseShown bounds the body text an error quotes.
	maxResponseShown = 200
	// maxRedirects bounds the redirects followed.
	maxRedirects = 5
)

// errRedirect marks a redirect that was refused: to a non-https: URI, one
// that turns the POST into a GET, or one too many.
type errRedirect struct{ why string }

func (e *errRedirect) Error() string { return e.why }

// httpClient returns the client for https: URIs: c with the redirect rule
// added, or one of its own when c is nil.
func httpClient(c *http.Client, timeout time.Duration) *http.Client {
	var own http.Client
	if c != nil {
		own = *c // a shallow copy: the caller's Transport, Jar and Timeout
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = nil
		// One report per receiver and period: a connection kept open
		// would wait a day for its next use.
		t.DisableKeepAlives = true
		// nil RootCAs: the system's pool.
		t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		own = http.Client{Transport: t, Timeout: timeout}
	}
	next := own.CheckRedirect
	own.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" {
			return &errRedirect{fmt.Sprintf("refusing a redirect to %s: not https", short(req.URL.Redacted()))}
		}
		// net/http turns a POST into a GET on 301, 302 and 303: the
		// report would be lost and the GET's 200 taken for delivery.
		if req.Method != http.MethodPost {
			return &errRedirect{fmt.Sprintf("refusing a %d redirect to %s: it turns the POST into a %s",
				req.Response.StatusCode, short(req.URL.Redacted()), req.Method)}
		}
		if len(via) > maxRedirects {
			return &errRedirect{fmt.Sprintf("more than %d redirects", maxRedirects)}
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
	return &own
}

// post sends r to u (RFC 8460 §5.3.2): a POST of the gzip data as
// application/tlsrpt+gzip. A "successful" answer (RFC 8460 §5.3.2:
// "typically a 200 or 201"; RFC 9110 §15.3: any 2xx) delivers the report.
func (d *Deliverer) post(ctx context.Context, u *url.URL, r Report) (detail string, permanent bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(r.Gzip))
	if err != nil {
		return "", true, err
	}
	req.Header.Set("Content-Type", MediaTypeGzip)
	req.Header.Set("User-Agent", "daned-tlsrpt")
	resp, err := d.http.Do(req)
	if err != nil {
		var rd *errRedirect
		if errors.As(err, &rd) {
			return "", true, rd
		}
		return "", false, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseRead))
	code := resp.StatusCode
	if code/100 == 2 {
		return resp.Status, false, nil
	}
	err = fmt.Errorf("HTTP %s from %s%s", resp.Status, short(resp.Request.URL.Redacted()), quoteBody(body))
	switch {
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code/100 == 5:
		return "", false, err
	default:
		// Other 4xx: the receiver refuses this report; 1xx and 3xx: an
		// answer no retry will change.
		return "", true, err
	}
}

// quoteBody returns the start of a response body for an error message, in
// printable characters only, or "" for an empty body.
func quoteBody(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, strings.ToValidUTF8(string(b), "?"))
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return ""
	}
	if len(s) > maxResponseShown {
		s = strings.ToValidUTF8(s[:maxResponseShown], "") + "…"
	}
	return ": " + s
}
