package server_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/daned/daned/cache"
	"github.com/daned/daned/dane"
	"github.com/daned/daned/engine"
	"github.com/daned/daned/internal/danedtest"
	"github.com/daned/daned/internal/rawcodec"
	"github.com/daned/daned/internal/testworld"
	danev1 "github.com/daned/daned/proto/dane/v1"
	"github.com/daned/daned/resolver"
	"github.com/daned/daned/server"
)

// benchPKI holds the certificates a realistic verdict carries: MX hosts
// with CA-issued leaves sent with their intermediate (a 2-certificate
// chain), as the probe cache would hand them out (shared pointers).
type benchPKI struct {
	inter *x509.Certificate
	leafs map[string]*x509.Certificate // host name → leaf
}

var (
	pkiMu sync.Mutex
	pki   *testworld.PKI
	leafs = map[string]*x509.Certificate{}
)

// hostPKI returns the shared certificates, making a leaf for each host
// name of hosts that has none yet.
func hostPKI(b testing.TB, hosts []string) *benchPKI {
	b.Helper()
	pkiMu.Lock()
	defer pkiMu.Unlock()
	if pki == nil {
		p, err := testworld.NewPKI(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
		if err != nil {
			b.Fatal(err)
		}
		pki = p
	}
	for _, h := range hosts {
		if leafs[h] == nil {
			leaf, err := pki.Leaf([]string{h}, testworld.Valid)
			if err != nil {
				b.Fatal(err)
			}
			leafs[h] = leaf.Cert
		}
	}
	return &benchPKI{inter: pki.Intermediate.Cert, leafs: leafs}
}

// realisticResult is what the engine returns for a DANE-secured domain
// with two MX hosts, each with an IPv4 and an IPv6 address, one DANE-TA
// TLSA record per host, and a leaf+intermediate chain per address: the
// verdict of a typical hosted-mail customer. Every call builds fresh
// structures, as the engine does; the certificates are shared, as the
// probe cache shares them.
func realisticResult(p *benchPKI, domain string, hosts [2]string, base int, now time.Time) *engine.Result {
	res := &engine.Result{
		Domain:    domain,
		Verdict:   dane.Verdict{Policy: dane.PolicyDANERequired, Action: dane.ActionDeliver, Reason: dane.ReasonOK},
		MXState:   engine.DNSSecure,
		CheckedAt: now,
		TTL:       time.Hour,
	}
	for i, name := range hosts {
		leaf := p.leafs[name]
		sum := leaf.RawSubjectPublicKeyInfo[:32]
		h := engine.Host{
			Name:         name,
			Preference:   uint16(10 * (i + 1)),
			MXState:      engine.DNSSecure,
			AddressState: engine.DNSSecure,
			TLSABase:     name,
			TLSAState:    engine.DNSSecure,
			TLSA:         []dane.AssessedRecord{{Record: dane.Record{Usage: 2, Selector: 1, MatchingType: 1, Data: append([]byte(nil), sum...)}, Usable: true}},
			Policy:       dane.PolicyDANERequired,
			Reason:       dane.ReasonOK,
			Usable:       true,
		}
		v4 := netip.AddrFrom4([4]byte{192, 0, 2, byte(base + i)})
		v6 := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(base + i)})
		h.Detail = fmt.Sprintf("%s [%s] authenticated by TLSA record 2 1 1 %x", name, v4, sum)
		for _, ip := range []netip.Addr{v4, v6} {
			h.Addresses = append(h.Addresses, engine.Address{
				IP:              ip,
				Reason:          dane.ReasonOK,
				STARTTLSOffered: true,
				TLSVersion:      0x0304,
				CipherSuite:     0x1301,
				Chain:           []*x509.Certificate{leaf, p.inter},
				Matched:         0,
				Authenticated:   true,
				Elapsed:         42 * time.Millisecond,
				Detail:          fmt.Sprintf("authenticated by TLSA record 2 1 1 %x (DANE-TA: the chain leads to the trust anchor and the certificate names %s)", sum, name),
			})
		}
		res.Hosts = append(res.Hosts, h)
	}
	return res
}

