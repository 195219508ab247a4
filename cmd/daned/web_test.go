package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/daned/daned/internal/testcert"
	danev1 "github.com/daned/daned/proto/dane/v1"
)

var webRE = regexp.MustCompile(`daned serving.* web=(\S+)`)

// webURL is the diagnostics page's URL as daned logged it.
func (d *daned) webURL(t testing.TB) string {
	t.Helper()
	m := webRE.FindStringSubmatch(d.out.String())
	if m == nil || m[1] == `""` {
		t.Fatalf("daned did not log the web page's URL:\n%s", d.out.String())
	}
	return m[1]
}

// get fetches u with c and returns the response, its body read.
func get(t testing.TB, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", u, err)
	}
	return resp, string(body)
}

// checkPageServed asserts what any client of the page relies on: the form
// at /, with the Content Security Policy, and the JSON API answering a
// verdict (with quickResolver, a DNS failure: still a verdict, not an
// error).
func checkPageServed(t *testing.T, c *http.Client, base string) {
	t.Helper()
	resp, body := get(t, c, base)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "<form") {
		t.Fatalf("GET %s: %s, Content-Type %q; want 200 and an HTML form:\n%.500s", base, resp.Status, resp.Header.Get("Content-Type"), body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("GET %s: Content-Security-Policy %q, want one that allows nothing by default", base, csp)
	}
	resp, body = get(t, c, base+"v1/validate?domain=example.com")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /v1/validate: %s, Content-Type %q; want 200 and JSON:\n%.500s", resp.Status, resp.Header.Get("Content-Type"), body)
	}
	var v danev1.ValidateResponse
	if err := protojson.Unmarshal([]byte(body), &v); err != nil || v.GetDomain() != "example.com" {
		t.Fatalf("GET /v1/validate: %v, domain %q; want a protojson ValidateResponse for example.com:\n%.500s", err, v.GetDomain(), body)
	}
}

// TestWebPlainHTTPOnLoopback: --http-listen on loopback serves the page
// and the JSON API over plain HTTP, says where in the start-up line, and
// stops with daned.
func TestWebPlainHTTPOnLoopback(t *testing.T) {
	d := startDaned(t, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0")
	base := d.webURL(t)
	if !strings.HasPrefix(base, "http://127.0.0.1:") || !strings.HasSuffix(base, "/") {
		t.Fatalf("web URL %q, want http://127.0.0.1:PORT/", base)
	}
	c := &http.Client{}
	checkPageServed(t, c, base)

	// A malformed domain is the caller's error, in JSON with the gRPC
	// code's name.
	resp, body := get(t, c, base+"v1/validate?domain="+url.QueryEscape("exa mple..com"))
	var e struct{ Code string }
	if resp.StatusCode != http.StatusBadRequest || json.Unmarshal([]byte(body), &e) != nil || e.Code != "INVALID_ARGUMENT" {
		t.Errorf("GET /v1/validate of a malformed domain: %s %s; want 400 with code INVALID_ARGUMENT", resp.Status, body)
	}

	d.stop(t)
	u, _ := url.Parse(base)
	if conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second); err == nil {
		conn.Close()
		t.Errorf("the web listener %s still accepts connections after daned stopped", u.Host)
	}
}

// TestWebOffByDefault: without --http-listen there is no page.
func TestWebOffByDefault(t *testing.T) {
	d := startDaned(t, "--listen", "127.0.0.1:0")
	if !strings.Contains(d.out.String(), `web=""`) {
		t.Errorf("daned without --http-listen logged a web page:\n%s", d.out.String())
	}
}

// TestWebOverTLS: with --tls-cert and --tls-key the page is HTTPS, over
// HTTP/2 (browsers) and HTTP/1.1 (curl --http1.1, monitoring) alike, and
// plain HTTP to it gets no page.
func TestWebOverTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "daned test CA")
	srv := ca.serverCert(t, "daned")
	d := startDaned(t, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
		"--tls-cert", writeFile(t, dir, "cert.pem", srv.CertPEM), "--tls-key", writeFile(t, dir, "key.pem", srv.KeyPEM))
	base := d.webURL(t)
	if !strings.HasPrefix(base, "https://127.0.0.1:") {
		t.Fatalf("web URL %q, want https://127.0.0.1:PORT/", base)
	}
	for _, tt := range []struct {
		name  string
		h2    bool
		proto string
	}{
		{name: "HTTP/2", h2: true, proto: "HTTP/2.0"},
		{name: "HTTP/1.1", proto: "HTTP/1.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool(ca)}, ForceAttemptHTTP2: tt.h2}
			t.Cleanup(tr.CloseIdleConnections)
			c := &http.Client{Transport: tr}
			checkPageServed(t, c, base)
			if resp, _ := get(t, c, base); resp.Proto != tt.proto {
				t.Errorf("served over %s, want %s", resp.Proto, tt.proto)
			}
		})
	}
	plain := "http://" + strings.TrimPrefix(base, "https://")
	if resp, body := get(t, &http.Client{}, plain); resp.StatusCode == http.StatusOK || strings.Contains(body, "<form") {
		t.Errorf("plain HTTP to the TLS listener: %s, want no page", resp.Status)
	}
}

