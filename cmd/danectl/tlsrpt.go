package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/daned/daned/internal/config"
	danev1 "github.com/daned/daned/proto/dane/v1"
	"github.com/daned/daned/tlsrpt"
)

const tlsrptSynopsis = `Usage: danectl tlsrpt send --server ADDR [--include-current]
       danectl tlsrpt show --server ADDR DOMAIN

send: has daned make the TLS reports (RFC 8460) of the periods that ended
now, rather than after their random delay (with --include-current, of the
current period up to now too), and attempt every report not yet
delivered; prints each attempt.
show: prints the counts daned holds, not yet reported, for the policy
domain DOMAIN and the policy domains under it (a DANE policy domain is an
MX host).`

// runTLSRPT runs "danectl tlsrpt". Exit status: 0, 1 when a report
// could not be delivered, 2 on a usage or call error.
func runTLSRPT(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "send" && args[0] != "show") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(stdout, tlsrptSynopsis)
			return exitDeliver
		}
		fmt.Fprintln(stderr, tlsrptSynopsis)
		return exitError
	}
	cmd := args[0]
	fs := flag.NewFlagSet("danectl tlsrpt "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	serverAddr := fs.String("server", "127.0.0.1:8053", "daned to ask (host:port)")
	includeCurrent := fs.Bool("include-current", false, "send: report the current period too, up to now")
	asJSON := fs.Bool("json", false, "show: print each period's policies as the report's JSON")
	timeout := fs.Duration("timeout", 5*time.Minute, "deadline of the call")
	fs.Usage = config.Usage(fs, tlsrptSynopsis)
	operands, code, ok := parseOperands(fs, args[1:])
	if !ok {
		return code
	}
	if (cmd == "show") != (len(operands) == 1) || len(operands) > 1 {
		fmt.Fprintln(stderr, "danectl: tlsrpt show takes one DOMAIN, tlsrpt send none")
		return exitError
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	conn, err := grpc.NewClient(*serverAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(stderr, "danectl:", err)
		return exitError
	}
	defer conn.Close()
	c := danev1.NewDaneServiceClient(conn)
	if cmd == "send" {
		resp, err := c.SendReports(ctx, &danev1.SendReportsRequest{IncludeCurrentPeriod: *includeCurrent})
		if err != nil {
			fmt.Fprintln(stderr, "danectl:", describe(err))
			return exitError
		}
		code := exitDeliver
		if len(resp.GetReports()) == 0 {
			fmt.Fprintln(stdout, "no report to send")
		}
		for _, r := range resp.GetReports() {
			if r.GetOk() {
				fmt.Fprintf(stdout, "sent     %s to %s (report-id %s)\n", r.GetPolicyDomain(), r.GetRua(), r.GetReportId())
				continue
			}
			code = exitBlocked
			fmt.Fprintf(stdout, "NOT SENT %s to %s (report-id %s): %s\n", r.GetPolicyDomain(), r.GetRua(), r.GetReportId(), r.GetError())
		}
		return code
	}
	resp, err := c.TlsRptCounts(ctx, &danev1.TlsRptCountsRequest{Domain: operands[0]})
	if err != nil {
		fmt.Fprintln(stderr, "danectl:", describe(err))
		return exitError
	}
	if err := showCounts(stdout, resp, *asJSON); err != nil {
		fmt.Fprintln(stderr, "danectl:", err)
		return exitError
	}
	return exitDeliver
}

// showCounts prints live counts.
func showCounts(w io.Writer, resp *danev1.TlsRptCountsResponse, asJSON bool) error {
	if len(resp.GetRanges()) == 0 {
		fmt.Fprintln(w, "no sessions counted, not yet reported")
		return nil
	}
	for _, r := range resp.GetRanges() {
		fmt.Fprintf(w, "%s  %s – %s\n", r.GetPolicyDomain(), r.GetStart().AsTime().UTC().Format(time.RFC3339), r.GetEnd().AsTime().UTC().Format(time.RFC3339))
		if asJSON {
			fmt.Fprintln(w, r.GetPoliciesJson())
			continue
		}
		var pols []tlsrpt.PolicyResults
		if err := json.Unmarshal([]byte(r.GetPoliciesJson()), &pols); err != nil {
			return fmt.Errorf("the server's counts: %w", err)
		}
		for _, p := range pols {
			fmt.Fprintf(w, "  policy %s", p.Policy.Type)
			if len(p.Policy.MXHosts) > 0 {
				fmt.Fprintf(w, ", mx %s", strings.Join(p.Policy.MXHosts, " "))
			}
			fmt.Fprintln(w)
			for _, s := range p.Policy.Strings {
				fmt.Fprintf(w, "    %s\n", abbrev(s, 76))
			}
			fmt.Fprintf(w, "    sessions: %d successful, %d failed\n", p.Summary.Successful, p.Summary.Failed)
			for _, d := range p.FailureDetails {
				fmt.Fprintf(w, "      %6d × %s", d.Count, d.Result)
				for _, kv := range [][2]string{{"mx", d.ReceivingMX}, {"ip", d.ReceivingIP}, {"from", d.SendingMTAIP}, {"code", d.FailureCode}} {
					if kv[1] != "" {
						fmt.Fprintf(w, "  %s %s", kv[0], kv[1])
					}
				}
				fmt.Fprintln(w)
				if d.AdditionalInfo != "" {
					fmt.Fprintf(w, "               %s\n", abbrev(d.AdditionalInfo, 70))
				}
			}
		}
	}
	return nil
}