// hostPairs are the MX host pairs a fleet's domains point at: many
// domains share a provider's MX hosts.
func hostPairs(n int) ([][2]string, []string) {
	pairs := make([][2]string, n)
	var all []string
	for i := range pairs {
		pairs[i] = [2]string{fmt.Sprintf("mx1.provider%d.example", i), fmt.Sprintf("mx2.provider%d.example", i)}
		all = append(all, pairs[i][0], pairs[i][1])
	}
	return pairs, all
}

// realisticEngine answers every domain with realisticResult, spreading
// the domains over its host pairs.
type realisticEngine struct {
	p     *benchPKI
	pairs [][2]string
	now   time.Time
}

func (e *realisticEngine) Validate(_ context.Context, domain string, _ engine.Options) (*engine.Result, error) {
	i := 0
	for _, c := range domain {
		i = i*31 + int(c)
	}
	if i < 0 {
		i = -i
	}
	k := i % len(e.pairs)
	return realisticResult(e.p, domain, e.pairs[k], 2*k%250, e.now), nil
}

// hostPKIT is hostPKI for the hosts of one pair, for tests.
func hostPKIT(t *testing.T) *benchPKI {
	return hostPKI(t, []string{"mx1.provider0.example", "mx2.provider0.example"})
}

var engineOptions engine.Options

func newRealisticEngine(b *testing.B, nPairs int) *realisticEngine {
	b.Helper()
	pairs, all := hostPairs(nPairs)
	return &realisticEngine{p: hostPKI(b, all), pairs: pairs, now: time.Now()}
}

