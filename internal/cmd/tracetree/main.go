// Command tracetree reads the spans that daned's console exporter
// (OTEL_TRACES_EXPORTER=console) writes to standard output, a stream of
// JSON objects, and prints each trace as an indented tree with the
// attributes an SRE reads first.
//
//	OTEL_TRACES_EXPORTER=console daned ... > spans.json
//	go run ./internal/cmd/tracetree < spans.json
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

type span struct {
	Name        string
	SpanContext struct{ TraceID, SpanID string }
	Parent      struct{ TraceID, SpanID string }
	StartTime   time.Time
	EndTime     time.Time
	Attributes  []struct {
		Key   string
		Value struct {
			Type  string
			Value any
		}
	}
	Events []struct {
		Name string
		Time time.Time
	}
	Status struct{ Code, Description string }
	Links  []struct {
		SpanContext struct{ TraceID, SpanID string }
	}
}

// shown are the attributes printed, in this order.
var shown = []string{
	"rpc.method", "dane.domain", "dane.action", "dane.reason", "dane.policy", "dane.status_code", "dane.cache.hit", "dane.coalesced",
	"dane.mx.host", "dane.tlsa.base_domain", "dane.usable",
	"dns.question.name", "dns.question.type", "dns.response_code", "dns.security",
	"network.peer.address", "tls.client.server_name", "tls.protocol.version", "tls.cipher", "dane.probe.stage",
	"dane.tlsa.matched", "dane.tlsa.record",
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tracetree:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	dec := json.NewDecoder(in)
	var spans []*span
	for {
		s := &span{}
		if err := dec.Decode(s); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return err
		}
		spans = append(spans, s)
	}
	children := map[string][]*span{}
	ids := map[string]bool{}
	for _, s := range spans {
		ids[s.SpanContext.SpanID] = true
	}
	var roots []*span
	for _, s := range spans {
		if ids[s.Parent.SpanID] {
			children[s.Parent.SpanID] = append(children[s.Parent.SpanID], s)
		} else {
			roots = append(roots, s)
		}
	}
	for _, c := range children {
		sort.Slice(c, func(i, j int) bool { return c[i].StartTime.Before(c[j].StartTime) })
	}
	sort.Slice(roots, func(i, j int) bool { return roots[i].StartTime.Before(roots[j].StartTime) })
	for _, r := range roots {
		fmt.Fprintf(out, "trace %s\n", r.SpanContext.TraceID)
		printSpan(out, r, children, 1)
	}
	return nil
}

func printSpan(out io.Writer, s *span, children map[string][]*span, depth int) {
	var attrs []string
	for _, k := range shown {
		for _, a := range s.Attributes {
			if a.Key == k {
				attrs = append(attrs, fmt.Sprintf("%s=%v", k, a.Value.Value))
			}
		}
	}
	status := ""
	if s.Status.Code == "Error" {
		status = " ERROR"
		if s.Status.Description != "" {
			d := s.Status.Description
			if len(d) > 100 {
				d = d[:100] + "…"
			}
			status += " (" + d + ")"
		}
	}
	indent := strings.Repeat("  ", depth)
	fmt.Fprintf(out, "%s%s %s%s  %s\n", indent, s.Name, s.EndTime.Sub(s.StartTime).Round(10*time.Microsecond), status, strings.Join(attrs, " "))
	if len(s.Events) > 0 {
		var ev []string
		for _, e := range s.Events {
			ev = append(ev, fmt.Sprintf("%s@+%s", e.Name, e.Time.Sub(s.StartTime).Round(10*time.Microsecond)))
		}
		fmt.Fprintf(out, "%s  events: %s\n", indent, strings.Join(ev, " "))
	}
	for _, l := range s.Links {
		fmt.Fprintf(out, "%s  link: trace %s span %s\n", indent, l.SpanContext.TraceID, l.SpanContext.SpanID)
	}
	for _, c := range children[s.SpanContext.SpanID] {
		printSpan(out, c, children, depth+1)
	}
}
