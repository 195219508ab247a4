// Package collector is daned's TLSRPT front door for Postfix: it is the
// collector Postfix's TLSRPT library (libtlsrpt, smtp_tlsrpt_enable =
// yes) sends its datagrams to, on the UNIX datagram socket named by
// smtp_tlsrpt_socket_name and daned's --tlsrpt-socket. Each datagram is
// parsed (tlsrpt.ParseDatagram) and its sessions handed to a Sink, the
// aggregation, which this package does not do.
//
// It keeps only its transport: the socket (made writable by every local
// user, for the postfix user; a stale socket file replaced, a live one
// or anything else at the path refused), the read loop, a queue between
// reading and parsing, counts and a rate-limited log of refusals.
//
// The queue matters because the kernel's own is short. On Linux a UNIX
// datagram socket holds at most net.unix.max_dgram_qlen datagrams
// (default 10) whatever its receive buffer; past that a sender's
// sendto fails with EAGAIN, and libtlsrpt sends with MSG_DONTWAIT, so
// Postfix logs "Could not report TLS handshake result to tlsrpt
// library: Resource temporarily unavailable (errno 11)" and the session
// is lost without the collector ever seeing it. Such losses cannot be
// counted here: SO_RXQ_OVFL reports nothing for AF_UNIX sockets, whose
// datagrams are refused at the sender, not dropped at the receiver. So
// the reader does nothing but read and queue, a stalled Sink costs
// datagrams from the in-process queue (counted, Metrics.Dropped) rather
// than from Postfix, and on a busy host the sysctl should be raised (say
// net.unix.max_dgram_qlen = 1024). The receive buffer (ReadBuffer, 8
// MiB) is still set: on the BSDs it is what bounds the queue.
package collector
