// Command danectl checks a destination's DANE setup the way daned does
// (and, for a domain without DANE, its MTA-STS policy), and explains the
// verdict host by host and address by address.
//
//	danectl check example.com            # run the engine in-process
//	danectl check --server 127.0.0.1:8053 example.com
//	danectl check --json example.com     # the ValidateResponse as protojson
//	danectl tlsrpt show --server 127.0.0.1:8053 example.com
//	danectl tlsrpt send --server 127.0.0.1:8053
//
// Exit status: 0 on DELIVER, 1 on DEFER or REJECT, 2 on a usage or
// internal error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/daned/daned/engine"
	"github.com/daned/daned/internal/config"
	danev1 "github.com/daned/daned/proto/dane/v1"
	"github.com/daned/daned/protoconv"
)

// Exit statuses.
const (
	exitDeliver = 0
	exitBlocked = 1
	exitError   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const synopsis = `Usage: danectl check DOMAIN [flags]
       danectl tlsrpt send|show ... (danectl tlsrpt --help)

Checks DOMAIN's DANE (RFC 7672) setup: MX, addresses and TLSA records with
DNSSEC, a STARTTLS probe of every MX address, and the verdict daned gives;
for a domain without DANE, its MTA-STS (RFC 8461) policy and how its MX
hosts fare under it.
Without --server the engine runs in-process with the resolver and probe
flags below; with --server they are the server's business.`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "tlsrpt" {
		return runTLSRPT(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "check" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(stdout, synopsis)
			return exitDeliver
		}
		fmt.Fprintln(stderr, synopsis)
		return exitError
	}
	fs := flag.NewFlagSet("danectl check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var ec config.EngineFlags
	ec.Register(fs)
	serverAddr := fs.String("server", "", "daned to ask (host:port); empty runs the engine in-process")
	asJSON := fs.Bool("json", false, "print the ValidateResponse as protojson")
	policyOnly := fs.Bool("policy-only", false, "DNS only: no STARTTLS probes")
	timeout := fs.Duration("timeout", 60*time.Second, "deadline of the whole check")
	fs.Usage = config.Usage(fs, synopsis)

	domains, code, ok := parseOperands(fs, args[1:])
	if !ok {
		return code
	}
	if len(domains) != 1 {
		fmt.Fprintln(stderr, "danectl: check takes exactly one DOMAIN")
		return exitError
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	resp, err := check(ctx, domains[0], *serverAddr, *policyOnly, &ec)
	if err != nil {
		fmt.Fprintln(stderr, "danectl:", describe(err))
		return exitError
	}
	if *asJSON {
		b, err := protojson.MarshalOptions{Multiline: true, UseProtoNames: true}.Marshal(resp)
		if err != nil {
			fmt.Fprintln(stderr, "danectl:", err)
			return exitError
		}
		fmt.Fprintln(stdout, string(b))
	} else {
		report(stdout, resp)
	}
	if resp.GetAction() == danev1.Action_ACTION_DELIVER {
		return exitDeliver
	}
	return exitBlocked
}

// check asks a server, or runs the engine in-process.
func check(ctx context.Context, domain, serverAddr string, policyOnly bool, ec *config.EngineFlags) (*danev1.ValidateResponse, error) {
	if serverAddr != "" {
		conn, err := grpc.NewClient(serverAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		return danev1.NewDaneServiceClient(conn).Validate(ctx, &danev1.ValidateRequest{Domain: domain, PolicyOnly: policyOnly})
	}
	built, err := ec.Build()
	if err != nil {
		return nil, err
	}
	defer built.Close()
	res, err := built.Engine.Validate(ctx, domain, engine.Options{PolicyOnly: policyOnly})
	if err != nil {
		return nil, err
	}
	return protoconv.ToProto(res), nil
}

// describe turns a gRPC status into plain words.
func describe(err error) string {
	if s, ok := status.FromError(err); ok {
		return fmt.Sprintf("%s (%s)", s.Message(), s.Code())
	}
	return err.Error()
}

// parseOperands parses args with fs, flags before or after the operands,
// and returns the operands. When it returns !ok the command ends with
// code: help was asked for (0), or a flag was wrong (2, reported on
// fs's output).
func parseOperands(fs *flag.FlagSet, args []string) (operands []string, code int, ok bool) {
	for {
		if err := config.Parse(fs, args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitDeliver, false
			}
			return nil, exitError, false
		}
		if fs.NArg() == 0 {
			return operands, 0, true
		}
		operands = append(operands, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
