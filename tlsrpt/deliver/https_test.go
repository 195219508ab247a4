package deliver_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/daned/daned/internal/testca"
	"github.com/daned/daned/tlsrpt/deliver"
)

// receiverHost is the name of the test receiver; its certificate is for
// it and for localhost.
const receiverHost = "reports.test"

// received is one request the receiver got.
type received struct {
	method, path, contentType string
	body                      []byte
}

// receiver is a real net/http TLS server on a loopback address, with a
// certificate from a test root.
type receiver struct {
	srv  *httptest.Server
	root *testca.CA
	mu   sync.Mutex
	got  []received
}

func startReceiver(t *testing.T, h http.HandlerFunc) *receiver {
	t.Helper()
	// net/http checks the certificate against the real clock.
	now := time.Now()
	root := testca.New(t, "Test Report Receiver Root", now)
	_, cert := root.Issue(t, testca.Leaf{DNSNames: []string{receiverHost, "localhost"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)})
	rc := &receiver{root: root}
	rc.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading the request body: %v", err)
		}
		rc.mu.Lock()
		rc.got = append(rc.got, received{method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type"), body: body})
		rc.mu.Unlock()
		h(w, r)
	}))
	rc.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	// Handshakes the client refuses are part of the tests.
	rc.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	rc.srv.StartTLS()
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// client returns an http.Client that trusts the test root and dials the
// receiver whatever the URI's host, as daned's client dials only the
// addresses its policy permits.
func (rc *receiver) client() *http.Client {
	addr := rc.srv.Listener.Addr().String()
	var d net.Dialer
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: rc.root.Pool()},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}}
}

func status(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

func TestHTTPSDelivered(t *testing.T) {
	for _, code := range []int{http.StatusOK, http.StatusCreated, http.StatusAccepted, http.StatusNoContent} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			rc := startReceiver(t, status(code, ""))
			d := newDeliverer(t, deliver.Config{HTTPClient: rc.client()})
			r, _ := testReport(t)
			if err := d.Deliver(context.Background(), "https://"+receiverHost+"/v1/tlsrpt", r); err != nil {
				t.Fatal(err)
			}
			got := rc.requests()
			if len(got) != 1 {
				t.Fatalf("%d requests, want 1", len(got))
			}
			if got[0].method != http.MethodPost || got[0].path != "/v1/tlsrpt" || got[0].contentType != "application/tlsrpt+gzip" {
				t.Errorf("request %s %s (%s), want POST /v1/tlsrpt (application/tlsrpt+gzip)", got[0].method, got[0].path, got[0].contentType)
			}
			if !bytes.Equal(got[0].body, r.Gzip) {
				t.Errorf("body of %d bytes is not the report's gzip data (%d bytes)", len(got[0].body), len(r.Gzip))
			}
		})
	}
}

// TestHTTPSStatus: RFC 8460 §5.3.2 wants a successful answer; what else
// comes back decides whether trying again makes sense.
func TestHTTPSStatus(t *testing.T) {
	tests := []struct {
		name      string
		code      int
		body      string
		permanent bool
		want      string
	}{
		{name: "bad request", code: http.StatusBadRequest, body: "not a report", permanent: true, want: "HTTP 400 Bad Request from https://reports.test/v1/tlsrpt: not a report"},
		{name: "forbidden", code: http.StatusForbidden, permanent: true, want: "HTTP 403"},
		{name: "not found", code: http.StatusNotFound, permanent: true, want: "HTTP 404 Not Found"},
		{name: "too large", code: http.StatusRequestEntityTooLarge, permanent: true, want: "HTTP 413"},
		{name: "request timeout", code: http.StatusRequestTimeout, want: "HTTP 408"},
		{name: "too many requests", code: http.StatusTooManyRequests, want: "HTTP 429"},
		{name: "server error", code: http.StatusInternalServerError, body: "oops\r\n\x00\x1b[31m", want: "HTTP 500 Internal Server Error from https://reports.test/v1/tlsrpt: oops"},
		{name: "unavailable", code: http.StatusServiceUnavailable, want: "HTTP 503"},
		{name: "not modified", code: http.StatusNotModified, permanent: true, want: "HTTP 304"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := startReceiver(t, status(tt.code, tt.body))
			d := newDeliverer(t, deliver.Config{HTTPClient: rc.client()})
			r, _ := testReport(t)
			err := d.Deliver(context.Background(), "https://"+receiverHost+"/v1/tlsrpt", r)
			wantFailure(t, err, tt.permanent, tt.want)
			if strings.ContainsAny(err.Error(), "\r\n\x00\x1b") {
				t.Errorf("error %q quotes control characters", err)
			}
		})
	}
}

// TestHTTPSLongAnswer: a long answer is not read, nor quoted, in full.
func TestHTTPSLongAnswer(t *testing.T) {
	rc := startReceiver(t, status(http.StatusInternalServerError, strings.Repeat("x", 8<<20)))
	d := newDeliverer(t, deliver.Config{HTTPClient: rc.client()})
	r, _ := testReport(t)
	err := d.Deliver(context.Background(), "https://"+receiverHost+"/", r)
	wantFailure(t, err, false, "HTTP 500")
	if len(err.Error()) > 400 {
		t.Errorf("error of %d bytes", len(err.Error()))
	}
}

