package dane

import (
	"crypto/x509"
	"fmt"
	"time"
)

// Enforceable reports whether the policy says what a connection to the
// host must satisfy: PolicyDANERequired, PolicyTLSRequired or
// PolicyOpportunistic (RFC 7672 §2.2, outcomes 1 to 3). Any other policy
// leaves nothing to enforce, and CheckPeer refuses the connection.
func (p Policy) Enforceable() bool {
	switch p {
	case PolicyDANERequired, PolicyTLSRequired, PolicyOpportunistic:
		return true
	}
	return false
}

// RequiresAuthentication reports whether the policy demands that a
// connection's certificate chain be authenticated by TLSA records (RFC
// 7672 §2.2, outcome 1): only PolicyDANERequired does. Only then does
// CheckPeer read PeerPolicy.TLSA and ReferenceNames.
func (p Policy) RequiresAuthentication() bool { return p == PolicyDANERequired }

// PeerPolicy is what a connection to one MX host must satisfy, as decided
// before the connection was made.
type PeerPolicy struct {
	// Policy is the host's policy (see HostPolicy).
	Policy Policy
	// TLSABase is the TLSA base domain (RFC 7672 §2.2.3) whose RRset set
	// the policy. It only names that RRset in the detail.
	TLSABase string
	// TLSA is the host's assessed TLSA RRset (see Assess).
	TLSA []AssessedRecord
	// ReferenceNames are the DANE-TA reference identifiers (RFC 7672
	// §3.2.2; see ReferenceNames and Options).
	ReferenceNames []string
}

// PeerResult is the outcome of CheckPeer.
type PeerResult struct {
	// Reason is ReasonOK when mail may go over the connection. Otherwise
	// it is Verify's reason when PolicyDANERequired's authentication
	// failed, or ReasonNotConsidered for a policy that is not Enforceable.
	Reason Reason
	// Authenticated reports whether a TLSA record authenticated the chain;
	// only under PolicyDANERequired. Under PolicyTLSRequired and
	// PolicyOpportunistic the chain is accepted without being checked.
	Authenticated bool
	// Matched is the index, into PeerPolicy.TLSA, of the record that
	// authenticated the chain; -1 when none did.
	Matched int
	// Detail is one sentence, safe to show a mail administrator, that
	// does not name the host: the caller says which host it is about.
	Detail string
}

// CheckPeer judges the certificate chain a server presented on a
// connection (server certificate first) by what its host's policy
// demands (RFC 7672 §2.2), with now for the DANE-TA validity checks (see
// Options.Now):
//
//   - PolicyDANERequired: the chain must be authenticated by a usable
//     record of p.TLSA (see Verify); otherwise mail must not go over the
//     connection.
//   - PolicyTLSRequired and PolicyOpportunistic: any chain will do, and it
//     is not checked. That TLS itself is mandatory under PolicyTLSRequired
//     is the caller's to enforce.
//   - any other policy: nothing to enforce; ReasonNotConsidered.
//
// It is the one mapping from a host policy to a verdict on a connection,
// shared by daned's VerifyPeer and the Go client's TLS hook.
func CheckPeer(p PeerPolicy, chain []*x509.Certificate, now time.Time) PeerResult {
	switch {
	case !p.Policy.Enforceable():
		return PeerResult{Reason: ReasonNotConsidered, Matched: -1,
			Detail: fmt.Sprintf("host policy %s leaves nothing to enforce", p.Policy)}
	case p.Policy.RequiresAuthentication():
		m := Verify(chain, p.TLSA, Options{ReferenceNames: p.ReferenceNames, Now: now})
		if !m.Authenticated() {
			return PeerResult{Reason: m.Reason, Matched: -1, Detail: m.Detail}
		}
		return PeerResult{Reason: ReasonOK, Authenticated: true, Matched: m.Matched,
			Detail: fmt.Sprintf("authenticated by TLSA record [%d] (%s)", m.Matched, m.Detail)}
	case p.Policy == PolicyTLSRequired:
		return PeerResult{Reason: ReasonOK, Matched: -1,
			Detail: fmt.Sprintf("the secure TLSA RRset at _25._tcp.%s has no usable record: TLS is required, authentication is not (RFC 7672 §3.1.3); the chain was not checked", p.TLSABase)}
	default:
		return PeerResult{Reason: ReasonOK, Matched: -1,
			Detail: "no secure TLSA RRset, opportunistic TLS (RFC 7672 §2.2): nothing to authenticate against; the chain was not checked"}
	}
}
