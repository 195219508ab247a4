package resolver_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/daned/daned/resolver"
	"github.com/miekg/dns"
)

type exchangerFunc func(ctx context.Context, m *dns.Msg, network, server string) (*dns.Msg, error)

func (f exchangerFunc) Exchange(ctx context.Context, m *dns.Msg, network, server string) (*dns.Msg, error) {
	return f(ctx, m, network, server)
}

func TestNew(t *testing.T) {
	tests := []struct {
		name       string
		cfg        resolver.Config
		wantServer string
		wantErr    string
	}{
		{name: "default", cfg: resolver.Config{}, wantServer: "127.0.0.1:53"},
		{name: "bare IPv4 gets port 53", cfg: resolver.Config{Server: "127.0.0.1"}, wantServer: "127.0.0.1:53"},
		{name: "IPv4 with port", cfg: resolver.Config{Server: "127.0.0.53:5353"}, wantServer: "127.0.0.53:5353"},
		{name: "bare ::1", cfg: resolver.Config{Server: "::1"}, wantServer: "[::1]:53"},
		{name: "bracketed ::1", cfg: resolver.Config{Server: "[::1]"}, wantServer: "[::1]:53"},
		{name: "[::1]:53", cfg: resolver.Config{Server: "[::1]:53"}, wantServer: "[::1]:53"},
		{name: "localhost", cfg: resolver.Config{Server: "localhost:8053"}, wantServer: "127.0.0.1:8053"},
		{name: "IPv4-mapped loopback", cfg: resolver.Config{Server: "[::ffff:127.0.0.1]:53"}, wantServer: "[::ffff:127.0.0.1]:53"},
		{
			name:    "non-loopback refused",
			cfg:     resolver.Config{Server: "192.0.2.1"},
			wantErr: "resolver 192.0.2.1:53 is not on loopback; DNSSEC answers (the AD bit) can only be trusted over a trusted channel (RFC 7672 §2.1.1): run a validating resolver on this host or pass --resolver-trusted",
		},
		{name: "non-loopback IPv6 refused", cfg: resolver.Config{Server: "[2001:db8::53]:53"}, wantErr: "is not on loopback"},
		{name: "non-loopback trusted", cfg: resolver.Config{Server: "192.0.2.1", Trusted: true}, wantServer: "192.0.2.1:53"},
		{name: "host name", cfg: resolver.Config{Server: "dns.example.com:53"}, wantErr: "must be an IP address"},
		{name: "port 0", cfg: resolver.Config{Server: "127.0.0.1:0"}, wantErr: "invalid port"},
		{name: "port too big", cfg: resolver.Config{Server: "127.0.0.1:65536"}, wantErr: "invalid port"},
		{name: "negative timeout", cfg: resolver.Config{Timeout: -1}, wantErr: "negative"},
		{name: "negative attempts", cfg: resolver.Config{Attempts: -1}, wantErr: "negative"},
		{name: "negative max chain", cfg: resolver.Config{MaxChain: -1}, wantErr: "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := resolver.New(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Server() != tt.wantServer {
				t.Errorf("Server() = %q, want %q", r.Server(), tt.wantServer)
			}
		})
	}
}

func TestExchangerInjection(t *testing.T) {
	var calls []string
	x := exchangerFunc(func(ctx context.Context, m *dns.Msg, network, server string) (*dns.Msg, error) {
		calls = append(calls, network+" "+server)
		if _, ok := ctx.Deadline(); !ok {
			t.Error("exchange without a deadline")
		}
		opt := m.IsEdns0()
		if opt == nil || !opt.Do() || opt.UDPSize() != 1232 {
			t.Errorf("EDNS0 = %v, want DO=1 size 1232", opt)
		}
		if !m.RecursionDesired || m.CheckingDisabled || len(m.Question) != 1 || m.Question[0].Name != "mx.example.com." {
			t.Errorf("query = %v, want RD=1 CD=0 for mx.example.com.", m)
		}
		r := new(dns.Msg)
		r.SetReply(m)
		r.AuthenticatedData = true
		r.Answer = []dns.RR{mustRR(t, "mx.example.com. 60 IN MX 10 mail.example.com.")}
		return r, nil
	})
	r, err := resolver.New(resolver.Config{Server: "[::1]:5300", Exchanger: x})
	if err != nil {
		t.Fatal(err)
	}
	a, err := r.Lookup(t.Context(), "MX.example.com", dns.TypeMX)
	if err != nil {
		t.Fatal(err)
	}
	if a.Security != resolver.Secure || len(a.Records) != 1 || a.TTL != 60 {
		t.Errorf("answer = %+v", a)
	}
	if len(calls) != 1 || calls[0] != "udp [::1]:5300" {
		t.Errorf("calls = %v", calls)
	}
}

func TestExchangerErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error
	}{
		{name: "wrapped ErrMalformed", err: fmt.Errorf("bad: %w", resolver.ErrMalformed), want: resolver.ErrMalformed},
		{name: "miekg ID mismatch", err: dns.ErrId, want: resolver.ErrMalformed},
		{name: "deadline", err: context.DeadlineExceeded, want: resolver.ErrTimeout},
		{name: "other", err: errors.New("no route to host"), want: resolver.ErrNetwork},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := resolver.New(resolver.Config{Exchanger: exchangerFunc(func(context.Context, *dns.Msg, string, string) (*dns.Msg, error) {
				return nil, tt.err
			})})
			if err != nil {
				t.Fatal(err)
			}
			_, err = r.Lookup(t.Context(), "example.com", dns.TypeA)
			if !errors.Is(err, tt.want) || !errors.Is(err, tt.err) {
				t.Errorf("Lookup() error = %v, want %v wrapping %v", err, tt.want, tt.err)
			}
		})
	}
}

func TestConcurrentLookups(t *testing.T) {
	ts := startServer(t, func(w dns.ResponseWriter, req *dns.Msg) {
		m := reply(req, dns.RcodeSuccess, true)
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: []byte{192, 0, 2, 1}}}
		w.WriteMsg(m)
	})
	r, err := resolver.New(resolver.Config{Server: ts.addr})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			name := fmt.Sprintf("h%d.example.com.", i)
			a, err := r.Lookup(t.Context(), name, dns.TypeA)
			if err != nil {
				t.Error(err)
				return
			}
			if a.Name != name || len(a.Records) != 1 || a.Records[0].Header().Name != name {
				t.Errorf("answer for %s = %+v", name, a)
			}
		})
	}
	wg.Wait()
}

func TestStrings(t *testing.T) {
	tests := []struct {
		name string
		got  fmt.Stringer
		want string
	}{
		{name: "secure", got: resolver.Secure, want: "secure"},
		{name: "insecure", got: resolver.Insecure, want: "insecure"},
		{name: "bogus", got: resolver.Bogus, want: "bogus"},
		{name: "indeterminate", got: resolver.Indeterminate, want: "indeterminate"},
		{name: "unknown", got: resolver.SecurityUnknown, want: "unknown"},
		{name: "out of range", got: resolver.Security(42), want: "unknown"},
		{name: "EDE with text", got: resolver.EDE{Code: 7, Text: "expired"}, want: "EDE 7 (Signature Expired): expired"},
		{name: "EDE without text", got: resolver.EDE{Code: 29}, want: "EDE 29 (Synthesized)"},
		{name: "EDE unknown code", got: resolver.EDE{Code: 4000, Text: "x"}, want: "EDE 4000: x"},
		{name: "EDE control characters", got: resolver.EDE{Code: 0, Text: "a\nb\x1b"}, want: "EDE 0 (Other Error): a?b?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s := tt.got.String(); s != tt.want {
				t.Errorf("String() = %q, want %q", s, tt.want)
			}
		})
	}
}

func TestQueryError(t *testing.T) {
	cause := context.Canceled
	e := &resolver.QueryError{Name: "example.com.", Type: dns.TypeA, Kind: resolver.ErrTimeout, Rcode: -1, Err: cause}
	if !errors.Is(e, resolver.ErrTimeout) || !errors.Is(e, context.Canceled) || errors.Is(e, resolver.ErrBogus) {
		t.Errorf("errors.Is is wrong for %v", e)
	}
	if got, want := e.Error(), "A example.com.: timed out: context canceled"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	e = &resolver.QueryError{Name: "x.", Type: 65280, Kind: resolver.ErrServFail, EDE: []resolver.EDE{{Code: 22}, {Code: 23, Text: "t"}}}
	if got, want := e.Error(), "TYPE65280 x.: SERVFAIL (EDE 22 (No Reachable Authority); EDE 23 (Network Error): t)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
