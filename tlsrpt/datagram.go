package tlsrpt

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// The datagrams of libtlsrpt, the TLSRPT client library of sys4 that
// Postfix 3.10 and later links (smtp_tlsrpt_enable = yes): one JSON
// object per delivery attempt, sent to a UNIX datagram socket. Built by
// libtlsrpt.c (github.com/sys4/libtlsrpt, 0.5.1rc2) and read by the
// collector of tlsrpt-reporter (github.com/sys4/tlsrpt-reporter 0.6.0rc2,
// tlsrpt_reporter/tlsrpt.py: TLSRPTCollectdSQLite._add_policy, and the
// name maps in TLSRPTReportd.render_report):
//
//	{"dpv": "1",                  datagram protocol version, always the string "1" (since 0.5.0)
//	 "d": "example.com",          the domain whose TLSRPT record the MTA found: the report is for it
//	 "pr": "v=TLSRPTv1; rua=…",   that TLSRPT record, as found
//	 "policies": [{               one or more, never none (the library refuses to send none)
//	    "policy-type": 1,         1 tlsa, 2 sts, 9 no-policy-found (a number)
//	    "policy-domain": "…",     left out when the MTA passed none
//	    "policy-string": ["…"],   left out when empty
//	    "mx-host": ["…"],         left out when empty
//	    "failure-details": [{     left out when empty
//	        "c": 202,             the result type as a number, 201-205 and 301-306 (tlsrpt.h, tlsrpt_failure_t)
//	        "s": "…",             sending-mta-ip         } each left out
//	        "n": "…",             receiving-mx-hostname  } when the MTA
//	        "h": "…",             receiving-mx-helo      } passed none
//	        "r": "…",             receiving-ip           }
//	        "a": "…",             additional-information }
//	        "f": "…"}],           failure-reason-code    }
//	    "t": 1,                   the number of failure details
//	    "f": 1}]}                 the final result: 0 success, 1 failure
//
// A datagram carries no time: the collector counts it on the day it
// arrives. Strings are escaped by the library byte by byte: bytes
// above 127 are passed as they are, so a datagram is not always valid
// UTF-8 (encoding/json replaces such bytes with U+FFFD).
//
// Postfix (src/tls/tlsrpt_wrapper.c, trw_report_success and
// trw_report_failure) sends one datagram per SMTP session, with one
// policy and, on failure, exactly one failure detail: the first failure
// seen, the one closest to the root cause. Its TLSA policy domain is the
// TLSA base domain (the MX host); its no-policy-found policy has the
// recipient domain, or, in Postfix releases before the domain was filled
// in, no policy domain at all.

// MaxDatagram is the longest datagram ParseDatagram reads. Postfix sends
// a few hundred bytes; the longest honest one (many TLSA records or
// MTA-STS mx lines) is a few kilobytes.
const MaxDatagram = 64 << 10

// ErrMalformed wraps the errors of datagrams that are not the JSON
// libtlsrpt writes: not JSON, a field of the wrong JSON type, a missing
// field, another protocol version. It wraps ErrInvalid; an error of
// ParseDatagram that is not ErrMalformed is a well-formed datagram whose
// content cannot be counted (an unknown code, a bad domain).
var ErrMalformed = fmt.Errorf("%w: malformed datagram", ErrInvalid)

// Datagram is one libtlsrpt datagram, parsed.
type Datagram struct {
	// Domain is "d": the domain whose TLSRPT record the MTA found and
	// the report is for (the recipient domain; for DANE it differs from
	// the policy domain, the MX host). Lower case, no trailing dot.
	Domain string
	// Record is "pr": that TLSRPT record ("v=TLSRPTv1; rua=…") as the
	// MTA found it, not checked here.
	Record string
	// Sessions are what the datagram counts: one per policy, each with
	// that policy, at the arrival time.
	Sessions []Session
}

