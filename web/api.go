package web

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/daned/daned/cache"
	"github.com/daned/daned/dnsname"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/flight"
	danev1 "github.com/daned/daned/proto/dane/v1"
	"github.com/daned/daned/protoconv"
)

// serveAPI answers /v1/validate: GET with the request in the query
// (domain, and the booleans policy_only and bypass_cache), or POST with a
// protojson dane.v1.ValidateRequest (Content-Type application/json). The
// answer is the protojson dane.v1.ValidateResponse the gRPC door gives
// for the same verdict; an error is {"code": "<gRPC code name>",
// "message": "..."} with a fitting HTTP status.
func (h *Handler) serveAPI(w http.ResponseWriter, r *http.Request) {
	req := &danev1.ValidateRequest{}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		q := r.URL.Query()
		req.Domain = q.Get("domain")
		for name, dst := range map[string]*bool{"policy_only": &req.PolicyOnly, "bypass_cache": &req.BypassCache} {
			if v := q.Get(name); v != "" {
				b, err := strconv.ParseBool(v)
				if err != nil {
					writeJSONError(w, &callError{http.StatusBadRequest, "INVALID_ARGUMENT", name + " must be true or false"})
					return
				}
				*dst = b
			}
		}
	case http.MethodPost:
		if ce := h.readJSON(w, r, req); ce != nil {
			writeJSONError(w, ce)
			return
		}
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		writeJSONError(w, &callError{http.StatusMethodNotAllowed, "UNIMPLEMENTED", "method " + short(r.Method) + " is not allowed; use GET or POST"})
		return
	}
	domain, err := dnsname.Normalize(req.GetDomain())
	if err != nil {
		writeJSONError(w, &callError{http.StatusBadRequest, "INVALID_ARGUMENT", short(err.Error())})
		return
	}
	fresh := req.GetBypassCache()
	d, _, ce := h.check(r, domain, engine.Options{PolicyOnly: req.GetPolicyOnly(), FreshDNS: fresh, FreshProbes: fresh}, fresh, false)
	if ce != nil {
		writeJSONError(w, ce)
		return
	}
	b, err := protojson.Marshal(Response(d, trace.SpanContextFromContext(r.Context())))
	if err != nil {
		writeJSONError(w, &callError{http.StatusInternalServerError, "INTERNAL", "the response could not be encoded"})
		return
	}
	writeJSON(w, r, http.StatusOK, b)
}

// Response is the API response of a decision, as the gRPC door makes it:
// the verdict mapped by protoconv, with the per-call fields from_cache,
// ttl (what remains of the verdict's lifetime) and trace_id.
func Response(d cache.Decision, sc trace.SpanContext) *danev1.ValidateResponse {
	resp := protoconv.ToProto(d.Result)
	resp.FromCache = d.Source == flight.Cached
	resp.Ttl = durationpb.New(d.Remaining)
	if sc.HasTraceID() {
		resp.TraceId = sc.TraceID().String()
	}
	return resp
}

// readJSON reads a protojson request body: application/json, within
// MaxBody, no unknown fields.
func (h *Handler) readJSON(w http.ResponseWriter, r *http.Request, req *danev1.ValidateRequest) *callError {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		return &callError{http.StatusUnsupportedMediaType, "INVALID_ARGUMENT", "the body must be a protojson dane.v1.ValidateRequest sent as application/json"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.cfg.Metrics.Refused(r.Context(), "too_large")
			return &callError{http.StatusRequestEntityTooLarge, "INVALID_ARGUMENT", "the request body exceeds " + strconv.FormatInt(h.cfg.MaxBody, 10) + " bytes"}
		}
		return &callError{http.StatusBadRequest, "INVALID_ARGUMENT", "the request body could not be read"}
	}
	if err := protojson.Unmarshal(body, req); err != nil {
		return &callError{http.StatusBadRequest, "INVALID_ARGUMENT", "the body is not a valid dane.v1.ValidateRequest: " + short(err.Error())}
	}
	return nil
}

// jsonError is the body of an error answer.
type jsonError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeJSONError(w http.ResponseWriter, ce *callError) {
	switch ce.status {
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "10")
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "5")
	}
	// encoding/json escapes <, > and &: a message quoting the request
	// stays inert even if something sniffs it as HTML.
	b, _ := json.Marshal(jsonError{Code: ce.code, Message: ce.message})
	writeJSON(w, nil, ce.status, b)
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, b []byte) {
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	if r != nil && r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(append(b, '\n'))
}
