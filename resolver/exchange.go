package resolver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/miekg/dns"
)

// netExchanger is the default Exchanger: one fresh connection per query,
// so concurrent queries never share a socket or read each other's replies.
type netExchanger struct{}

// maxUDPReply is the receive buffer; the upstream should stay within the
// advertised 1232 bytes but a larger datagram is still read whole.
const maxUDPReply = 65535

// Exchange sends m and reads the reply. Datagrams whose ID does not match
// are skipped (they may answer an earlier, timed-out query, or be spoofed);
// a datagram that carries the right ID but does not parse is a malformed
// reply, not a reason to keep waiting: the trusted upstream sent it.
func (netExchanger) Exchange(ctx context.Context, m *dns.Msg, network, server string) (*dns.Msg, error) {
	out, err := m.Pack()
	if err != nil {
		return nil, fmt.Errorf("packing query: %w", err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	// Cancellation without a deadline must still unblock the read.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var reply []byte
	if network == "tcp" {
		reply, err = exchangeTCP(conn, out, m.Id)
	} else {
		reply, err = exchangeUDP(conn, out, m.Id)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		return nil, err
	}
	r := new(dns.Msg)
	if err := r.Unpack(reply); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return r, nil
}

func exchangeUDP(conn net.Conn, out []byte, id uint16) ([]byte, error) {
	if _, err := conn.Write(out); err != nil {
		return nil, err
	}
	buf := make([]byte, maxUDPReply)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return nil, err
		}
		if n < 2 || binary.BigEndian.Uint16(buf) != id {
			continue
		}
		return buf[:n], nil
	}
}

func exchangeTCP(conn net.Conn, out []byte, id uint16) ([]byte, error) {
	// RFC 7766 §8: two-byte length prefix.
	msg := make([]byte, 2+len(out))
	binary.BigEndian.PutUint16(msg, uint16(len(out)))
	copy(msg[2:], out)
	if _, err := conn.Write(msg); err != nil {
		return nil, err
	}
	var l [2]byte
	if _, err := io.ReadFull(conn, l[:]); err != nil {
		return nil, err
	}
	buf := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(conn, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: reply shorter than its length prefix", ErrMalformed)
		}
		return nil, err
	}
	if len(buf) < 2 || binary.BigEndian.Uint16(buf) != id {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, dns.ErrId)
	}
	return buf, nil
}