// TestWebMutualTLS: with --client-ca only clients with a certificate from
// that CA get through the handshake, and with --client-allow only the
// listed ones get the page; SIGHUP reloads the certificate for the page
// as for gRPC.
func TestWebMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "daned test CA")
	clients := newCA(t, "daned client CA")
	other := newCA(t, "another CA")
	srv := ca.serverCert(t, "daned")
	cert, key := writeFile(t, dir, "cert.pem", srv.CertPEM), writeFile(t, dir, "key.pem", srv.KeyPEM)
	d := startDaned(t, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
		"--tls-cert", cert, "--tls-key", key,
		"--client-ca", writeFile(t, dir, "clients.pem", clients.CertPEM), "--client-allow", "mta1.example.net")
	d.waitLog(t, "mutual_tls=true")
	base := d.webURL(t)

	client := func(c *testcert.Cert) *http.Client {
		cfg := &tls.Config{RootCAs: pool(ca)}
		if c != nil {
			cfg.Certificates = []tls.Certificate{c.TLS()}
		}
		tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr}
	}
	listed := client(clients.clientCert(t, "mta1", []string{"mta1.example.net"}))
	checkPageServed(t, listed, base)

	if resp, body := get(t, client(clients.clientCert(t, "mta2", []string{"mta2.example.net"})), base); resp.StatusCode != http.StatusForbidden || strings.Contains(body, "<form") {
		t.Errorf("a client the CA vouches for but --client-allow does not list: %s, want 403", resp.Status)
	}
	for _, tt := range []struct {
		name string
		c    *testcert.Cert
	}{
		{name: "no client certificate"},
		{name: "a certificate from another CA", c: other.clientCert(t, "mta1", []string{"mta1.example.net"})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base, nil)
			if resp, err := client(tt.c).Do(req); err == nil {
				resp.Body.Close()
				t.Errorf("%s: %s, want the handshake refused", tt.name, resp.Status)
			}
		})
	}

	// SIGHUP: new connections get the renewed certificate.
	renewed := ca.serverCert(t, "daned renewed")
	writeFile(t, dir, "cert.pem", renewed.CertPEM)
	writeFile(t, dir, "key.pem", renewed.KeyPEM)
	d.hup <- syscall.SIGHUP
	d.waitLog(t, "TLS reloaded")
	resp, _ := get(t, client(clients.clientCert(t, "mta1", []string{"mta1.example.net"})), base)
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 || resp.TLS.PeerCertificates[0].Subject.CommonName != "daned renewed" {
		t.Errorf("after SIGHUP the page is served with %v, want the renewed certificate", peerCN(resp))
	}
}

func peerCN(resp *http.Response) string {
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
		return "no certificate"
	}
	return resp.TLS.PeerCertificates[0].Subject.CommonName
}

// TestWebInsecureListen: --insecure-listen lifts the refusal of plain
// HTTP off loopback, as for gRPC and the socketmap.
func TestWebInsecureListen(t *testing.T) {
	d := startDaned(t, "--listen", "127.0.0.1:0", "--http-listen", "0.0.0.0:0", "--insecure-listen")
	u, err := url.Parse(d.webURL(t))
	if err != nil {
		t.Fatal(err)
	}
	checkPageServed(t, &http.Client{}, "http://127.0.0.1:"+u.Port()+"/")
}

func TestWebConfigurationRejected(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{name: "plain HTTP on the unspecified IPv4 address", args: []string{"--http-listen", "0.0.0.0:0"}, want: []string{"web page", "not a loopback address", "--tls-cert", "--insecure-listen"}},
		{name: "plain HTTP on all addresses from the environment", env: map[string]string{"DANED_HTTP_LISTEN": ":0"}, want: []string{"web page", "not a loopback address"}},
		{name: "plain HTTP on the unspecified IPv6 address", args: []string{"--http-listen", "[::]:0"}, want: []string{"not a loopback address"}},
		{name: "no port", args: []string{"--http-listen", "127.0.0.1"}, want: []string{"--http-listen", "missing port"}},
		{name: "address in use", args: []string{"--http-listen", busy.Addr().String()}, want: []string{"--http-listen", "address already in use"}},
		{name: "negative rate", args: []string{"--http-listen", "127.0.0.1:0", "--http-rate-limit", "-1"}, want: []string{"--http-rate-limit", "must not be negative"}},
		{name: "negative re-check rate", env: map[string]string{"DANED_HTTP_RECHECK_LIMIT": "-0.5"}, want: []string{"--http-recheck-limit", "must not be negative"}},
		{name: "client allow-list without client CA", args: []string{"--http-listen", "127.0.0.1:0", "--client-allow", "mta1.example"}, want: []string{"--client-allow needs --client-ca"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var out syncBuffer
			err := run(context.Background(), append(append([]string{"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"}, quickResolver...), tt.args...), &out, nil)
			if err == nil {
				t.Fatalf("run %v started; want an error", tt.args)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("run %v: %v; want it to mention %q", tt.args, err, w)
				}
			}
		})
	}
}