func benchServer(b *testing.B, level slog.Level, size int) *server.Server {
	b.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: level}))
	s, err := server.New(server.Config{Verdicts: danedtest.Verdicts(b, newRealisticEngine(b, 100), size), Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// wired returns ctx as a gRPC transport's would be, so that an
// in-process Server.Validate takes the path of a real call (the verdict's
// wire rendering).
func wired(ctx context.Context) context.Context {
	return grpc.NewContextWithServerTransportStream(ctx, benchStream{})
}

// benchStream is a grpc.ServerTransportStream that sends nothing.
type benchStream struct{}

func (benchStream) Method() string               { return danev1.DaneService_Validate_FullMethodName }
func (benchStream) SetHeader(metadata.MD) error  { return nil }
func (benchStream) SendHeader(metadata.MD) error { return nil }
func (benchStream) SetTrailer(metadata.MD) error { return nil }

// BenchmarkCachedValidate is a cache hit through Server.Validate,
// in-process but on a real call's path: the LRU lookup, the per-call
// fields (from_cache, the remaining TTL) beside the verdict's wire
// encoding, and the verdict log record (formatted by a text handler into
// io.Discard at info; filtered out at warn).
func BenchmarkCachedValidate(b *testing.B) {
	for _, lv := range []slog.Level{slog.LevelInfo, slog.LevelWarn} {
		b.Run("log="+lv.String(), func(b *testing.B) {
			s := benchServer(b, lv, 1000)
			ctx := wired(context.Background())
			req := &danev1.ValidateRequest{Domain: "customer.example"}
			if _, err := s.Validate(ctx, req); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				r, err := s.Validate(ctx, req)
				if err != nil || !r.GetFromCache() {
					b.Fatalf("%v %v", r, err)
				}
			}
		})
	}
}

// grpcPair is a daned server with a realistic cached verdict, and the
// health service beside it, on a loopback listener.
func grpcPair(b *testing.B, level slog.Level) []*grpc.ClientConn {
	b.Helper()
	s := benchServer(b, level, 1000)
	first := danedtest.Serve(b, s)
	// Four connections, as a fleet's client pool would hold.
	conns := []*grpc.ClientConn{first}
	for range 3 {
		c, err := grpc.NewClient(first.Target(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close() })
		conns = append(conns, c)
	}
	if _, err := danev1.NewDaneServiceClient(conns[0]).Validate(context.Background(), &danev1.ValidateRequest{Domain: "customer.example"}); err != nil {
		b.Fatal(err)
	}
	return conns
}

// BenchmarkGRPC compares, over real gRPC on loopback with 50 callers per
// core-ish (RunParallel with SetParallelism), a cached Validate with the
// empty-handler ceiling of grpc.health.v1.Health/Check on the same
// server. Client and server share the machine's cores, as in the ghz
// runs of docs/BENCHMARKS.md.
func BenchmarkGRPC(b *testing.B) {
	type call func(ctx context.Context, c *grpc.ClientConn) error
	// The client keeps each response's bytes without decoding them (as
	// internal/cmd/loadclient -raw does), so that what is measured is
	// the server, not the client's decoding on the same cores.
	raw := grpc.ForceCodecV2(rawcodec.Codec{})
	validate := func(ctx context.Context, c *grpc.ClientConn) error {
		var out rawcodec.Bytes
		return c.Invoke(ctx, danev1.DaneService_Validate_FullMethodName, &danev1.ValidateRequest{Domain: "customer.example"}, &out, raw)
	}
	check := func(ctx context.Context, c *grpc.ClientConn) error {
		var out rawcodec.Bytes
		return c.Invoke(ctx, healthpb.Health_Check_FullMethodName, &healthpb.HealthCheckRequest{}, &out, raw)
	}
	for _, bc := range []struct {
		name string
		fn   call
		lv   slog.Level
	}{
		{"health-check", check, slog.LevelInfo},
		{"validate-cached/log=INFO", validate, slog.LevelInfo},
		{"validate-cached/log=WARN", validate, slog.LevelWarn},
	} {
		b.Run(bc.name, func(b *testing.B) {
			conns := grpcPair(b, bc.lv)
			ctx := context.Background()
			size := 0
			if bc.name != "health-check" {
				var out danev1.ValidateResponse
				if err := conns[0].Invoke(ctx, danev1.DaneService_Validate_FullMethodName, &danev1.ValidateRequest{Domain: "customer.example"}, &out); err != nil {
					b.Fatal(err)
				}
				size = proto.Size(&out)
			}
			var next sync.Mutex
			i := 0
			b.SetParallelism(25) // 50 callers on 2 cores
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				next.Lock()
				c := conns[i%len(conns)]
				i++
				next.Unlock()
				for pb.Next() {
					if err := bc.fn(ctx, c); err != nil {
						b.Error(err)
						return
					}
				}
			})
			if size > 0 {
				b.ReportMetric(float64(size), "resp-bytes")
			}
		})
	}
}

