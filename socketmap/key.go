package socketmap

import (
	"strings"
)

// keyClass is what a key is, for the key rule.
type keyClass int

const (
	// keyDomain: a destination domain; it gets a policy.
	keyDomain keyClass = iota
	// keyParent: ".example.com", Postfix's parent-domain lookup after
	// the domain itself got NOTFOUND.
	keyParent
	// keyNexthop: an explicit next hop ("[host]", "[host]:port",
	// "host:port") or a UNIX-domain path.
	keyNexthop
	// keyInvalid: empty, or white space or control characters.
	keyInvalid
)

// classify applies the key rule to a request key (see the package
// documentation). It never looks anything up.
func classify(key string) keyClass {
	if key == "" {
		return keyInvalid
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= ' ' || key[i] == 0x7f {
			return keyInvalid
		}
	}
	switch {
	case key[0] == '.':
		// Postfix asks ".example.com" only after "sub.example.com" got
		// NOTFOUND (smtp_tls_policy.c, tls_policy_lookup): the domain
		// was answered already, and a parent's DANE status says nothing
		// about its subdomains.
		return keyParent
	case key[0] == '[', key[0] == '/', strings.IndexByte(key, ':') >= 0:
		// An explicit next hop from transport_maps or relayhost: Postfix
		// makes no MX lookup for "[host]", and asks exactly this key
		// once. Postfix's own dane level, if set, still authenticates
		// the host from its TLSA records.
		return keyNexthop
	}
	return keyDomain
}

// splitRequest splits a request payload "<name> <key>" at its first
// space.
func splitRequest(p []byte) (name, key []byte, ok bool) {
	for i, c := range p {
		if c == ' ' {
			return p[:i], p[i+1:], true
		}
	}
	return p, nil, false
}

// requestName returns the string of a map name without allocating for
// the known names.
func requestName(b []byte) string {
	switch string(b) {
	case "QUERY":
		return "QUERY"
	case "QUERYwithTLSRPT":
		return "QUERYwithTLSRPT"
	}
	return string(b)
}
