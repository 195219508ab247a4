package resolver

import "strings"

// Short phrases for why a lookup failed, shared by both modes so that a
// verdict reads the same whichever validator produced it. They go into
// QueryError.Reason and from there into the verdict's detail.
const (
	ReasonSigExpired      = "RRSIG expired"                             // RFC 4035 §5.3.1; EDE 7
	ReasonSigNotYetValid  = "RRSIG not yet valid"                       // RFC 4035 §5.3.1; EDE 8
	ReasonSigInvalid      = "RRSIG does not verify"                     // RFC 4035 §5.3.3; EDE 6
	ReasonDSMismatch      = "DS in parent matches no DNSKEY"            // RFC 4035 §5.2; Unbound "no keys have a DS with algorithm …"
	ReasonDNSKEYMissing   = "DNSKEY missing"                            // RFC 4035 §5.2; EDE 9
	ReasonRRSIGMissing    = "RRSIG missing"                             // RFC 4035 §5.3; EDE 10, Unbound "no signatures"
	ReasonNoZoneKeyBit    = "no zone key bit set"                       // RFC 4034 §2.1.1; EDE 11
	ReasonDenialMissing   = "NSEC/NSEC3 proof missing"                  // RFC 4035 §5.4, RFC 5155 §8; EDE 12
	ReasonUnsupportedAlg  = "unsupported algorithm: zone is insecure"   // RFC 4035 §5.2, RFC 6840 §5.2; EDE 1
	ReasonUnsupportedHash = "unsupported DS digest: zone is insecure"   // RFC 4035 §5.2; EDE 2
	ReasonIndeterminate   = "DNSSEC state indeterminate"                // RFC 4035 §4.3; EDE 5
	ReasonBogus           = "DNSSEC bogus"                              // RFC 4035 §4.3; EDE 6 without more detail
	ReasonNoAuthority     = "no reachable authority"                    // EDE 22, Unbound "upstream server timeout", …
	ReasonNetworkError    = "network error reaching the authority"      // EDE 23
	ReasonNSEC3Iterations = "unsupported NSEC3 iterations value"        // RFC 9276; EDE 27
	ReasonStale           = "stale answer"                              // RFC 8767; EDE 3, 19
	ReasonFiltered        = "answer forged or filtered by the resolver" // EDE 4, 15-17
)

// reasonPatterns map validator texts (libunbound's why_bogus, or the
// EXTRA-TEXT Unbound adds to an EDE with val-log-level 2) to a phrase,
// most specific first: a cached failure ("key for validation … is marked
// as invalid because of a previous validation failure <…>: signature
// expired …") carries the original text, so it matches that.
var reasonPatterns = []struct{ substr, reason string }{
	{"signature expired", ReasonSigExpired},
	{"signature before inception", ReasonSigNotYetValid},
	{"no keys have a ds", ReasonDSMismatch},
	{"ds hash mismatches key", ReasonDSMismatch},
	{"did not match a ds", ReasonDSMismatch},
	{"no dnskey", ReasonDNSKEYMissing},
	{"no signatures", ReasonRRSIGMissing},
	{"no rrsig", ReasonRRSIGMissing},
	{"signature crypto failed", ReasonSigInvalid},
	{"signatures failed", ReasonSigInvalid},
	{"proof failed", ReasonDenialMissing}, // "nodata proof failed", "nameerror proof failed", "wildcard proof failed"
	{"no nsec", ReasonDenialMissing},
	// A denial served without any DNSSEC record (Unbound's EDE 12 for it).
	{"no dnssec records", ReasonDenialMissing},
	{"nsec3 iterations", ReasonNSEC3Iterations},
	{"algorithm not supported", ReasonUnsupportedAlg},
	{"unsupported algorithm", ReasonUnsupportedAlg},
	{"upstream server timeout", ReasonNoAuthority},
	{"no server to query", ReasonNoAuthority},
	{"no addresses for nameservers", ReasonNoAuthority},
	{"nameserver addresses not usable", ReasonNoAuthority},
	{"exceeded the maximum", ReasonNoAuthority},
}

// edeReasons map RFC 8914 INFO-CODEs to a phrase when no text matched.
var edeReasons = map[uint16]string{
	edeUnsupportedDNSKEYAlg: ReasonUnsupportedAlg,
	edeUnsupportedDSDigest:  ReasonUnsupportedHash,
	edeStaleAnswer:          ReasonStale,
	edeForgedAnswer:         ReasonFiltered,
	edeIndeterminate:        ReasonIndeterminate,
	edeBogus:                ReasonBogus,
	edeSignatureExpired:     ReasonSigExpired,
	edeSignatureNotYetValid: ReasonSigNotYetValid,
	edeDNSKEYMissing:        ReasonDNSKEYMissing,
	edeRRSIGsMissing:        ReasonRRSIGMissing,
	edeNoZoneKeyBit:         ReasonNoZoneKeyBit,
	edeNSECMissing:          ReasonDenialMissing,
	edeBlocked:              ReasonFiltered,
	edeCensored:             ReasonFiltered,
	edeFiltered:             ReasonFiltered,
	edeStaleNXDOMAIN:        ReasonStale,
	22:                      ReasonNoAuthority,
	23:                      ReasonNetworkError,
	25:                      ReasonSigInvalid, // signature expired before valid
	27:                      ReasonNSEC3Iterations,
}

// BogusReason returns a short phrase for why a lookup failed or was
// insecure, such as "RRSIG expired" or "DS in parent matches no DNSKEY",
// from the Extended DNS Errors of an upstream reply (RFC 8914: INFO-CODE
// and EXTRA-TEXT) and from a validator's text (libunbound's why_bogus).
// Texts are read first, as they are the most precise (Unbound reports a
// DS that matches no key as EDE 9, "DNSKEY Missing", with the text "no
// keys have a DS with algorithm …"); then the codes, in the order given.
// It returns "" when nothing is known.
func BogusReason(ede []EDE, why string) string {
	texts := make([]string, 0, 1+len(ede))
	if why != "" {
		texts = append(texts, why)
	}
	for _, e := range ede {
		if e.Text != "" {
			texts = append(texts, e.Text)
		}
	}
	for _, t := range texts {
		t = strings.ToLower(t)
		for _, p := range reasonPatterns {
			if strings.Contains(t, p.substr) {
				return p.reason
			}
		}
	}
	// A DNSSEC failure code says more than a network one.
	for _, e := range ede {
		if dnssecFailure(e.Code) != SecurityUnknown {
			if r, ok := edeReasons[e.Code]; ok && e.Code != edeBogus && e.Code != edeIndeterminate {
				return r
			}
		}
	}
	for _, e := range ede {
		if r, ok := edeReasons[e.Code]; ok {
			return r
		}
	}
	return ""
}
