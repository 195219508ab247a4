package testworld

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Options configures Start. The zero value builds the standard catalogue
// around time.Now().
type Options struct {
	// Scenarios replaces the standard catalogue when non-nil (an empty,
	// non-nil slice builds only the root and "test." plus Extra).
	Scenarios []ScenarioSpec
	// Extra scenarios are appended (e.g. SlowScenarios).
	Extra []ScenarioSpec
	// Now is the reference time for signatures and certificates; zero
	// means time.Now().
	Now time.Time
	// Logf receives diagnostic lines; nil discards them.
	Logf func(format string, args ...any)
}

// ZoneInfo is one served zone.
type ZoneInfo struct {
	Name string // fully qualified, e.g. "ee-spki.test."
	Addr string // "127.X.Y.n:port" of its authoritative server
}

// Host is one MX host of a scenario and its SMTP server(s).
type Host struct {
	// Name is the host name without the trailing dot ("mx.ee-spki.test").
	Name string
	// Addrs are the addresses and SMTP port the host's A/AAAA records
	// point at.
	Addrs []netip.AddrPort
	Mode  SMTPMode
	// Chain is what the server sends, leaf first; Key is the leaf's key.
	Chain []*x509.Certificate
	Key   crypto.Signer
	// TLSA holds the published TLSA records in presentation form
	// ("3 1 1 <hex>").
	TLSA []string
}

// Scenario is one catalogue entry as built.
type Scenario struct {
	// Domain is the destination domain without trailing dot ("ee-spki.test").
	Domain      string
	Description string
	RFC         string
	Expect      string
	Hosts       []Host
}

// World is a running loopback DNSSEC hierarchy with its SMTP servers.
type World struct {
	now       time.Time
	pki       *PKI
	block     netip.Prefix
	dnsPort   int
	smtpPort  int
	zones     []*zone
	root      *zone
	scenarios []Scenario
	hosts     map[string]*Host
	servers   map[string][]*smtpServer // host name → servers
	dnsSrv    []*dns.Server
	smtpSrv   []*smtpServer
	logf      func(string, ...any)
	closeOnce sync.Once
	// httpsPort and policyHosts (by domain) are the MTA-STS policy hosts.
	httpsPort   int
	policyHosts map[string]*policyHost
}

// Start builds the world and starts every server. It retries with a new
// address block and ports when a bind fails.
func Start(ctx context.Context, opts Options) (*World, error) {
	specs := opts.Scenarios
	if specs == nil {
		specs = Catalogue()
	}
	specs = append(append([]ScenarioSpec(nil), specs...), opts.Extra...)
	if err := checkSpecs(specs); err != nil {
		return nil, err
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	var lastErr error
	for attempt := 0; attempt < 6; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		w, err := build(specs, now, logf)
		if err == nil {
			return w, nil
		}
		lastErr = err
		if !errors.Is(err, errBind) {
			return nil, err
		}
		logf("testworld: attempt %d: %v; retrying with a new block", attempt+1, err)
	}
	return nil, fmt.Errorf("testworld: could not bind the world: %w", lastErr)
}

var errBind = errors.New("bind failed")

func checkSpecs(specs []ScenarioSpec) error {
	seen := map[string]bool{}
	v6 := 0
	for _, s := range specs {
		if s.Name == "" || strings.Contains(s.Name, ".") {
			return fmt.Errorf("testworld: bad scenario name %q (one label)", s.Name)
		}
		if seen[s.Name] {
			return fmt.Errorf("testworld: duplicate scenario %q", s.Name)
		}
		seen[s.Name] = true
		for _, h := range s.Hosts {
			if h.IPv6 {
				v6++
			}
		}
	}
	if v6 > 1 {
		return fmt.Errorf("testworld: %d hosts want ::1, at most one can have it", v6)
	}
	return nil
}

