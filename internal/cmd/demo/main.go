// Command demo starts a testworld (a loopback DNSSEC hierarchy with SMTP
// servers, and the MTA-STS scenarios with their HTTPS policy hosts) and a
// real Unbound validating against it, prints where they are, and blocks
// until SIGINT or SIGTERM. With -env FILE it writes shell variable
// assignments for daned once everything answers, so a Makefile can source
// them, and the world's CA, the WebPKI of its MTA-STS scenarios, as
// world-ca.pem beside FILE for daned's SSL_CERT_FILE.
package main

import (
	"context"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/daned/daned/internal/testworld"
)

func main() {
	envFile := flag.String("env", "", "write DANED_* shell assignments to this file once ready")
	verbose := flag.Bool("v", false, "log testworld diagnostics")
	flag.Parse()
	if err := run(*envFile, *verbose); err != nil {
		log.Fatalf("demo: %v", err)
	}
}

func run(envFile string, verbose bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	opts := testworld.Options{Extra: testworld.STSScenarios()}
	if verbose {
		opts.Logf = log.Printf
	}
	w, err := testworld.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer w.Close()

	dir, err := os.MkdirTemp("", "daned-demo-unbound-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	u, err := testworld.StartUnbound(ctx, w, dir)
	if err != nil {
		return err
	}
	defer u.Close()

	var allow, domains []string
	for _, p := range w.ProbeAllow() {
		allow = append(allow, p.String())
	}
	for _, s := range w.Scenarios() {
		domains = append(domains, s.Domain)
	}
	fmt.Printf("unbound:     %s (config %s)\n", u.Addr(), u.ConfigFile())
	fmt.Printf("smtp port:   %d\n", w.SMTPPort())
	fmt.Printf("https port:  %d (MTA-STS policy hosts)\n", w.HTTPSPort())
	fmt.Printf("probe allow: %s\n", strings.Join(allow, ","))
	fmt.Println("scenarios:")
	for _, s := range w.Scenarios() {
		fmt.Printf("  %-22s %s → %s\n", s.Domain, s.Description, s.Expect)
	}
	if envFile != "" {
		ca := filepath.Join(filepath.Dir(envFile), "world-ca.pem")
		if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: w.PKI().Root.Cert.Raw}), 0o644); err != nil {
			return err
		}
		env := fmt.Sprintf("DANED_RESOLVER=%s\nDANED_PROBE_PORT=%d\nDANED_PROBE_ALLOW=%s\nDANED_MTA_STS_PORT=%d\nSSL_CERT_FILE=%s\nDEMO_DOMAINS=%q\n",
			u.Addr(), w.SMTPPort(), strings.Join(allow, ","), w.HTTPSPort(), ca, strings.Join(domains, " "))
		tmp := envFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(env), 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, envFile); err != nil {
			return err
		}
		abs, _ := filepath.Abs(envFile)
		fmt.Printf("environment written to %s\n", abs)
	}
	fmt.Println("ready; press Ctrl-C to stop")
	<-ctx.Done()
	fmt.Println("stopping")
	return nil
}
