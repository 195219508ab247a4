package conformance

import (
	"regexp"
	"strings"
)

// Observation is what one posttls-finger run says about the destination
// and about each MX host it reached, in the order it reached them.
type Observation struct {
	// Domain is set when the run ended before any host was tried:
	// NoMail (null MX, NXDOMAIN) or DNSFailure (a temporary lookup
	// failure, e.g. a bogus MX RRset).
	Domain Outcome `json:"domain,omitempty"`
	// Hosts maps each host reached to its outcome; Order lists them as
	// reached.
	Hosts map[string]Outcome `json:"hosts,omitempty"`
	Order []string           `json:"order,omitempty"`
	// Evidence is the line each outcome rests on.
	Evidence map[string]string `json:"evidence,omitempty"`
}

var (
	reTrying    = regexp.MustCompile(`(?:connect_addr: trying: |Connected to )([^\s\[]+)\[`)
	reTLSAFound = regexp.MustCompile(`dns_query: _\d+\._tcp\.(\S+) \(TLSA\): OK`)
	reTLSAErr   = regexp.MustCompile(`Failed to establish session to \S+ via (\S+): TLSA lookup error`)
	reConnErr   = regexp.MustCompile(`Failed to establish session to \S+ via (\S+): connect to`)
	reEstab     = regexp.MustCompile(`(Verified|Trusted|Untrusted|Anonymous) TLS connection established to ([^\s\[]+)\[`)
	reAddrFail  = regexp.MustCompile(`Destination address lookup failed: (.*)`)
	reHandshake = regexp.MustCompile(`(?i)SSL_connect error|TLS handshake failed|Cannot start TLS`)
)

// Parse reads posttls-finger's output (with -v and the SMTP chat, as Args
// runs it). The rules, from posttls-finger(1) and smtp(8):
//
//   - "Verified TLS connection established": DANE-authenticated → Verified;
//     "Trusted …": authenticated, but reached through an insecure MX RRset
//     ("MX RRset insecure: log verified as trusted") → Trusted.
//   - "Untrusted TLS connection established" to a host with a TLSA RRset
//     (the verbose "dns_query: _25._tcp.<host> (TLSA): OK") that was not
//     followed by "no usable TLSA records found" or "all TLSA records
//     unusable, fallback to unauthenticated TLS": DANE authentication was
//     required and failed → AuthFailure (the "… certificate verification
//     failed" line says why). Otherwise (no TLSA, or only unusable
//     records: TLS without authentication) → Untrusted.
//   - "TLSA lookup error", or a failed address lookup of a [host] → DNSFailure.
//   - "Destination address lookup failed" for the domain: null MX or a
//     permanent "Host not found" → NoMail; "try again" → DNSFailure.
//   - "connect to …: Connection refused", or "timeout while reading server
//     greeting" → ConnectFailure.
//   - a session without STARTTLS in the EHLO reply, "STARTTLS rejected",
//     or a failed handshake: NoSTARTTLS when a TLSA RRset was found for the
//     host (Postfix's dane level then makes TLS mandatory; posttls-finger
//     only probes and does not say so itself), else NoTLS.
func Parse(out string) Observation {
	o := Observation{Hosts: map[string]Outcome{}, Evidence: map[string]string{}}
	set := func(host string, oc Outcome, line string) {
		host = strings.ToLower(strings.TrimSuffix(host, "."))
		if _, ok := o.Hosts[host]; !ok {
			o.Order = append(o.Order, host)
		}
		o.Hosts[host] = oc
		o.Evidence[host] = strings.TrimPrefix(strings.TrimSpace(line), "posttls-finger: ")
	}
	tlsa := map[string]bool{}
	unusable := map[string]bool{}
	lastTLSA := ""
	var cur, curLine string
	starttlsOffered, tlsDone := false, false
	closeSession := func(line string) {
		if cur == "" || tlsDone {
			return
		}
		if _, decided := o.Hosts[cur]; decided {
			return
		}
		oc := NoTLS
		if tlsa[cur] {
			oc = NoSTARTTLS
		}
		if line == "" {
			line = curLine
		}
		set(cur, oc, line)
	}
	for _, line := range strings.Split(out, "\n") {
		switch {
		case reTLSAFound.MatchString(line):
			lastTLSA = strings.ToLower(reTLSAFound.FindStringSubmatch(line)[1])
			tlsa[lastTLSA] = true
		case strings.Contains(line, "no usable TLSA records found"):
			// Checked before the connection: the last TLSA RRset looked up.
			unusable[lastTLSA] = true
		case strings.Contains(line, "all TLSA records unusable"):
			// Found during the handshake: the current host.
			unusable[cur] = true
		case reTrying.MatchString(line):
			h := strings.ToLower(reTrying.FindStringSubmatch(line)[1])
			if h != cur {
				closeSession("")
				cur, starttlsOffered, tlsDone = h, false, false
			}
			curLine = line
		case strings.Contains(line, "< 250-STARTTLS") || strings.Contains(line, "< 250 STARTTLS"):
			starttlsOffered = true
		case strings.Contains(line, "STARTTLS rejected"), reHandshake.MatchString(line):
			closeSession(line)
			tlsDone = true
		case strings.Contains(line, "> QUIT") && !starttlsOffered:
			closeSession("EHLO reply without STARTTLS")
		case reEstab.MatchString(line):
			m := reEstab.FindStringSubmatch(line)
			h := strings.ToLower(m[2])
			tlsDone = true
			switch {
			case m[1] == "Verified":
				set(h, Verified, line)
			case m[1] == "Trusted":
				set(h, Trusted, line)
			case tlsa[h] && !unusable[h]:
				set(h, AuthFailure, line)
			default:
				set(h, Untrusted, line)
			}
		case reTLSAErr.MatchString(line):
			set(reTLSAErr.FindStringSubmatch(line)[1], DNSFailure, line)
		case reConnErr.MatchString(line):
			set(reConnErr.FindStringSubmatch(line)[1], ConnectFailure, line)
		case strings.Contains(line, "timeout while reading server greeting"):
			if cur != "" {
				set(cur, ConnectFailure, line)
			}
		case reAddrFail.MatchString(line):
			msg := reAddrFail.FindStringSubmatch(line)[1]
			switch {
			case strings.Contains(msg, "nullMX"):
				o.Domain = NoMail
			case strings.Contains(msg, "try again"):
				o.Domain = DNSFailure
			case strings.Contains(msg, "Host not found"):
				o.Domain = NoMail
			default:
				o.Domain = DNSFailure
			}
			o.Evidence[""] = strings.TrimPrefix(strings.TrimSpace(line), "posttls-finger: ")
		}
	}
	closeSession("")
	return o
}