type plannedHost struct {
	spec  *ScenarioSpec
	host  *HostSpec
	name  string // fqdn, canonical
	addr4 netip.Addr
	dead  netip.Addr // DeadAddr: an address nobody listens on
	ln4   net.Listener
	ln6   net.Listener
	extra []netip.Addr   // ExtraAddrs
	lnx   []net.Listener // their listeners
}

func randBlock() netip.Prefix {
	x, _ := rand.Int(rand.Reader, big.NewInt(254))
	y, _ := rand.Int(rand.Reader, big.NewInt(256))
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{127, byte(x.Int64() + 1), byte(y.Int64()), 0}), 24)
}

func nthAddr(block netip.Prefix, n int) netip.Addr {
	b := block.Addr().As4()
	b[3] = byte(n)
	return netip.AddrFrom4(b)
}

// build binds every socket in a fresh block, then makes zones,
// certificates and servers.
func build(specs []ScenarioSpec, now time.Time, logf func(string, ...any)) (_ *World, err error) {
	w := &World{now: now, logf: logf, hosts: map[string]*Host{}, servers: map[string][]*smtpServer{}, policyHosts: map[string]*policyHost{}}
	w.block = randBlock()

	// Zones: root, test., then one per scenario with a zone.
	origins := []string{".", "test."}
	specOf := map[string]*ScenarioSpec{}
	for i := range specs {
		if !specs[i].NoZone {
			o := specs[i].Name + ".test."
			origins = append(origins, o)
			specOf[o] = &specs[i]
		}
	}
	var hosts []*plannedHost
	for i := range specs {
		for j := range specs[i].Hosts {
			hs := &specs[i].Hosts[j]
			name := hs.Name + "." + specs[i].Name + ".test."
			if hs.Name == "@" {
				name = specs[i].Name + ".test."
			}
			hosts = append(hosts, &plannedHost{spec: &specs[i], host: hs, name: dns.CanonicalName(name)})
		}
	}
	var policy []*plannedPolicyHost
	for i := range specs {
		if specs[i].STS != nil && !specs[i].NoZone {
			policy = append(policy, &plannedPolicyHost{spec: &specs[i]})
		}
	}
	nAddrs := len(origins) + len(hosts) + len(policy)
	for _, h := range hosts {
		if h.host.DeadAddr {
			nAddrs++
		}
		nAddrs += h.host.ExtraAddrs
	}
	if nAddrs > 254 {
		return nil, fmt.Errorf("testworld: %d zones and %d hosts do not fit in a /24", len(origins), len(hosts))
	}

	type dnsSock struct {
		pc net.PacketConn
		ln net.Listener
	}
	var socks []dnsSock
	defer func() {
		if err != nil {
			for _, s := range socks {
				s.pc.Close()
				s.ln.Close()
			}
			for _, h := range hosts {
				if h.ln4 != nil {
					h.ln4.Close()
				}
				if h.ln6 != nil {
					h.ln6.Close()
				}
				for _, ln := range h.lnx {
					ln.Close()
				}
			}
			for _, p := range policy {
				if p.ln != nil {
					p.ln.Close()
				}
			}
		}
	}()

	// DNS: the first UDP socket picks the port, every zone uses it.
	for i := range origins {
		a := nthAddr(w.block, i+1)
		pc, err := net.ListenPacket("udp4", netip.AddrPortFrom(a, uint16(w.dnsPort)).String())
		if err != nil {
			return nil, fmt.Errorf("%w: dns udp %s: %v", errBind, a, err)
		}
		if w.dnsPort == 0 {
			w.dnsPort = pc.LocalAddr().(*net.UDPAddr).Port
		}
		ln, err := net.Listen("tcp4", netip.AddrPortFrom(a, uint16(w.dnsPort)).String())
		if err != nil {
			pc.Close()
			return nil, fmt.Errorf("%w: dns tcp %s: %v", errBind, a, err)
		}
		socks = append(socks, dnsSock{pc, ln})
	}
	// SMTP: the first listener picks the port. NoListener addresses are
	// bound once and closed, to prove nobody else answers there.
	next := len(origins) + 1
	for _, h := range hosts {
		h.addr4 = nthAddr(w.block, next)
		next++
		ap := netip.AddrPortFrom(h.addr4, uint16(w.smtpPort)).String()
		ln, err := net.Listen("tcp4", ap)
		if err != nil {
			return nil, fmt.Errorf("%w: smtp %s: %v", errBind, ap, err)
		}
		if w.smtpPort == 0 {
			w.smtpPort = ln.Addr().(*net.TCPAddr).Port
		}
		if h.host.Mode == NoListener {
			ln.Close()
		} else {
			h.ln4 = ln
		}
		if h.host.DeadAddr {
			h.dead = nthAddr(w.block, next)
			next++
			apd := netip.AddrPortFrom(h.dead, uint16(w.smtpPort)).String()
			lnd, err := net.Listen("tcp4", apd)
			if err != nil {
				return nil, fmt.Errorf("%w: smtp %s: %v", errBind, apd, err)
			}
			lnd.Close()
		}
		for range h.host.ExtraAddrs {
			a := nthAddr(w.block, next)
			next++
			apx := netip.AddrPortFrom(a, uint16(w.smtpPort)).String()
			lnx, err := net.Listen("tcp4", apx)
			if err != nil {
				return nil, fmt.Errorf("%w: smtp %s: %v", errBind, apx, err)
			}
			h.extra = append(h.extra, a)
			if h.host.Mode == NoListener {
				lnx.Close()
			} else {
				h.lnx = append(h.lnx, lnx)
			}
		}
		if h.host.IPv6 && h.host.Mode != NoListener {
			ap6 := netip.AddrPortFrom(netip.IPv6Loopback(), uint16(w.smtpPort)).String()
			if h.ln6, err = net.Listen("tcp6", ap6); err != nil {
				return nil, fmt.Errorf("%w: smtp %s: %v", errBind, ap6, err)
			}
		}
	}

	// MTA-STS policy hosts: the first listener picks the HTTPS port.
	for _, p := range policy {
		p.addr = nthAddr(w.block, next)
		next++
		ap := netip.AddrPortFrom(p.addr, uint16(w.httpsPort)).String()
		if p.ln, err = net.Listen("tcp4", ap); err != nil {
			return nil, fmt.Errorf("%w: https %s: %v", errBind, ap, err)
		}
		if w.httpsPort == 0 {
			w.httpsPort = p.ln.Addr().(*net.TCPAddr).Port
		}
	}

	// Data.
	if w.pki, err = NewPKI(now); err != nil {
		return nil, err
	}
	byOrigin := map[string]*zone{}
	for i, o := range origins {
		spec := specOf[o]
		signed, fault := true, NoFault
		if spec != nil {
			signed, fault = !spec.Unsigned, spec.Fault
		}
		z, err := newZone(o, signed, fault)
		if err != nil {
			return nil, err
		}
		z.useNSEC3 = spec != nil && spec.NSEC3
		z.addr = nthAddr(w.block, i+1)
		w.zones = append(w.zones, z)
		byOrigin[o] = z
	}
	w.root = byOrigin["."]
	hostsOf := map[string][]*plannedHost{}
	for _, h := range hosts {
		hostsOf[h.spec.Name] = append(hostsOf[h.spec.Name], h)
	}
	for i := range specs {
		spec := &specs[i]
		domain := spec.Name + ".test"
		sc := Scenario{Domain: domain, Description: strings.ReplaceAll(spec.Description, "{z}", domain), RFC: spec.RFC, Expect: spec.Expect}
		if spec.NoZone {
			if spec.CNAME != "" {
				if err := byOrigin["test."].addString(spec.Name + ".test. CNAME " + spec.CNAME); err != nil {
					return nil, err
				}
			}
			if !spec.Helper {
				w.scenarios = append(w.scenarios, sc)
			}
			continue
		}
		z := byOrigin[spec.Name+".test."]
		if err := w.fillZone(z, spec, hostsOf[spec.Name], &sc); err != nil {
			return nil, err
		}
		if !spec.Helper {
			w.scenarios = append(w.scenarios, sc)
		}
	}
	for _, p := range policy {
		w.fillSTS(byOrigin[p.spec.Name+".test."], p.spec, p)
	}
	// TLSA records at names that are not hosts, now that every host has
	// its certificates.
	for i := range specs {
		if len(specs[i].TLSAAt) > 0 {
			if err := w.fillTLSAAt(byOrigin[specs[i].Name+".test."], &specs[i]); err != nil {
				return nil, err
			}
		}
	}
	// Delegations, then finish every zone.
	test := byOrigin["test."]
	w.root.delegate(test)
	for _, z := range w.zones[2:] {
		test.delegate(z)
	}
	for _, z := range w.zones {
		if err := z.finish(now); err != nil {
			return nil, err
		}
	}

	// Serve.
	// Wait until every server runs: Shutdown on a server that has not
	// started yet would leave its socket open.
	var started sync.WaitGroup
	for i, z := range w.zones {
		for _, srv := range []*dns.Server{
			{PacketConn: socks[i].pc, Handler: z},
			{Listener: socks[i].ln, Handler: z, ReadTimeout: 5 * time.Second},
		} {
			started.Add(1)
			srv.NotifyStartedFunc = started.Done
			w.dnsSrv = append(w.dnsSrv, srv)
			go func() { _ = srv.ActivateAndServe() }()
		}
	}
	started.Wait()
	socks = nil // owned by the servers now
	for _, h := range hosts {
		for _, ln := range append([]net.Listener{h.ln4, h.ln6}, h.lnx...) {
			if ln == nil {
				continue
			}
			info := w.hosts[strings.TrimSuffix(h.name, ".")]
			s := newSMTPServer(strings.TrimSuffix(h.name, "."), h.host.Mode, h.host.Delay, info.Chain, info.Key)
			s.serve(ln)
			w.smtpSrv = append(w.smtpSrv, s)
			w.servers[info.Name] = append(w.servers[info.Name], s)
		}
		h.ln4, h.ln6, h.lnx = nil, nil, nil
	}
	for _, p := range policy {
		ph, err := w.startPolicyHost(p.spec, p.ln)
		if err != nil {
			w.Close()
			return nil, err
		}
		p.ln = nil
		w.policyHosts[ph.domain] = ph
	}
	logf("testworld: %d zones in %s at port %d, SMTP port %d", len(w.zones), w.block, w.dnsPort, w.smtpPort)
	return w, nil
}