func TestHTTPSRedirects(t *testing.T) {
	redirect := func(code int, to string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/moved" {
				w.WriteHeader(http.StatusCreated)
				return
			}
			http.Redirect(w, r, to, code)
		}
	}
	tests := []struct {
		name      string
		code      int
		to        string
		want      string // "" for delivered
		delivered int    // requests to /moved
	}{
		{name: "307 to https", code: http.StatusTemporaryRedirect, to: "https://" + receiverHost + "/moved", delivered: 1},
		{name: "308 to https", code: http.StatusPermanentRedirect, to: "https://" + receiverHost + "/moved", delivered: 1},
		{name: "307 to http", code: http.StatusTemporaryRedirect, to: "http://" + receiverHost + "/moved", want: "not https"},
		{name: "302 turns the POST into a GET", code: http.StatusFound, to: "https://" + receiverHost + "/moved", want: "refusing a 302 redirect"},
		{name: "301 turns the POST into a GET", code: http.StatusMovedPermanently, to: "https://" + receiverHost + "/moved", want: "refusing a 301 redirect"},
		{name: "303", code: http.StatusSeeOther, to: "https://" + receiverHost + "/moved", want: "refusing a 303 redirect"},
		{name: "a loop", code: http.StatusTemporaryRedirect, to: "https://" + receiverHost + "/again", want: "more than 5 redirects"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := startReceiver(t, redirect(tt.code, tt.to))
			d := newDeliverer(t, deliver.Config{HTTPClient: rc.client()})
			r, _ := testReport(t)
			err := d.Deliver(context.Background(), "https://"+receiverHost+"/v1/tlsrpt", r)
			if tt.want != "" {
				wantFailure(t, err, true, tt.want)
			} else if err != nil {
				t.Fatal(err)
			}
			moved := 0
			for _, q := range rc.requests() {
				if q.path == "/moved" {
					moved++
					if q.method != http.MethodPost || !bytes.Equal(q.body, r.Gzip) {
						t.Errorf("redirected request %s with %d bytes, want the POST with the report", q.method, len(q.body))
					}
				}
			}
			if moved != tt.delivered {
				t.Errorf("%d requests to /moved, want %d", moved, tt.delivered)
			}
		})
	}
}

// TestHTTPSCallerRedirectRule: the caller's own redirect rule still
// applies after this package's.
func TestHTTPSCallerRedirectRule(t *testing.T) {
	rc := startReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://"+receiverHost+"/moved", http.StatusTemporaryRedirect)
	})
	c := rc.client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	d := newDeliverer(t, deliver.Config{HTTPClient: c})
	r, _ := testReport(t)
	err := d.Deliver(context.Background(), "https://"+receiverHost+"/v1/tlsrpt", r)
	wantFailure(t, err, true, "HTTP 307")
	if c.CheckRedirect == nil {
		t.Error("the caller's client was changed")
	}
}

// TestHTTPSTimeout: a receiver that never answers costs Config.Timeout.
func TestHTTPSTimeout(t *testing.T) {
	release := make(chan struct{})
	rc := startReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	t.Cleanup(func() { close(release) }) // before the server closes
	d := newDeliverer(t, deliver.Config{HTTPClient: rc.client(), Timeout: 300 * time.Millisecond})
	r, _ := testReport(t)
	start := time.Now()
	err := d.Deliver(context.Background(), "https://"+receiverHost+"/", r)
	wantFailure(t, err, false, "deadline exceeded")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v with a timeout of 300ms", took)
	}
}

// TestHTTPSDefaultClientVerifies: without a client of the caller's, the
// receiver's certificate must chain to the system's roots, which do not
// hold the test root.
func TestHTTPSDefaultClientVerifies(t *testing.T) {
	rc := startReceiver(t, status(http.StatusOK, ""))
	d := newDeliverer(t, deliver.Config{})
	r, _ := testReport(t)
	err := d.Deliver(context.Background(), "https://localhost:"+port(t, rc.srv.Listener.Addr())+"/", r)
	wantFailure(t, err, false, "certificate")
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("error %v is not x509.UnknownAuthorityError", err)
	}
	if n := len(rc.requests()); n != 0 {
		t.Errorf("%d requests reached the receiver", n)
	}
}

// TestHTTPSDefaultClientSystemRoots: the default client trusts what the
// system trusts: with SSL_CERT_FILE naming the test root (read once per
// process, hence a child process) the report is delivered.
func TestHTTPSDefaultClientSystemRoots(t *testing.T) {
	if url := os.Getenv("DANED_DELIVER_CHILD_URL"); url != "" {
		d := newDeliverer(t, deliver.Config{})
		r, _ := testReport(t)
		if err := d.Deliver(context.Background(), url, r); err != nil {
			t.Fatal(err)
		}
		return
	}
	rc := startReceiver(t, status(http.StatusOK, ""))
	file := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(file, rc.root.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHTTPSDefaultClientSystemRoots$", "-test.count=1")
	cmd.Env = append(os.Environ(), "DANED_DELIVER_CHILD_URL=https://localhost:"+port(t, rc.srv.Listener.Addr())+"/child",
		"SSL_CERT_FILE="+file, "SSL_CERT_DIR="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if got := rc.requests(); len(got) != 1 || got[0].path != "/child" {
		t.Errorf("requests %+v, want one to /child", got)
	}
}

func port(t *testing.T, a net.Addr) string {
	t.Helper()
	_, p, err := net.SplitHostPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	return p
}
