package tlsrpttest

import (
	"fmt"
	"time"

	"github.com/daned/daned/tlsrpt"
)

// Sessions returns okN successful then failN failed sessions under a
// DANE policy for the MX host mx, a minute apart from start; the failures
// are tlsa-invalid at 192.0.2.25.
func Sessions(start time.Time, mx string, okN, failN int) []tlsrpt.Session {
	p := tlsrpt.Policy{Type: tlsrpt.PolicyTLSA, Domain: mx, Strings: []string{"3 1 1 " + fmt.Sprintf("%064x", 1)}, MXHosts: []string{mx}}
	var out []tlsrpt.Session
	for i := range okN + failN {
		s := tlsrpt.Session{Time: start.Add(time.Duration(i) * time.Minute), Policy: p, Success: i < okN}
		if !s.Success {
			s.Result, s.ReceivingIP, s.ReceivingMX = tlsrpt.ResultTLSAInvalid, "192.0.2.25", mx
		}
		out = append(out, s)
	}
	return out
}