// fillZone adds a scenario's MX, host, TLSA and extra records to z.
func (w *World) fillZone(z *zone, spec *ScenarioSpec, hosts []*plannedHost, sc *Scenario) error {
	origin := z.origin
	bare := strings.TrimSuffix(origin, ".")
	sub := func(s string) string { return strings.ReplaceAll(s, "{z}", origin) }
	mx := spec.MX
	if mx == nil && !spec.NoMX {
		for _, h := range spec.Hosts {
			if h.Name == "mx" {
				mx = []string{"10 mx.{z}"}
			}
		}
	}
	if !spec.NoMX {
		for _, m := range mx {
			if err := z.addString(origin + " MX " + sub(m)); err != nil {
				return err
			}
		}
	}
	for _, h := range hosts {
		hs := h.host
		sans := hs.Cert.SANs
		switch {
		case hs.Cert.NoSANs:
			sans = nil
		case sans == nil:
			sans = []string{strings.TrimSuffix(h.name, ".")}
		default:
			sans = append([]string(nil), sans...)
			for i := range sans {
				sans[i] = strings.ReplaceAll(sans[i], "{z}", bare)
			}
		}
		cn := strings.ReplaceAll(hs.Cert.CN, "{z}", bare)
		if cn == "" && hs.Cert.NoSANs {
			cn = strings.TrimSuffix(h.name, ".")
		}
		var leaf CertKey
		var err error
		var chain []*x509.Certificate
		switch hs.Cert.Issuer {
		case CAIssued, ExpiredCAIssued:
			inter := &w.pki.Intermediate
			if hs.Cert.Issuer == ExpiredCAIssued {
				inter = &w.pki.ExpiredIntermediate
			}
			leaf, err = newLeaf(w.now, cn, sans, hs.Cert.Validity, inter)
			chain = []*x509.Certificate{leaf.Cert}
			switch hs.Cert.Chain {
			case LeafIntermediate:
				chain = append(chain, inter.Cert)
			case LeafIntermediateRoot:
				chain = append(chain, inter.Cert, w.pki.Root.Cert)
			}
		default:
			leaf, err = newLeaf(w.now, cn, sans, hs.Cert.Validity, nil)
			chain = []*x509.Certificate{leaf.Cert}
		}
		if err != nil {
			return err
		}
		info := &Host{Name: strings.TrimSuffix(h.name, "."), Mode: hs.Mode, Chain: chain, Key: leaf.Key}
		if h.dead.IsValid() {
			info.Addrs = append(info.Addrs, netip.AddrPortFrom(h.dead, uint16(w.smtpPort)))
			z.add(&dns.A{Hdr: dns.RR_Header{Name: h.name, Rrtype: dns.TypeA, Class: dns.ClassINET}, A: h.dead.AsSlice()})
		}
		info.Addrs = append(info.Addrs, netip.AddrPortFrom(h.addr4, uint16(w.smtpPort)))
		z.add(&dns.A{Hdr: dns.RR_Header{Name: h.name, Rrtype: dns.TypeA, Class: dns.ClassINET}, A: h.addr4.AsSlice()})
		for _, a := range h.extra {
			info.Addrs = append(info.Addrs, netip.AddrPortFrom(a, uint16(w.smtpPort)))
			z.add(&dns.A{Hdr: dns.RR_Header{Name: h.name, Rrtype: dns.TypeA, Class: dns.ClassINET}, A: a.AsSlice()})
		}
		if hs.IPv6 {
			info.Addrs = append(info.Addrs, netip.AddrPortFrom(netip.IPv6Loopback(), uint16(w.smtpPort)))
			z.add(&dns.AAAA{Hdr: dns.RR_Header{Name: h.name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET}, AAAA: netip.IPv6Loopback().AsSlice()})
		}
		owner := "_25._tcp." + h.name
		if hs.TLSAAt != "" && len(hs.TLSA) > 0 {
			target := dns.CanonicalName(hs.TLSAAt + "." + origin)
			z.add(&dns.CNAME{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeCNAME, Class: dns.ClassINET}, Target: target})
			owner = target
		}
		for _, t := range hs.TLSA {
			text, err := w.addTLSA(z, owner, t, leaf.Cert)
			if err != nil {
				return err
			}
			info.TLSA = append(info.TLSA, text)
		}
		w.hosts[info.Name] = info
		sc.Hosts = append(sc.Hosts, *info)
	}
	for _, r := range spec.Records {
		if err := z.addString(sub(r)); err != nil {
			return err
		}
	}
	for _, f := range spec.NameFaults {
		name := origin
		if f.Name != "" {
			name = dns.CanonicalName(f.Name + "." + origin)
		}
		k := rrKey{name, f.Type}
		switch f.Kind {
		case ServFail:
			z.servfail[k] = true
		case NoSig:
			z.nosig[k] = true
		case NoDenial:
			z.nodenial[k] = true
		default:
			return fmt.Errorf("testworld: scenario %s: unknown name fault %d", spec.Name, f.Kind)
		}
	}
	return nil
}