// ParseDatagram parses one libtlsrpt datagram (the format above) that
// arrived at now, and returns the sessions to count: one per policy, as
// tlsrpt-reporter counts them (a successful or a failed session per
// policy, by "f").
//
// A failed policy's session carries the first failure detail; further
// details of the same policy are not counted (a Session has one result
// type; libtlsrpt allows several, Postfix never sends more than one). A
// successful policy's session carries no detail even when the datagram
// lists some (libtlsrpt allows that too). A failed policy without a
// failure detail is refused: there is no result type to count it under.
//
// A no-policy-found policy without a policy domain gets Domain, the
// recipient domain (RFC 8460 §4.4). Domains are lower-cased and lose one
// trailing dot. Every session passes Session.Check.
//
// The datagram is counted whole or not at all: any error refuses all of
// its sessions. Every error about the datagram wraps ErrInvalid, and
// ErrMalformed when the datagram is not the JSON libtlsrpt writes.
func ParseDatagram(b []byte, now time.Time) (Datagram, error) {
	if len(b) > MaxDatagram {
		return Datagram{}, malformed("%d bytes, over the limit of %d", len(b), MaxDatagram)
	}
	if now.IsZero() {
		return Datagram{}, errors.New("tlsrpt: ParseDatagram needs the arrival time")
	}
	var w wireDatagram
	if err := json.Unmarshal(b, &w); err != nil {
		return Datagram{}, jsonError(err)
	}
	switch {
	case w.DPV == nil:
		return Datagram{}, malformed(`no "dpv" (libtlsrpt before 0.5.0 is not supported)`)
	case *w.DPV != "1":
		return Datagram{}, malformed(`datagram protocol version "dpv" is %q, want "1"`, short(*w.DPV))
	case w.Domain == nil:
		return Datagram{}, malformed(`no domain "d"`)
	case w.Record == nil:
		return Datagram{}, malformed(`no TLSRPT record "pr"`)
	case len(w.Policies) == 0:
		return Datagram{}, malformed(`no "policies"`)
	}
	domain, err := datagramDomain(*w.Domain)
	if err != nil {
		return Datagram{}, invalidf("domain %q: %v", short(*w.Domain), err)
	}
	d := Datagram{Domain: domain, Record: *w.Record, Sessions: make([]Session, 0, len(w.Policies))}
	for i, p := range w.Policies {
		s, err := p.session(domain, now)
		if err != nil {
			if len(w.Policies) > 1 {
				err = fmt.Errorf("%w (policy %d of %d)", err, i+1, len(w.Policies))
			}
			return Datagram{}, err
		}
		d.Sessions = append(d.Sessions, s)
	}
	return d, nil
}

// The policy types of libtlsrpt (tlsrpt.h, tlsrpt_policy_type_t), as
// tlsrpt-reporter names them.
var datagramPolicyTypes = map[int]PolicyType{
	1: PolicyTLSA,
	2: PolicySTS,
	9: PolicyNone,
}

// The failure codes of libtlsrpt (tlsrpt.h, tlsrpt_failure_t), mapped as
// tlsrpt-reporter maps them to the result types of RFC 8460 §4.3. Note
// that 203 is not-trusted and 204 expired, not RFC 8460's order.
var datagramResults = map[int]ResultType{
	201: ResultSTARTTLSNotSupported,
	202: ResultCertificateHostMismatch,
	203: ResultCertificateNotTrusted,
	204: ResultCertificateExpired,
	205: ResultValidationFailure,
	301: ResultSTSPolicyFetchError,
	302: ResultSTSPolicyInvalid,
	303: ResultSTSWebPKIInvalid,
	304: ResultTLSAInvalid,
	305: ResultDNSSECInvalid,
	306: ResultDANERequired,
}

// wireDatagram is the datagram as JSON. Pointers tell a missing field
// from an empty one.
type wireDatagram struct {
	DPV      *string      `json:"dpv"`
	Domain   *string      `json:"d"`
	Record   *string      `json:"pr"`
	Policies []wirePolicy `json:"policies"`
}

type wirePolicy struct {
	Type     *int          `json:"policy-type"`
	Domain   *string       `json:"policy-domain"`
	Strings  []string      `json:"policy-string"`
	MXHosts  []string      `json:"mx-host"`
	Failures []wireFailure `json:"failure-details"`
	Count    *int          `json:"t"`
	Final    *int          `json:"f"`
}

type wireFailure struct {
	Code           *int   `json:"c"`
	SendingMTAIP   string `json:"s"`
	ReceivingMX    string `json:"n"`
	ReceivingHELO  string `json:"h"`
	ReceivingIP    string `json:"r"`
	AdditionalInfo string `json:"a"`
	FailureCode    string `json:"f"`
}

