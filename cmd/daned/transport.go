package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/daned/daned/internal/tlsconfig"
	"github.com/daned/daned/server"
)

// transport holds the flags of the gRPC listener's security and of its
// protection against overload. The TLS flags and --insecure-listen also
// apply to the diagnostics page (webFlags).
type transport struct {
	tlsCert, tlsKey, clientCA string
	clientAllow               stringList
	insecureListen            bool
	maxStreams                uint
	maxRecvMsgSize            int
	rateLimit                 float64
	rateBurst                 int
}

func (t *transport) register(fs *flag.FlagSet) {
	fs.StringVar(&t.tlsCert, "tls-cert", "", "PEM certificate chain (leaf first) of the gRPC listener and the --http-listen page; with --tls-key, serve TLS 1.2+ (reloaded on SIGHUP)")
	fs.StringVar(&t.tlsKey, "tls-key", "", "PEM private key of --tls-cert (reloaded on SIGHUP)")
	fs.StringVar(&t.clientCA, "client-ca", "", "PEM bundle of CAs that clients' certificates must chain to: mutual TLS (reloaded on SIGHUP; needs --tls-cert)")
	fs.Var(&t.clientAllow, "client-allow", "client identity allowed to call: DNS SAN, URI SAN or subject CN of the verified client certificate; repeatable or comma-separated (empty: any client the CA vouches for; needs --client-ca)")
	fs.BoolVar(&t.insecureListen, "insecure-listen", false, "allow serving without TLS on a --listen, --socketmap-listen or --http-listen address that is not loopback")
	fs.UintVar(&t.maxStreams, "max-concurrent-streams", 1024, "most concurrent calls (HTTP/2 streams) per client connection")
	fs.IntVar(&t.maxRecvMsgSize, "max-recv-msg-size", 1<<20, "largest request message accepted, in bytes (larger: RESOURCE_EXHAUSTED)")
	fs.Float64Var(&t.rateLimit, "rate-limit", 0, "requests per second allowed to each caller (its client certificate identity, else its IP address; each ValidateStream request counts); 0 disables")
	fs.IntVar(&t.rateBurst, "rate-burst", 0, "token bucket size of each caller for --rate-limit (0: the rate rounded up)")
}

// check rejects inconsistent flags before anything starts.
func (t *transport) check() error {
	switch {
	case (t.tlsCert == "") != (t.tlsKey == ""):
		return fmt.Errorf("--tls-cert and --tls-key go together")
	case t.clientCA != "" && t.tlsCert == "":
		return fmt.Errorf("--client-ca (mutual TLS) needs --tls-cert and --tls-key")
	case len(t.clientAllow) > 0 && t.clientCA == "":
		return fmt.Errorf("--client-allow needs --client-ca: identities come from verified client certificates")
	case t.maxStreams < 1 || t.maxRecvMsgSize < 1:
		return fmt.Errorf("--max-concurrent-streams and --max-recv-msg-size must be at least 1")
	case t.rateLimit < 0 || t.rateBurst < 0:
		return fmt.Errorf("--rate-limit and --rate-burst must not be negative")
	}
	return nil
}

// options returns the gRPC server options for a listener on addr, and the
// TLS state to reload on SIGHUP (nil without TLS). Without TLS, only a
// loopback address is accepted unless --insecure-listen is given.
func (t *transport) options(addr net.Addr) ([]grpc.ServerOption, *tlsconfig.Server, *server.Limits, error) {
	var tlsSrv *tlsconfig.Server
	if t.tlsCert == "" {
		if !t.insecureListen && !isLoopback(addr) {
			return nil, nil, nil, fmt.Errorf("refusing to serve without TLS on %s, which is not a loopback address: give --tls-cert and --tls-key (and --client-ca for mutual TLS), or --insecure-listen to accept plaintext there", addr)
		}
	} else {
		var err error
		if tlsSrv, err = tlsconfig.New(tlsconfig.Files{Cert: t.tlsCert, Key: t.tlsKey, ClientCA: t.clientCA}); err != nil {
			return nil, nil, nil, err
		}
	}
	lim, err := server.NewLimits(server.LimitsConfig{Allow: t.clientAllow, Rate: t.rateLimit, Burst: t.rateBurst})
	if err != nil {
		return nil, nil, nil, err
	}
	opts := []grpc.ServerOption{
		grpc.MaxConcurrentStreams(uint32(min(t.maxStreams, 1<<31))),
		grpc.MaxRecvMsgSize(t.maxRecvMsgSize),
	}
	opts = append(opts, lim.ServerOptions()...)
	if tlsSrv != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsSrv.Config())))
	}
	return opts, tlsSrv, lim, nil
}

func isLoopback(addr net.Addr) bool {
	a, ok := addr.(*net.TCPAddr)
	return ok && a.IP.IsLoopback()
}

// reloadOnHUP reloads the TLS files on each value from hup until ctx
// ends, and returns a function that stops watching and waits for the
// watcher to end. Without TLS a SIGHUP is logged and otherwise ignored.
// The caller owns hup and its signal.Notify: main installs it first
// thing, so that a SIGHUP while daned starts does not end it.
func reloadOnHUP(ctx context.Context, hup <-chan os.Signal, tlsSrv *tlsconfig.Server, logger *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			if tlsSrv == nil {
				logger.Info("SIGHUP: nothing to reload (no --tls-cert)")
				continue
			}
			if err := tlsSrv.Reload(); err != nil {
				logger.Error("TLS reload failed; still serving the previous certificate and client CA", "err", err)
				continue
			}
			subject, notAfter, cas := tlsSrv.Summary()
			logger.Info("TLS reloaded", "cert", subject, "not_after", notAfter, "client_cas", cas)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// stringList is a repeatable flag whose values may also be
// comma-separated (as in an environment variable).
type stringList []string

// String implements flag.Value.
func (l *stringList) String() string { return strings.Join(*l, ",") }

// Set implements flag.Value.
func (l *stringList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}
