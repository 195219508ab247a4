package daneclient

import (
	"context"

	"google.golang.org/grpc"
	// Registers the ring_hash_experimental balancer that
	// RingHashServiceConfig names.
	_ "google.golang.org/grpc/balancer/ringhash"
	"google.golang.org/grpc/metadata"

	"github.com/daned/daned/dnsname"
)

// DomainHeader is the request header (gRPC metadata key) that carries the
// normalised destination domain of a call: lower-case A-labels without a
// trailing dot, as package dnsname gives it. Every call about one domain
// (Validate, Policy, VerifyPeer, Invalidate and the calls TLSConfig makes)
// sends it, so that a balancer can send a domain's calls to one replica.
// daned itself does not read it.
const DomainHeader = "x-daned-domain"

// RingHashServiceConfig is the gRPC service config of WithDomainRouting:
// the ring hash balancer keyed on DomainHeader (gRFC A76). Each domain is
// hashed onto a ring of the target's addresses; its calls go to the
// replica that owns its place on the ring, or, while that one is down,
// to the next one on the ring. A call without the header goes to a
// random replica.
//
// Other gRPC clients can use the same JSON where their library reads
// requestHashHeader (see docs/DEPLOY.md). In grpc-go, whose version here
// is 1.85, the field is on by default; GRPC_EXPERIMENTAL_RING_HASH_SET_REQUEST_HASH_KEY=false
// turns it off, and then every call goes to a random replica.
const RingHashServiceConfig = `{"loadBalancingConfig":[{"ring_hash_experimental":{"requestHashHeader":"` + DomainHeader + `"}}]}`

// WithDomainRouting sends every call about one domain to the same daned
// replica, chosen by consistent hashing of the domain (RingHashServiceConfig),
// so that each replica's local cache holds its share of the domains and
// concurrent cold requests for a domain rarely meet on two replicas.
// Replicas that share a store (docs/DEPLOY.md) give the same answers
// anyway: routing saves lookups and probes, it is not needed for
// correctness.
//
// Give Dial a target that resolves to every replica: "dns:///daned.example.net:8053"
// for a name with one A or AAAA record per replica, or a resolver of your
// own through WithDialOptions(grpc.WithResolvers(…)). A service config
// that the target's resolver returns (a DNS TXT record
// _grpc_config.NAME) takes precedence over this default.
func WithDomainRouting() Option {
	return func(o *options) {
		o.dialOpts = append(o.dialOpts, grpc.WithDefaultServiceConfig(RingHashServiceConfig))
	}
}

// withDomain returns ctx with DomainHeader set to the normalised domain.
// A domain that does not normalise is left without the header: daned
// answers InvalidArgument for it whichever replica gets it.
func withDomain(ctx context.Context, domain string) context.Context {
	d, err := dnsname.Normalize(domain)
	if err != nil {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, DomainHeader, d)
}
