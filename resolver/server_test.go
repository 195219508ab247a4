package resolver_test

import (
	"net"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// testServer is a loopback DNS server answering on the same port over UDP
// and TCP, with its own mux (never the global dns.HandleFunc).
type testServer struct {
	addr    string
	udpHits atomic.Int32
	tcpHits atomic.Int32
}

// startServer starts handler on 127.0.0.1:<free port> for UDP and TCP and
// waits for both to be ready.
func startServer(t *testing.T, handler func(w dns.ResponseWriter, req *dns.Msg)) *testServer {
	t.Helper()
	ts := &testServer{}
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, req *dns.Msg) {
		if w.RemoteAddr().Network() == "tcp" {
			ts.tcpHits.Add(1)
		} else {
			ts.udpHits.Add(1)
		}
		handler(w, req)
	})

	var pc net.PacketConn
	var ln net.Listener
	// The TCP port must equal the UDP one; another process may hold it, so
	// try a few free UDP ports.
	for i := 0; ; i++ {
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen udp: %v", err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			break
		}
		pc.Close()
		if i == 10 {
			t.Fatalf("listen tcp: %v", err)
		}
	}
	ts.addr = pc.LocalAddr().String()

	for _, srv := range []*dns.Server{
		{PacketConn: pc, Handler: mux},
		{Listener: ln, Handler: mux},
	} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		done := make(chan error, 1)
		go func() { done <- srv.ActivateAndServe() }()
		select {
		case <-started:
		case err := <-done:
			t.Fatalf("dns server: %v", err)
		}
		t.Cleanup(func() {
			srv.Shutdown()
			<-done
		})
	}
	return ts
}

// reply builds a response to req with EDNS0 and the given EDEs.
func reply(req *dns.Msg, rcode int, ad bool, edes ...dns.EDNS0_EDE) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(req, rcode)
	m.RecursionAvailable = true
	m.AuthenticatedData = ad
	m.SetEdns0(1232, true)
	opt := m.IsEdns0()
	for i := range edes {
		opt.Option = append(opt.Option, &edes[i])
	}
	return m
}

func mustRR(t testing.TB, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatalf("NewRR(%q): %v", s, err)
	}
	return rr
}
