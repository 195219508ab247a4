package testworld

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
)

// ServeSMTPAlsoOn makes every SMTP server of w listen on port as well,
// on the same addresses and with the same behaviour, chain and key, so a
// client that cannot be told a port (Postfix connects to port 25 and looks
// up TLSA at _25._tcp.<host>) reaches the same servers. Hosts in
// NoListener mode stay unreachable on port too. Binding a port below 1024
// needs root (or CAP_NET_BIND_SERVICE); inside a private network namespace
// no other process holds it. It is meant to be called once, right after
// Start; the new listeners close with Close.
func (w *World) ServeSMTPAlsoOn(port int) error {
	if port == w.smtpPort {
		return nil
	}
	type planned struct {
		ln    net.Listener
		proto *smtpServer
	}
	var plan []planned
	for name, servers := range w.servers {
		for _, s := range servers {
			ap, ok := s.ln.Addr().(*net.TCPAddr)
			if !ok {
				continue
			}
			addr, _ := netip.AddrFromSlice(ap.IP)
			ln, err := net.Listen("tcp", netip.AddrPortFrom(addr.Unmap(), uint16(port)).String())
			if err != nil {
				for _, p := range plan {
					p.ln.Close()
				}
				return fmt.Errorf("testworld: SMTP server of %s on port %d: %w", name, port, err)
			}
			plan = append(plan, planned{ln, s})
		}
	}
	for _, p := range plan {
		s, h := p.proto, w.hosts[p.proto.hostname]
		n := newSMTPServer(s.hostname, s.mode, s.delay, h.Chain, h.Key)
		n.serve(p.ln)
		w.smtpSrv = append(w.smtpSrv, n)
		w.servers[s.hostname] = append(w.servers[s.hostname], n)
	}
	return nil
}

// StartUnboundOn is StartUnbound with a fixed port on 127.0.0.1 (e.g. 53,
// for resolvers that read /etc/resolv.conf and so cannot be told a port).
// It does not retry: the caller owns the port, typically in a private
// network namespace.
func StartUnboundOn(ctx context.Context, w *World, dir string, port int) (*Unbound, error) {
	bin, err := UnboundBinary()
	if err != nil {
		return nil, err
	}
	ta := filepath.Join(dir, "root.ds")
	if err := os.WriteFile(ta, []byte(w.TrustAnchor()), 0o644); err != nil {
		return nil, err
	}
	return startUnbound(ctx, bin, w, dir, ta, port)
}
