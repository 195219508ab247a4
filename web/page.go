package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/daned/daned/cache"
	"github.com/daned/daned/dnsname"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/flight"
)

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	// pathSVG hands the svg template one layout of a picture.
	"pathSVG": func(p *pathView, l *layout) svgData { return svgData{p, l} },
}).ParseFS(templateFS, "templates/*.html"))

// svgData is one drawing of the delivery path, for the svg template.
type svgData struct {
	Path   *pathView
	Layout *layout
}

// errInvalidDomain is wrapped by every error about the domain given.
var errInvalidDomain = dnsname.ErrInvalid

// pageData is what the layout renders.
type pageData struct {
	Title   string
	Query   string // the form's value
	Status  int
	Report  *report
	Error   *callError
	Hint    string // what to try after an error
	Retry   bool   // show the re-check form with the error
	CSS     string // the stylesheet's address
	Icon    string // the icon's address
	Timeout string
}

// serveIndex shows the form.
func (h *Handler) serveIndex(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.pageMethodNotAllowed(w, r, "GET, HEAD")
		return
	}
	h.render(w, r, http.StatusOK, &pageData{Title: "Why does mail to my domain defer? DANE, DNSSEC and MTA-STS check"})
}

// serveNotFound answers a path the page does not have.
func (h *Handler) serveNotFound(w http.ResponseWriter, r *http.Request) {
	h.renderError(w, r, &callError{http.StatusNotFound, "NOT_FOUND", "there is no page at this address"}, "")
}

func (h *Handler) pageMethodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	h.renderError(w, r, &callError{http.StatusMethodNotAllowed, "UNIMPLEMENTED", "method " + short(r.Method) + " is not allowed here; use " + allow}, "")
}

// serveCheck renders the verdict of a domain: GET checks (from the cache
// when it can), POST re-checks (bypassing every cache).
func (h *Handler) serveCheck(w http.ResponseWriter, r *http.Request) {
	var raw string
	recheck := false
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		raw = r.URL.Query().Get("domain")
	case http.MethodPost:
		if ce := h.readForm(w, r); ce != nil {
			h.renderError(w, r, ce, "")
			return
		}
		raw, recheck = r.PostForm.Get("domain"), true
	default:
		h.pageMethodNotAllowed(w, r, "GET, HEAD, POST")
		return
	}
	raw = strings.TrimSpace(raw)
	if raw == "" {
		h.renderError(w, r, &callError{http.StatusBadRequest, "INVALID_ARGUMENT", "enter a domain name, such as example.com"}, "")
		return
	}
	domain, err := dnsname.Normalize(raw)
	if err != nil {
		h.renderError(w, r, &callError{http.StatusBadRequest, "INVALID_ARGUMENT", short(err.Error())}, short(raw))
		return
	}
	if !recheck && raw != domain {
		// One address per domain, so that a link in a ticket or a
		// bounce is the same whichever spelling was typed.
		http.Redirect(w, r, checkURL(domain), http.StatusFound)
		return
	}
	d, tr, ce := h.check(r, domain, engine.Options{FreshDNS: recheck, FreshProbes: recheck}, recheck, true)
	if ce != nil {
		h.renderError(w, r, ce, domain)
		return
	}
	rp := newReport(d.Result, d.Source, d.Remaining, h.cfg.Now())
	rp.Report = tr
	h.render(w, r, http.StatusOK, &pageData{Title: rp.Action + ": " + rp.Domain + " (DANE check)", Query: domain, Report: rp})
}

// readForm reads a POSTed form: url-encoded, within MaxBody, and from a
// page of this server (a browser's Origin, when it sends one, must be
// this host: another site cannot make its visitors re-check domains).
func (h *Handler) readForm(w http.ResponseWriter, r *http.Request) *callError {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" {
		return &callError{http.StatusUnsupportedMediaType, "INVALID_ARGUMENT", "the form must be sent as application/x-www-form-urlencoded"}
	}
	crossSite := r.Header.Get("Sec-Fetch-Site") == "cross-site"
	if o := r.Header.Get("Origin"); o != "" {
		if u, err := url.Parse(o); err != nil || u.Host != r.Host {
			crossSite = true
		}
	}
	if crossSite {
		h.cfg.Metrics.Refused(r.Context(), "cross_site")
		return &callError{http.StatusForbidden, "PERMISSION_DENIED", "a re-check must come from this server's own page"}
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.cfg.MaxBody)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.cfg.Metrics.Refused(r.Context(), "too_large")
			return &callError{http.StatusRequestEntityTooLarge, "INVALID_ARGUMENT", "the request body exceeds " + strconv.FormatInt(h.cfg.MaxBody, 10) + " bytes"}
		}
		return &callError{http.StatusBadRequest, "INVALID_ARGUMENT", "the form could not be read"}
	}
	return nil
}

