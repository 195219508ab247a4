package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/daned/daned/internal/testworld"
	danev1 "github.com/daned/daned/proto/dane/v1"
)

// receiver is a test OTLP/gRPC trace collector.
type receiver struct {
	collectortrace.UnimplementedTraceServiceServer
	mu       sync.Mutex
	spans    []*tracepb.Span
	services []string
}

func (r *receiver) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				r.services = append(r.services, a.GetValue().GetStringValue())
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			r.spans = append(r.spans, ss.GetSpans()...)
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func (r *receiver) inTrace(traceID string) []*tracepb.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*tracepb.Span
	for _, s := range r.spans {
		if hex.EncodeToString(s.GetTraceId()) == traceID {
			out = append(out, s)
		}
	}
	return out
}

// TestTelemetryEndToEnd runs daned as a process exporting traces over
// OTLP/gRPC to a test collector, validates real domains of the test
// world, and checks the spans it receives and the metrics it serves.
func TestTelemetryEndToEnd(t *testing.T) {
	bin := buildDaned(t)
	w := testworld.StartT(t, testworld.Options{})
	u := testworld.StartUnboundT(t, w)

	rcv := &receiver{}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(g, rcv)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)

	var allow []string
	for _, p := range w.ProbeAllow() {
		allow = append(allow, p.String())
	}
	cmd := exec.Command(bin, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--log-format", "json",
		"--resolver", u.Addr(), "--probe-port", strconv.Itoa(w.SMTPPort()), "--probe-allow", strings.Join(allow, ","),
		"--helo-name", "daned.test", "--lame-duck", "0s")
	cmd.Env = append(os.Environ(),
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://"+lis.Addr().String(),
		"OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
		"OTEL_EXPORTER_OTLP_INSECURE=true",
		"OTEL_BSP_SCHEDULE_DELAY=100",
		"OTEL_SERVICE_NAME=daned-e2e",
		"OTEL_TRACES_EXPORTER=",
	)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	// Read the JSON log: the serving line gives the addresses; verdict
	// lines are kept.
	type logLine map[string]any
	lines := make(chan logLine, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var l logLine
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				lines <- l
			}
		}
		close(lines)
	}()
	var addr, metricsAddr string
	timeout := time.After(20 * time.Second)
	for addr == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("daned exited before serving")
			}
			if l["msg"] == "daned serving" {
				addr, _ = l["listen"].(string)
				metricsAddr, _ = l["metrics"].(string)
				if l["tracing"] != true {
					t.Fatalf("tracing not on with an OTLP endpoint: %v", l)
				}
			}
		case <-timeout:
			t.Fatal("daned did not report its address")
		}
	}

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := danev1.NewDaneServiceClient(conn)
	// The caller's own trace context (W3C traceparent) is continued.
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	ctx := metadata.AppendToOutgoingContext(context.Background(), "traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := client.Validate(ctx, &danev1.ValidateRequest{Domain: "ee-spki.test"})
	if err != nil || resp.GetAction() != danev1.Action_ACTION_DELIVER {
		t.Fatalf("Validate: %v %v", resp, err)
	}
	if resp.GetTraceId() != traceID {
		t.Fatalf("trace_id %q, want the caller's %s", resp.GetTraceId(), traceID)
	}
	again, err := client.Validate(ctx, &danev1.ValidateRequest{Domain: "ee-spki.test"})
	if err != nil || !again.GetFromCache() {
		t.Fatalf("second Validate: from_cache=%v %v", again.GetFromCache(), err)
	}
	if r, err := client.Validate(context.Background(), &danev1.ValidateRequest{Domain: "mismatch.test"}); err != nil || r.GetAction() != danev1.Action_ACTION_DEFER {
		t.Fatalf("mismatch.test: %v %v", r, err)
	}

	// The spans of both calls in the trace arrive at the collector (the
	// batch exporter may send them in several batches: wait for all).
	want := map[string]bool{"dane.v1.DaneService/Validate": true, "dane.validate": true, "dns.lookup": true, "dane.host": true, "smtp.probe": true, "dane.match": true}
	var spans []*tracepb.Span
	deadline := time.Now().Add(30 * time.Second)
	for {
		spans = rcv.inTrace(traceID)
		seen := map[string]int{}
		for _, s := range spans {
			seen[s.GetName()]++
		}
		missing := seen["dane.v1.DaneService/Validate"] < 2
		for n := range want {
			if seen[n] == 0 {
				missing = true
			}
		}
		if !missing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("spans received in the trace: %v; want %v", spanNames(spans), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	byID := map[string]*tracepb.Span{}
	for _, s := range spans {
		byID[hex.EncodeToString(s.GetSpanId())] = s
	}
	var rpcSpans, validate, hits int
	for _, s := range spans {
		parent := byID[hex.EncodeToString(s.GetParentSpanId())]
		switch s.GetName() {
		case "dane.v1.DaneService/Validate":
			rpcSpans++
			if hex.EncodeToString(s.GetParentSpanId()) != "00f067aa0ba902b7" {
				t.Errorf("the RPC span's parent is %x, want the caller's span", s.GetParentSpanId())
			}
			if attr(s, "dane.cache.hit") == "true" {
				hits++
				if len(s.GetLinks()) == 0 {
					t.Error("a cached verdict's span has no link to the validation that reached it")
				}
			}
		case "dane.validate":
			validate++
			if parent == nil || parent.GetName() != "dane.v1.DaneService/Validate" {
				t.Errorf("dane.validate's parent is %v", parent.GetName())
			}
			if attr(s, "dane.domain") != "ee-spki.test" || attr(s, "dane.action") != "DELIVER" {
				t.Errorf("dane.validate attributes: %v", s.GetAttributes())
			}
		case "smtp.probe":
			if attr(s, "network.peer.address") == "" || attr(s, "tls.protocol.version") == "" || len(s.GetEvents()) < 5 {
				t.Errorf("smtp.probe: attributes %v, %d events", s.GetAttributes(), len(s.GetEvents()))
			}
		case "dns.lookup":
			if attr(s, "dns.question.name") == "" || attr(s, "dns.security") != "secure" {
				t.Errorf("dns.lookup attributes: %v", s.GetAttributes())
			}
		}
	}
	if rpcSpans != 2 || validate != 1 || hits != 1 {
		t.Errorf("%d RPC spans (%d cache hits) and %d validations in the trace, want 2, 1 and 1", rpcSpans, hits, validate)
	}
	rcv.mu.Lock()
	if len(rcv.services) == 0 || rcv.services[0] != "daned-e2e" {
		t.Errorf("service.name %v, want OTEL_SERVICE_NAME", rcv.services)
	}
	rcv.mu.Unlock()

	// The metrics moved.
	res, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	sum := func(name string, labels map[string]string) float64 {
		var total float64
		for _, m := range fams[name].GetMetric() {
			ok := true
			for k, v := range labels {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == k && l.GetValue() == v {
						found = true
					}
				}
				ok = ok && found
			}
			if ok {
				total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
		return total
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"dane_validations_total", map[string]string{"action": "DELIVER", "from_cache": "false"}, 1},
		{"dane_validations_total", map[string]string{"action": "DELIVER", "from_cache": "true"}, 1},
		{"dane_validations_total", map[string]string{"action": "DEFER", "reason": "TLSA_NO_MATCH"}, 1},
		{"dane_dns_queries_total", map[string]string{"type": "TLSA", "security": "secure"}, 2},
		{"dane_probes_total", map[string]string{"outcome": "tls"}, 2},
		{"dane_cache_hits_total", map[string]string{"cache": "verdict"}, 1},
		{"dane_cache_size", map[string]string{"cache": "dns"}, 8},
	} {
		if got := sum(c.name, c.labels); got < c.min {
			t.Errorf("%s%v = %v, want at least %v", c.name, c.labels, got, c.min)
		}
	}
	// Every metric the Grafana dashboard queries exists.
	dash, err := os.ReadFile("../../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range dashboardMetric.FindAllString(string(dash), -1) {
		family := m
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			if f := strings.TrimSuffix(m, suffix); f != m && fams[f] != nil {
				family = f
			}
		}
		if fams[family] == nil {
			t.Errorf("the dashboard queries %s, which daned does not export", m)
		}
	}
	rpcMetric := false
	for name := range fams {
		if strings.HasPrefix(name, "rpc_server_") {
			rpcMetric = true
		}
	}
	if !rpcMetric {
		t.Error("no gRPC server metrics")
	}

	// One log line per verdict, with the trace id.
	sawVerdict := false
	drain := time.After(20 * time.Second)
	for !sawVerdict {
		select {
		case l := <-lines:
			if l["msg"] == "verdict" && l["trace_id"] == traceID && l["domain"] == "ee-spki.test" && l["action"] != nil {
				sawVerdict = true
			}
		case <-drain:
			t.Fatal("no verdict log line with the trace id")
		}
	}

	// SIGTERM: a clean exit.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("daned exited with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("daned did not stop on SIGTERM")
	}
}

// dashboardMetric finds metric names in the dashboard's queries.
var dashboardMetric = regexp.MustCompile(`\b(?:dane|rpc_server|process|go_memstats)_[a-z_]+`)

func attr(s *tracepb.Span, key string) string {
	for _, a := range s.GetAttributes() {
		if a.GetKey() == key {
			v := a.GetValue()
			switch {
			case v.GetStringValue() != "":
				return v.GetStringValue()
			case v.GetBoolValue():
				return "true"
			}
			return strconv.FormatInt(v.GetIntValue(), 10)
		}
	}
	return ""
}

func spanNames(spans []*tracepb.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.GetName())
	}
	return out
}
