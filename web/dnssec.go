package web

import (
	"regexp"
	"strings"

	"github.com/daned/daned/resolver"
)

// dnssecCause is why a lookup failed DNSSEC validation, read from the
// detail the engine wrote: the resolver's phrase ("RRSIG expired") and,
// when the validator said so, the zone whose keys or signatures failed.
type dnssecCause struct {
	Lookup string // "MX lookup for example.com", the lookup that failed
	Phrase string // a resolver.Reason* phrase; "" when none is named
	Zone   string // the zone whose signatures or keys failed ("for key Z"); "" when unknown
	DSName string // the name whose DS was being looked for ("for DS N"); "" when none
	Name   string // the query name of the failing answer ("<N TYPE IN>")
	Detail string // the whole detail, as the engine wrote it
	Fix    string // what to do about it, in words
}

var (
	reForKey = regexp.MustCompile(`for key (\S+?)\.?(?:\s|$|\))`)
	// Unbound's text when the key was judged before: "key for
	// validation Z. is marked as invalid because of a previous
	// validation failure <…>: …".
	reKeyMarked = regexp.MustCompile(`key for validation (\S+?)\.? is marked`)
	reForDS     = regexp.MustCompile(`for DS (\S+?)\.?(?:\s|$|\))`)
	reQName     = regexp.MustCompile(`<(\S+?)\.? [A-Z0-9]+ IN>`)
)

// dnssecPhrases are the resolver's phrases a DNSSEC failure may name,
// most specific first.
var dnssecPhrases = []string{
	resolver.ReasonSigExpired,
	resolver.ReasonSigNotYetValid,
	resolver.ReasonSigInvalid,
	resolver.ReasonDSMismatch,
	resolver.ReasonDNSKEYMissing,
	resolver.ReasonRRSIGMissing,
	resolver.ReasonNoZoneKeyBit,
	resolver.ReasonDenialMissing,
	resolver.ReasonNSEC3Iterations,
	resolver.ReasonIndeterminate,
	resolver.ReasonBogus,
	resolver.ReasonNoAuthority,
	resolver.ReasonNetworkError,
	resolver.ReasonFiltered,
}

// parseDNSSECCause reads a DNSSEC failure from a detail.
func parseDNSSECCause(detail string) dnssecCause {
	c := dnssecCause{Detail: detail}
	if i := strings.Index(detail, " failed"); i > 0 && i < 200 {
		c.Lookup = detail[:i]
	}
	for _, p := range dnssecPhrases {
		if strings.Contains(detail, p) {
			c.Phrase = p
			break
		}
	}
	if m := reForKey.FindStringSubmatch(detail); m != nil {
		c.Zone = strings.ToLower(m[1])
	} else if m := reKeyMarked.FindStringSubmatch(detail); m != nil {
		c.Zone = strings.ToLower(m[1])
	}
	if m := reForDS.FindStringSubmatch(detail); m != nil {
		c.DSName = strings.ToLower(m[1])
	}
	if m := reQName.FindStringSubmatch(detail); m != nil {
		c.Name = strings.ToLower(m[1])
	}
	c.Fix = c.fix()
	return c
}

// parent is the name one label up: the zone that holds a zone's DS.
func parent(zone string) string {
	if _, p, ok := strings.Cut(zone, "."); ok && p != "" {
		return p
	}
	return "the root"
}

// where names the zone to fix in words.
func (c dnssecCause) where() string {
	switch {
	case c.Zone != "":
		return "the zone " + c.Zone
	case c.Name != "":
		return "the zone that serves " + c.Name
	}
	return "the zone that serves the failing name"
}

// fix says which zone's signatures, keys or DS to fix, and how.
func (c dnssecCause) fix() string {
	switch c.Phrase {
	case resolver.ReasonSigExpired:
		return "The signatures (RRSIGs) of " + c.where() + " have expired. Re-sign the zone now, then find out why the signer stopped (a stopped cron job, inline signing switched off, a hidden primary no longer transferring) and make sure signatures are refreshed well before they expire."
	case resolver.ReasonSigNotYetValid:
		return "The signatures of " + c.where() + " are not valid yet: their inception date lies in the future. Check the clock of the signing host, and re-sign with an inception date in the past (most signers back-date it by an hour)."
	case resolver.ReasonSigInvalid:
		return "The signatures of " + c.where() + " do not verify. Re-sign the zone and make sure every authoritative server serves the same, freshly signed version (a server left on an old serial, or records edited after signing, cause this)."
	case resolver.ReasonDSMismatch:
		if c.Zone != "" {
			return "The DS record of " + c.Zone + " in its parent zone (" + parent(c.Zone) + ", at your registrar or the parent's operator) matches no DNSKEY that " + c.Zone + " publishes. Publish a DS for the zone's current key-signing key (dnssec-dsfromkey or your DNS provider shows it), or, if you rolled the key, put the old key back until the new DS is live at the parent."
		}
		return "The DS record in the parent zone matches no DNSKEY of " + c.where() + ". Publish a DS for the current key-signing key at the registrar, or put the old key back until it is."
	case resolver.ReasonDNSKEYMissing:
		return "The parent holds a DS for " + c.where() + ", but the zone serves no DNSKEY matching it. Publish the zone's DNSKEY RRset and sign the zone, or, if you meant to turn DNSSEC off, remove the DS at the registrar first and wait for its TTL."
	case resolver.ReasonRRSIGMissing:
		return "Answers from " + c.where() + " arrive without signatures although the zone is signed (its parent holds a DS). Make sure every authoritative server serves the signed zone, and that nothing between them and the Internet strips RRSIG records."
	case resolver.ReasonNoZoneKeyBit:
		return "A DNSKEY of " + c.where() + " lacks the zone key bit (flags 256 or 257). Generate the keys with a DNSSEC tool and re-sign."
	case resolver.ReasonDenialMissing:
		n := c.DSName
		if n == "" {
			n = c.Name
		}
		if n != "" {
			n = " of " + n
		}
		return "The name servers of " + c.where() + " deny the existence" + n + " without the NSEC or NSEC3 records that prove it. Re-sign the zone so that denials carry their proof, and check that every server runs a DNSSEC-aware server on the signed zone. A TLSA query must get a proven NODATA or NXDOMAIN when there is no record."
	case resolver.ReasonNSEC3Iterations:
		return "The NSEC3 parameters of " + c.where() + " use more iterations than validators accept. Re-sign with 0 extra iterations and no salt (RFC 9276)."
	case resolver.ReasonNoAuthority, resolver.ReasonNetworkError:
		return "No authoritative server of " + c.where() + " could be reached. Check that the NS records and glue point at running servers that answer over UDP and TCP on port 53."
	case resolver.ReasonFiltered:
		return "The resolver reports the answer as forged or filtered: the failure may lie between daned and the authority rather than in " + c.where() + "."
	}
	return "Validation of " + c.where() + " failed. Check its DS at the parent, its DNSKEYs and its signatures, for instance with dig +dnssec or a DNSSEC debugger."
}