// apiStatus calls the JSON API and returns the HTTP status and the gRPC
// code name of an error ("" on success).
func apiStatus(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, body := get(t, c, u)
	var e struct{ Code string }
	if resp.StatusCode != http.StatusOK {
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			t.Fatalf("GET %s: %s with a body that is not JSON: %q", u, resp.Status, body)
		}
	}
	return resp.StatusCode, e.Code
}

// TestWebRateLimits: each client address gets --http-rate-burst checks
// at once and --http-recheck-limit re-checks (cache bypassed); over
// them, 429 RESOURCE_EXHAUSTED. The fleet's --rate-limit is apart.
func TestWebRateLimits(t *testing.T) {
	d := startDaned(t, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
		"--http-rate-limit", "0.001", "--http-rate-burst", "3", "--http-recheck-limit", "0.001")
	base := d.webURL(t)
	c := &http.Client{}
	steps := []struct {
		name     string
		query    string
		want     int
		wantCode string
	}{
		{name: "check", query: "domain=example.com", want: http.StatusOK},
		{name: "re-check", query: "domain=example.com&bypass_cache=true", want: http.StatusOK},
		{name: "second re-check", query: "domain=example.com&bypass_cache=true", want: http.StatusTooManyRequests, wantCode: "RESOURCE_EXHAUSTED"},
		{name: "third check", query: "domain=example.net", want: http.StatusOK},
		{name: "fourth check", query: "domain=example.org", want: http.StatusTooManyRequests, wantCode: "RESOURCE_EXHAUSTED"},
	}
	for _, st := range steps {
		if got, code := apiStatus(t, c, base+"v1/validate?"+st.query); got != st.want || code != st.wantCode {
			t.Errorf("%s: %d %s, want %d %s", st.name, got, code, st.want, st.wantCode)
		}
	}
}

// TestWebLameDuck: at shutdown, checks answer 503 UNAVAILABLE during the
// lame-duck period instead of being cut off, then the listener closes.
func TestWebLameDuck(t *testing.T) {
	d := startDaned(t, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--lame-duck", "3s")
	base := d.webURL(t)
	c := &http.Client{}
	if got, code := apiStatus(t, c, base+"v1/validate?domain=example.com"); got != http.StatusOK {
		t.Fatalf("before shutdown: %d %s", got, code)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- d.shutdown() }()
	d.waitLog(t, "shutting down")
	if got, code := apiStatus(t, c, base+"v1/validate?domain=example.com"); got != http.StatusServiceUnavailable || code != "UNAVAILABLE" {
		t.Errorf("during the lame duck: %d %s, want 503 UNAVAILABLE", got, code)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

// TestWebRequestLimits: the listener refuses oversized headers and
// closes a connection whose request headers never finish (a slow-loris
// client cannot hold it).
func TestWebRequestLimits(t *testing.T) {
	d := startDaned(t, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0")
	u, err := url.Parse(d.webURL(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	req.Header.Set("X-Padding", strings.Repeat("x", 64<<10))
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("64 KiB of headers: %s, want 431", resp.Status)
	}

	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: " + u.Host + "\r\nX-Slow: ")); err != nil {
		t.Fatal(err)
	}
	// The hang guard is far beyond the header timeout: the server, not
	// this deadline, must end the connection.
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
	_, err = io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("a request whose headers never finish still holds its connection: %v", err)
	}
}

var metricsRE = regexp.MustCompile(`daned serving.* metrics=(\S+)`)

// TestWebMetrics: the page's requests, checks and refusals are counted
// on daned's Prometheus endpoint.
func TestWebMetrics(t *testing.T) {
	d := startDaned(t, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--http-rate-limit", "0.001", "--http-rate-burst", "1")
	base := d.webURL(t)
	c := &http.Client{}
	for _, want := range []int{http.StatusOK, http.StatusTooManyRequests} {
		if got, code := apiStatus(t, c, base+"v1/validate?domain=example.com"); got != want {
			t.Fatalf("check: %d %s, want %d", got, code, want)
		}
	}
	m := metricsRE.FindStringSubmatch(d.out.String())
	if m == nil {
		t.Fatalf("daned did not log its metrics address:\n%s", d.out.String())
	}
	_, body := get(t, c, "http://"+m[1]+"/metrics")
	for _, want := range []string{"dane_web_requests_total{", "dane_web_checks_total{", "dane_web_refused_total{"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