// tlsrptTimeout bounds the TLS-RPT lookup of a page.
const tlsrptTimeout = 5 * time.Second

// check asks the decision layer for a normalised domain's verdict, within
// the rate limits and the time limit; with tlsrpt it then looks up the
// domain's TLS-RPT record. Not at the same time: a validating resolver
// that meets a bogus zone first through the TLS-RPT name keeps only "bad
// key" for it, and the verdict's own lookups would then come back without
// the cause (an expired RRSIG, a DS matching no key) the page explains.
func (h *Handler) check(r *http.Request, domain string, opts engine.Options, recheck, withTLSRPT bool) (cache.Decision, *tlsrptView, *callError) {
	if h.draining.Load() {
		return cache.Decision{}, nil, &callError{http.StatusServiceUnavailable, "UNAVAILABLE", "daned is shutting down; try again in a moment"}
	}
	if why := h.admit(r, recheck); why != "" {
		return cache.Decision{}, nil, &callError{http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", "rate limit exceeded: " + why + "; wait a little and try again"}
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.Timeout)
	defer cancel()
	d, err := h.cfg.Validator.Decide(ctx, domain, opts)
	span := trace.SpanFromContext(r.Context())
	span.SetAttributes(attrDomain.String(domain))
	if err != nil {
		return cache.Decision{}, nil, h.decideError(r, err, domain)
	}
	var tv *tlsrptView
	if withTLSRPT && h.cfg.TLSRPT != nil {
		// The record is a side note: a slow lookup must not hold up the
		// verdict for long.
		tctx, tcancel := context.WithTimeout(ctx, min(h.cfg.Timeout, tlsrptTimeout))
		txts, err := h.cfg.TLSRPT(tctx, domain)
		tcancel()
		tv = newTLSRPTView(domain, txts, err)
	}
	res := d.Result
	span.SetAttributes(attrAction.String(res.Verdict.Action.String()), attrReason.String(res.Verdict.Reason.String()), attrCached.Bool(d.Source == flight.Cached))
	h.cfg.Metrics.Check(r.Context(), res.Verdict.Action.String(), d.Source == flight.Cached, recheck)
	level := slog.LevelInfo
	if d.Source == flight.Cached {
		level = slog.LevelDebug
	}
	h.log.LogAttrs(r.Context(), level, "web check",
		slog.String("domain", domain), slog.String("action", res.Verdict.Action.String()),
		slog.String("reason", res.Verdict.Reason.String()), slog.String("status", res.Verdict.Status.Code),
		slog.Bool("recheck", recheck), slog.Bool("from_cache", d.Source == flight.Cached),
		slog.Duration("duration", time.Since(start)), slog.String("client", clientKey(r)))
	return d, tv, nil
}

// renderError shows an error page with the status of the error.
func (h *Handler) renderError(w http.ResponseWriter, r *http.Request, ce *callError, domain string) {
	pd := &pageData{Title: http.StatusText(ce.status), Query: domain, Error: ce, Status: ce.status}
	switch ce.status {
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "10")
		pd.Hint = "Checks are rate-limited per client address so that the page cannot be used to flood mail servers."
	case http.StatusGatewayTimeout:
		pd.Hint = "A slow name server or mail server is itself a finding: senders give up in much the same way."
		pd.Retry = domain != ""
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "5")
	}
	h.render(w, r, ce.status, pd)
}

// render executes the layout into a buffer first, so that a template
// error is a clean 500 rather than half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, pd *pageData) {
	pd.CSS, pd.Icon = h.static.cssURL, h.static.iconURL
	pd.Status = status
	pd.Timeout = h.cfg.Timeout.String()
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, "layout", pd); err != nil {
		h.log.LogAttrs(r.Context(), slog.LevelError, "web: rendering failed", slog.Any("error", err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}
