package mtasts

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// HostError is why VerifyHost refused an MX host. Its Reason is one of
// ReasonMXNotInPolicy, ReasonCertNotTrusted, ReasonCertNameMismatch and
// ReasonCertExpired.
type HostError struct {
	Host   string // the MX host name, lower-case, no trailing dot
	Reason Reason
	Detail string // safe to show: names certificates, never key material
	Err    error  // the crypto/x509 error, if any
}

func (e *HostError) Error() string {
	return fmt.Sprintf("mta-sts: MX host %s: %s: %s", e.Host, e.Reason, e.Detail)
}

// Unwrap returns the crypto/x509 error, if any.
func (e *HostError) Unwrap() error { return e.Err }

// VerifyHost is the check an MX host must pass under an MTA-STS policy in
// mode enforce (RFC 8461 §4): its name must match one of the policy's mx
// patterns (§4.1), and the chain it presented (leaf first, as captured)
// must validate against roots for TLS server authentication, at time now,
// with a certificate naming the host (§4.2, RFC 6125 via crypto/x509:
// DNS-ID subjectAltNames, a wildcard covering one whole left-most label).
//
// It returns nil when the host passes, else a *HostError: MX_NOT_IN_POLICY
// when the name matches no pattern; CERT_EXPIRED when a certificate of a
// chain that would otherwise validate has expired; CERT_NAME_MISMATCH when
// the chain validates but does not name the host; CERT_NOT_TRUSTED for
// everything else (unknown issuer, not yet valid, wrong key usage, no
// certificate). roots must be given: a nil pool trusts nothing, because
// letting crypto/x509 load the system roots would be I/O here; callers
// pass x509.SystemCertPool() or their own pool.
func VerifyHost(chain []*x509.Certificate, roots *x509.CertPool, host string, patterns []string, now time.Time) error {
	host = asciiLower(strings.TrimSuffix(host, "."))
	fail := func(r Reason, err error, format string, args ...any) error {
		return &HostError{Host: host, Reason: r, Detail: fmt.Sprintf(format, args...), Err: err}
	}
	if !(Policy{MX: patterns}).MatchMX(host) {
		return fail(ReasonMXNotInPolicy, nil, "matches none of the policy's mx patterns %s (RFC 8461 §4.1)", strings.Join(patterns, ", "))
	}
	if len(chain) == 0 || chain[0] == nil {
		return fail(ReasonCertNotTrusted, nil, "no certificate presented")
	}
	if roots == nil {
		return fail(ReasonCertNotTrusted, nil, "no WebPKI roots to validate against")
	}
	verify := func(name string, at time.Time) error {
		opts := x509.VerifyOptions{
			DNSName:       name,
			Roots:         roots,
			Intermediates: x509.NewCertPool(),
			CurrentTime:   at,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		for _, c := range chain[1:] {
			if c != nil {
				opts.Intermediates.AddCert(c)
			}
		}
		_, err := chain[0].Verify(opts)
		return err
	}
	err := verify(host, now)
	if err == nil {
		return nil
	}
	var nameErr x509.HostnameError
	if errors.As(err, &nameErr) {
		// crypto/x509 checks the name before it builds a chain: an
		// untrusted or expired chain is the graver fault, so look for it.
		if trustErr := verify("", now); trustErr != nil {
			err = trustErr
		} else {
			return fail(ReasonCertNameMismatch, err, "the certificate does not name the host (it names %s)", certNames(chain[0]))
		}
	}
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) && invalid.Reason == x509.Expired && invalid.Cert != nil {
		if now.After(invalid.Cert.NotAfter) {
			return fail(ReasonCertExpired, err, "certificate %q expired at %s", invalid.Cert.Subject.CommonName, invalid.Cert.NotAfter.UTC().Format(time.RFC3339))
		}
		return fail(ReasonCertNotTrusted, err, "certificate %q is not valid before %s", invalid.Cert.Subject.CommonName, invalid.Cert.NotBefore.UTC().Format(time.RFC3339))
	}
	// An expired intermediate shows as an unknown authority: crypto/x509
	// skips the expired candidate and finds no other. Call it expired when
	// the same chain validates at the moment the first certificate
	// expired.
	if expired := firstExpired(chain, now); expired != nil && verify("", expired.NotAfter) == nil {
		return fail(ReasonCertExpired, err, "certificate %q expired at %s", expired.Subject.CommonName, expired.NotAfter.UTC().Format(time.RFC3339))
	}
	return fail(ReasonCertNotTrusted, err, "the chain does not validate against the WebPKI roots: %v", err)
}

// firstExpired returns the certificate of chain that expired first before
// now, or nil.
func firstExpired(chain []*x509.Certificate, now time.Time) *x509.Certificate {
	var first *x509.Certificate
	for _, c := range chain {
		if c != nil && now.After(c.NotAfter) && (first == nil || c.NotAfter.Before(first.NotAfter)) {
			first = c
		}
	}
	return first
}

// certNames lists the DNS names a certificate carries, for a detail.
func certNames(c *x509.Certificate) string {
	if len(c.DNSNames) == 0 {
		return "no DNS names"
	}
	const max = 5
	var b strings.Builder
	for i, n := range c.DNSNames {
		if i == max {
			fmt.Fprintf(&b, " and %d more", len(c.DNSNames)-max)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(clip(n)))
	}
	return b.String()
}
