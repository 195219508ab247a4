package config

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/daned/daned/engine"
	"github.com/daned/daned/mtasts/fetch"
	"github.com/daned/daned/mtasts/manager"
	"github.com/daned/daned/probe"
	"github.com/daned/daned/resolver"
	"github.com/daned/daned/state"
	"github.com/daned/daned/telemetry"
)

// txtLookup answers the MTA-STS manager's TXT lookups (_mta-sts.<domain>,
// RFC 8461 §3.1) through the engine's own resolver, so that its caches
// and DNSSEC states apply: an insecure answer is fine for MTA-STS, a
// bogus one a failure.
type txtLookup struct{ l engine.Lookuper }

func (t txtLookup) LookupTXT(ctx context.Context, name string) (manager.TXTAnswer, error) {
	a, err := t.l.Lookup(ctx, name, dns.TypeTXT)
	if err != nil {
		return manager.TXTAnswer{}, err
	}
	out := manager.TXTAnswer{Security: securityOf(a.Security)}
	for _, rr := range a.Records {
		if txt, ok := rr.(*dns.TXT); ok {
			out.Records = append(out.Records, strings.Join(txt.Txt, ""))
		}
	}
	return out, nil
}

func securityOf(s resolver.Security) manager.Security {
	switch s {
	case resolver.Secure:
		return manager.Secure
	case resolver.Insecure:
		return manager.Insecure
	case resolver.Bogus:
		return manager.Bogus
	case resolver.Indeterminate:
		return manager.Indeterminate
	}
	return manager.SecurityUnknown
}

// addrLookup resolves the policy host (mta-sts.<domain>) for the fetcher
// through the engine's resolver; a DNSSEC-bogus answer is an error.
type addrLookup struct{ l engine.Lookuper }

func (a addrLookup) LookupAddrs(ctx context.Context, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, t := range []uint16{dns.TypeAAAA, dns.TypeA} {
		ans, err := a.l.Lookup(ctx, host, t)
		if err != nil {
			return nil, err
		}
		if ans.Security == resolver.Bogus || ans.Security == resolver.Indeterminate {
			return nil, fmt.Errorf("%s %s: DNSSEC validation failed (%s)", host, dns.TypeToString[t], ans.Security)
		}
		for _, rr := range ans.Records {
			switch r := rr.(type) {
			case *dns.A:
				if ip, ok := netip.AddrFromSlice(r.A.To4()); ok {
					out = append(out, ip)
				}
			case *dns.AAAA:
				if ip, ok := netip.AddrFromSlice(r.AAAA); ok {
					out = append(out, ip)
				}
			}
		}
	}
	return out, nil
}

// buildSTS makes the MTA-STS policy source over the engine's resolver
// (lookup): the fetcher, under the probes' target policy, and the
// manager, with the state store under StateDir when store is set.
func (c *EngineFlags) buildSTS(b *Built, lookup engine.Lookuper, store bool) error {
	if c.MTASTSFetchTimeout < 0 || c.MTASTSPort < 0 || c.MTASTSPort > 65535 {
		return fmt.Errorf("--mta-sts-fetch-timeout must not be negative, --mta-sts-port must be a port")
	}
	traced := engine.TraceLookups(lookup, nil)
	f, err := fetch.New(fetch.Config{
		Lookup:  addrLookup{traced},
		Targets: probe.TargetPolicy{Allow: c.ProbeAllow},
		Roots:   c.WebPKIRoots,
		Timeout: c.MTASTSFetchTimeout,
		Port:    uint16(c.MTASTSPort),
	})
	if err != nil {
		return err
	}
	if store && c.StateDir != "" {
		if b.Store, err = state.Open(c.StateDir, state.Options{}); err != nil {
			return fmt.Errorf("--state-dir %s: %w", c.StateDir, err)
		}
	}
	mc := manager.Config{
		TXT:     txtLookup{traced},
		Fetcher: telemetry.Fetcher{Next: f, Metrics: c.Metrics},
		Store:   b.Store,
		Logger:  c.logger(),
	}
	if c.Now != nil {
		mc.Clock = clockFunc(c.Now)
	}
	if store { // a service: the replicas share the policies they fetch
		if mc.Shared, err = sharedPolicies(c.Shared, c.Now); err != nil {
			return err
		}
	}
	b.STS, err = manager.New(mc)
	return err
}

// clockFunc adapts a function to manager.Clock.
type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }

// logger returns c.Logger or the default.
func (c *EngineFlags) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}