// BenchmarkCacheFill measures the heap held per cached domain once
// 100,000 distinct domains have been validated through the server's real
// code path (engine result → decision layer's LRU, its hosts' parts
// shared → the gRPC door's wire rendering). The model: the
// domains spread over 1,000 MX host pairs (a fleet's destinations mostly
// sit at a few providers), so the DNS answers and probe results of hosts
// are shared and cost nothing per domain; what each domain adds is its
// verdict and its own MX answer in the DNS cache (measured here too, as
// "dns-B/domain", through cache.Resolver's real path).
func BenchmarkCacheFill(b *testing.B) {
	const n = 100_000
	eng := newRealisticEngine(b, 1000)
	domains := make([]string, n)
	for i := range domains {
		domains[i] = fmt.Sprintf("customer%06d.example", i)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx := wired(context.Background())
	var perVerdict, perDNS float64
	for b.Loop() {
		before := heapAfterGC()
		v, err := cache.NewValidator(cache.ValidatorConfig{Upstream: eng, Size: n})
		if err != nil {
			b.Fatal(err)
		}
		s, err := server.New(server.Config{Verdicts: v, Logger: log})
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range domains {
			if _, err := s.Validate(ctx, &danev1.ValidateRequest{Domain: d}); err != nil {
				b.Fatal(err)
			}
		}
		mid := heapAfterGC()
		dc, err := cache.NewResolver(cache.ResolverConfig{Upstream: mxUpstream{eng}, Size: n})
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range domains {
			if _, err := dc.Lookup(ctx, d+".", dns.TypeMX); err != nil {
				b.Fatal(err)
			}
		}
		after := heapAfterGC()
		if st := v.Stats(); st.Size != n {
			b.Fatalf("verdict cache holds %d, want %d", st.Size, n)
		}
		perVerdict = float64(mid-before) / n
		perDNS = float64(after-mid) / n
		runtime.KeepAlive(s)
		runtime.KeepAlive(v)
		runtime.KeepAlive(dc)
	}
	b.ReportMetric(perVerdict, "B/domain")
	b.ReportMetric(perDNS, "dns-B/domain")
}

// mxUpstream answers an MX query with the two MX records the realistic
// engine gives the domain, as a validating resolver would (secure).
type mxUpstream struct{ e *realisticEngine }

func (u mxUpstream) Lookup(_ context.Context, name string, qtype uint16) (*resolver.Answer, error) {
	r, _ := u.e.Validate(context.Background(), name, engine.Options{})
	a := &resolver.Answer{Name: name, Type: qtype, Security: resolver.Secure, TTL: 3600}
	for _, h := range r.Hosts {
		a.Records = append(a.Records, &dns.MX{
			Hdr:        dns.RR_Header{Name: name, Rrtype: dns.TypeMX, Class: dns.ClassINET, Ttl: 3600},
			Preference: h.Preference,
			Mx:         h.Name + ".",
		})
	}
	return a, nil
}

func heapAfterGC() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// paddedHealth is a health service whose answer carries pad bytes more
// (an unknown field, which a client skips): what a response of a
// verdict's size costs gRPC with no daned work at all.
type paddedHealth struct {
	healthpb.UnimplementedHealthServer
	pad []byte
}

func (p paddedHealth) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	r := &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}
	r.ProtoReflect().SetUnknown(p.pad)
	return r, nil
}

// BenchmarkGRPCResponseSize is BenchmarkGRPC's ceiling with a response
// as big as a cached verdict's: the empty health handler answering
// `size` bytes. Against BenchmarkGRPC/validate-cached it separates what
// daned's handler costs from what moving the bytes costs gRPC on the
// same cores.
func BenchmarkGRPCResponseSize(b *testing.B) {
	for _, size := range []int{0, 128, 1379, 3691} {
		b.Run(fmt.Sprintf("bytes=%d", size), func(b *testing.B) {
			var pad []byte
			if size > 0 {
				// Field 1000, length-delimited, filling size bytes in all.
				pad = protowire.AppendTag(nil, 1000, protowire.BytesType)
				n := size - len(pad) - protowire.SizeVarint(uint64(size))
				pad = protowire.AppendBytes(pad, make([]byte, n))
			}
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			g := grpc.NewServer()
			healthpb.RegisterHealthServer(g, paddedHealth{pad: pad})
			go func() { _ = g.Serve(lis) }()
			b.Cleanup(g.Stop)
			var conns []*grpc.ClientConn
			for range 4 {
				c, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = c.Close() })
				conns = append(conns, c)
			}
			raw := grpc.ForceCodecV2(rawcodec.Codec{})
			ctx := context.Background()
			var next sync.Mutex
			i := 0
			b.SetParallelism(25)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				next.Lock()
				c := conns[i%len(conns)]
				i++
				next.Unlock()
				for pb.Next() {
					var out rawcodec.Bytes
					if err := c.Invoke(ctx, healthpb.Health_Check_FullMethodName, &healthpb.HealthCheckRequest{}, &out, raw); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