func (p *wirePolicy) session(domain string, now time.Time) (Session, error) {
	if p.Type == nil {
		return Session{}, malformed(`a policy without "policy-type"`)
	}
	typ, ok := datagramPolicyTypes[*p.Type]
	if !ok {
		return Session{}, invalidf("policy type %d is not 1 (tlsa), 2 (sts) or 9 (no-policy-found)", *p.Type)
	}
	if p.Final == nil {
		return Session{}, malformed(`a policy without final result "f"`)
	}
	if *p.Final != 0 && *p.Final != 1 {
		return Session{}, invalidf(`final result "f" is %d, want 0 (success) or 1 (failure)`, *p.Final)
	}
	if p.Count != nil && *p.Count != len(p.Failures) {
		return Session{}, invalidf(`failure count "t" is %d but %d failure details follow`, *p.Count, len(p.Failures))
	}
	s := Session{Time: now, Policy: Policy{Type: typ, Strings: p.Strings, MXHosts: p.MXHosts}, Success: *p.Final == 0}
	switch {
	case p.Domain != nil:
		d, err := datagramDomain(*p.Domain)
		if err != nil {
			return Session{}, invalidf("policy domain %q: %v", short(*p.Domain), err)
		}
		s.Policy.Domain = d
	case typ == PolicyNone:
		s.Policy.Domain = domain
	default:
		return Session{}, malformed(`a %s policy without "policy-domain"`, typ)
	}
	for i, f := range p.Failures {
		if f.Code == nil {
			return Session{}, malformed(`failure detail %d without code "c"`, i+1)
		}
		if _, ok := datagramResults[*f.Code]; !ok {
			return Session{}, invalidf("failure code %d is not one of 201-205, 301-306", *f.Code)
		}
	}
	if !s.Success {
		if len(p.Failures) == 0 {
			return Session{}, invalidf("a failed policy without failure details")
		}
		f := p.Failures[0]
		s.Result = datagramResults[*f.Code]
		s.SendingMTAIP = f.SendingMTAIP
		s.ReceivingMX = f.ReceivingMX
		s.ReceivingHELO = f.ReceivingHELO
		s.ReceivingIP = f.ReceivingIP
		s.FailureCode = f.FailureCode
		s.AdditionalInfo = f.AdditionalInfo
	}
	if err := s.Check(); err != nil {
		return Session{}, err
	}
	return s, nil
}

// datagramDomain lower-cases a domain and drops one trailing dot, as
// tlsrpt-reporter's normalize_domain_name does, and refuses what is not
// a host name in A-label form: MTAs send A-labels (RFC 8460 §4.4).
func datagramDomain(s string) (string, error) {
	s = strings.ToLower(strings.TrimSuffix(s, "."))
	if s == "" {
		return "", errors.New("empty")
	}
	if len(s) > maxDomain {
		return "", fmt.Errorf("longer than %d bytes", maxDomain)
	}
	label := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if label == 0 {
				return "", errors.New("an empty label")
			}
			label = 0
			continue
		case c <= ' ' || c >= 0x7f || c == '/':
			return "", fmt.Errorf("byte %#02x is not in a host name", c)
		}
		if label++; label > 63 {
			return "", errors.New("a label longer than 63 bytes")
		}
	}
	if label == 0 {
		return "", errors.New("an empty label")
	}
	return s, nil
}

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
}

func invalidf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// jsonError says what encoding/json found without naming Go types.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return malformed("not JSON: %v (at byte %d)", syn, syn.Offset)
	case errors.As(err, &typ):
		where := typ.Field
		if where == "" {
			where = "the datagram"
		}
		return malformed("%s is %s, want %s", where, article(typ.Value), jsonKind(typ.Type))
	default:
		return malformed("not JSON: %v", err)
	}
}

func article(noun string) string {
	if noun != "" && strings.ContainsRune("aeiou", rune(noun[0])) {
		return "an " + noun
	}
	return "a " + noun
}

func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int:
		return "an integer"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "an array"
	case reflect.Struct:
		return "an object"
	}
	return t.Kind().String()
}