// addTLSA adds one TLSA record at owner, computing its data from leaf
// (or the certificate t.Of names) unless t.Data is set, and returns it in
// presentation form.
func (w *World) addTLSA(z *zone, owner string, t TLSASpec, leaf *x509.Certificate) (string, error) {
	data := t.Data
	if data == "" {
		var c *x509.Certificate
		switch t.Of {
		case OfLeaf:
			c = leaf
		case OfIntermediate:
			c = w.pki.Intermediate.Cert
		case OfRoot:
			c = w.pki.Root.Cert
		case OfOther:
			other, err := SelfSigned(w.now, []string{"other.invalid"}, Valid)
			if err != nil {
				return "", err
			}
			c = other.Cert
		}
		data = TLSAData(c, t.Selector, t.MatchingType)
		if t.UpperHex {
			data = strings.ToUpper(data)
		}
	}
	text := fmt.Sprintf("%d %d %d %s", t.Usage, t.Selector, t.MatchingType, data)
	if err := z.addString(owner + " TLSA " + text); err != nil {
		return "", err
	}
	return text, nil
}

// fillTLSAAt publishes a scenario's TLSAAt records.
func (w *World) fillTLSAAt(z *zone, spec *ScenarioSpec) error {
	bare := strings.TrimSuffix(z.origin, ".")
	for _, n := range spec.TLSAAt {
		hostName := strings.ReplaceAll(n.Host, "{z}", bare)
		h, ok := w.hosts[hostName]
		if !ok {
			return fmt.Errorf("testworld: scenario %s: TLSAAt names unknown host %q", spec.Name, hostName)
		}
		owner := dns.CanonicalName("_25._tcp." + n.Name + "." + z.origin)
		for _, t := range n.TLSA {
			if _, err := w.addTLSA(z, owner, t, h.Chain[0]); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close stops every server. It is safe to call more than once.
func (w *World) Close() error {
	w.closeOnce.Do(func() {
		for _, s := range w.dnsSrv {
			_ = s.Shutdown()
		}
		for _, s := range w.smtpSrv {
			s.close()
		}
		for _, p := range w.policyHosts {
			p.stop()
		}
	})
	return nil
}

// Zones lists every served zone with its server address, root first.
func (w *World) Zones() []ZoneInfo {
	out := make([]ZoneInfo, 0, len(w.zones))
	for _, z := range w.zones {
		out = append(out, ZoneInfo{Name: z.origin, Addr: netip.AddrPortFrom(z.addr, uint16(w.dnsPort)).String()})
	}
	return out
}

// TrustAnchor returns the root DS record(s) in presentation format, one
// per line, for Unbound's trust-anchor-file.
func (w *World) TrustAnchor() string {
	var b strings.Builder
	for _, d := range w.root.ds() {
		b.WriteString(d.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// DNSPort is the port every zone server listens on.
func (w *World) DNSPort() int { return w.dnsPort }

// SMTPPort is the port every SMTP server listens on.
func (w *World) SMTPPort() int { return w.smtpPort }

// Block is the 127.X.Y.0/24 block of this world.
func (w *World) Block() netip.Prefix { return w.block }

// ProbeAllow returns the prefixes daned must be allowed to probe: the
// world's block and ::1/128.
func (w *World) ProbeAllow() []netip.Prefix {
	return []netip.Prefix{w.block, netip.PrefixFrom(netip.IPv6Loopback(), 128)}
}

// Scenarios returns the built catalogue, helpers excluded.
func (w *World) Scenarios() []Scenario { return append([]Scenario(nil), w.scenarios...) }

// Scenario returns the scenario for a domain ("ee-spki.test").
func (w *World) Scenario(domain string) (Scenario, bool) {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	for _, s := range w.scenarios {
		if s.Domain == domain {
			return s, true
		}
	}
	return Scenario{}, false
}

// Host returns an MX host by name ("mx.ee-spki.test").
func (w *World) Host(name string) (Host, bool) {
	h, ok := w.hosts[strings.TrimSuffix(strings.ToLower(name), ".")]
	if !ok {
		return Host{}, false
	}
	return *h, true
}

// SNISeen returns the TLS server names the host's servers received, in
// order per server.
func (w *World) SNISeen(host string) []string {
	var out []string
	for _, s := range w.servers[strings.TrimSuffix(strings.ToLower(host), ".")] {
		out = append(out, s.sniSeen()...)
	}
	return out
}

// Connections returns how many TCP connections the SMTP server at addr
// (one of a Host's Addrs) accepted: every probe of that address is one,
// whether or not it reached STARTTLS. It is 0 for an address nobody
// listens on.
func (w *World) Connections(addr netip.AddrPort) int64 {
	if s := w.smtpAt(addr); s != nil {
		return s.accepted.Load()
	}
	return 0
}

// Handshakes returns how many TLS handshakes (ClientHellos) the SMTP
// server at addr received.
func (w *World) Handshakes(addr netip.AddrPort) int64 {
	if s := w.smtpAt(addr); s != nil {
		return int64(len(s.sniSeen()))
	}
	return 0
}

// Hold makes the SMTP servers of host ("mx.ee-spki.test") hold every
// session they accept from now on before the banner (a probe waits
// there), until release is called: then the held sessions and every later
// one go on as usual. Servers in modes that never reach the banner
// (Tarpit, SlowDrip, EndlessReply) are not affected. release is
// idempotent.
func (w *World) Hold(host string) (release func()) {
	gate := make(chan struct{})
	servers := w.servers[strings.TrimSuffix(strings.ToLower(host), ".")]
	for _, s := range servers {
		s.gate.Store(&gate)
	}
	return sync.OnceFunc(func() {
		for _, s := range servers {
			s.gate.CompareAndSwap(&gate, nil)
		}
		close(gate)
	})
}

func (w *World) smtpAt(addr netip.AddrPort) *smtpServer {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	for _, s := range w.smtpSrv {
		if a, err := netip.ParseAddrPort(s.ln.Addr().String()); err == nil && a == addr {
			return s
		}
	}
	return nil
}

// Question is a name and type a name server of the world was asked.
type Question struct {
	Name string // fully qualified, lower case ("mx.ee-spki.test.")
	Type uint16 // dns.TypeA, …
}

// Queries returns how many queries for name and qtype reached the
// world's authoritative servers, over UDP and TCP, summed over every
// zone's server (a referral from a parent counts too).
func (w *World) Queries(name string, qtype uint16) int64 {
	k := rrKey{dns.CanonicalName(name), qtype}
	var n int64
	for _, z := range w.zones {
		n += z.queries(k)
	}
	return n
}

// QueriesAt returns every question the server of zone ("ee-spki.test")
// was asked, with how often.
func (w *World) QueriesAt(zone string) map[Question]int64 {
	origin := dns.CanonicalName(zone)
	out := map[Question]int64{}
	for _, z := range w.zones {
		if z.origin != origin {
			continue
		}
		z.asked.Range(func(k, v any) bool {
			rk := k.(rrKey)
			out[Question{rk.name, rk.rtype}] = v.(*atomic.Int64).Load()
			return true
		})
	}
	return out
}

// PKI returns the world's test CA (root and intermediate).
func (w *World) PKI() *PKI { return w.pki }

// Now is the reference time the world was built around.
func (w *World) Now() time.Time { return w.now }

// StubZones returns Unbound stub-zone clauses for every zone.
func (w *World) StubZones() string {
	var b strings.Builder
	for _, z := range w.Zones() {
		host, port, _ := net.SplitHostPort(z.Addr)
		fmt.Fprintf(&b, "stub-zone:\n\tname: %q\n\tstub-addr: %s@%s\n\tstub-prime: no\n", z.Name, host, port)
	}
	return b.String()
}
