#!/usr/bin/env python3
# Writes the *.json datagrams of this directory: python3 gen.py .
#
# DR mirrors how libtlsrpt.c (github.com/sys4/libtlsrpt 0.5.x) builds a
# datagram, byte for byte: tlsrpt_init_delivery_request,
# tlsrpt_init_policy, tlsrpt_add_policy_string, tlsrpt_add_mx_host_pattern,
# tlsrpt_add_delivery_request_failure, tlsrpt_finish_policy and
# tlsrpt_finish_delivery_request, with the escaping of
# create-json-escape-initializer-list.c. postfix_success and
# postfix_failure make the calls Postfix's trw_report_success and
# trw_report_failure make (src/tls/tlsrpt_wrapper.c); the multi-policy
# cases are the library's doc/example.txt. The malformed-* and invalid-*
# cases are edits of good datagrams. The *.golden files are written by
# `go test ./tlsrpt -run TestParseDatagramGolden -update`.
import os, sys

def esc(s: bytes) -> bytes:
    out = bytearray()
    for c in s:
        if c == 8: out += b'\\b'
        elif c == 12: out += b'\\f'
        elif c == 10: out += b'\\n'
        elif c == 13: out += b'\\r'
        elif c == 9: out += b'\\t'
        elif c == 0x5c: out += b'\\\\'
        elif c == 0x22: out += b'\\"'
        elif c == 127 or c < 32: out += b'\\u%04x' % c
        else: out.append(c)
    return bytes(out)

def b(s):
    return s if isinstance(s, bytes) else s.encode()

class DR:
    def __init__(self, domain, record):
        self.m = bytearray(b'{')
        self.m += b'"dpv": "' + esc(b"1") + b'"'
        self.m += b',"d": "' + esc(b(domain)) + b'"'
        self.m += b',"pr": "' + esc(b(record)) + b'"'
        self.npol = 0
    def init_policy(self, ptype, pdomain):
        self.ps, self.mx, self.fd = bytearray(), bytearray(), bytearray()
        self.nfail = 0
        self.m += b',"policies":[{' if self.npol == 0 else b',{'
        self.m += b'"policy-type":%d' % ptype
        if pdomain is not None:
            self.m += b',"policy-domain": "' + esc(b(pdomain)) + b'"'
        self.npol += 1
    def policy_string(self, s):
        self.ps += (b',' if self.ps else b'') + b'"' + esc(b(s)) + b'"'
    def mx_host(self, s):
        self.mx += (b',' if self.mx else b'') + b'"' + esc(b(s)) + b'"'
    def failure(self, code, s=None, n=None, h=None, r=None, a=None, f=None):
        self.nfail += 1
        self.fd += (b',' if self.fd else b'') + b'{' + b'"c":%d' % code
        for k, v in (("s", s), ("n", n), ("h", h), ("r", r), ("a", a), ("f", f)):
            if v is not None:
                self.fd += b',"' + k.encode() + b'": "' + esc(b(v)) + b'"'
        self.fd += b'}'
    def finish_policy(self, final):
        if self.ps: self.m += b',"policy-string":[' + self.ps + b']'
        if self.mx: self.m += b',"mx-host":[' + self.mx + b']'
        if self.fd: self.m += b',"failure-details":[' + self.fd + b']'
        self.m += b',"t":%d,"f":%d}' % (self.nfail, final)
    def finish(self):
        assert self.npol > 0
        return bytes(self.m + b']' + b'}')

TLSA, STS, NONE = 1, 2, 9
REC = "v=TLSRPTv1; rua=mailto:tlsrpt@example.com"
TLSA1 = "3 1 1 8CB0FC6C527506A053F4F14C8464BEBBD6DEDE2738D11468DD953D7D6A3021F1"
TLSA2 = "2 1 1 E6D0F8A3B1C1A4A2F0B0A5D7C9E1F3A5B7C9D1E3F5A7B9C1D3E5F7A9B1C3D5E7"
STSP = ["version: STSv1", "mode: enforce", "mx: mx1.example.com", "mx: *.mail.example.net", "max_age: 604800"]
STSMX = ["mx1.example.com", "*.mail.example.net"]
EHLO = "mx1.example.com ESMTP\r\nPIPELINING\r\nSIZE 10240000\r\nSTARTTLS\r\n8BITMIME"
out = {}

def postfix_failure(name, ptype, pdomain, code, strings=(), mx=(), add=None, reason=None, ehlo=EHLO,
                    snd="192.0.2.25", host="mx1.example.com", addr="198.51.100.7", domain="example.com"):
    # trw_report_failure: one policy, one failure detail, f=1.
    dr = DR(domain, REC)
    dr.init_policy(ptype, pdomain)
    for s in strings: dr.policy_string(s)
    for m in mx: dr.mx_host(m)
    dr.failure(code, snd, host, ehlo, addr, add, reason)
    dr.finish_policy(1)
    out[name] = dr.finish()

def postfix_success(name, ptype, pdomain, strings=(), mx=(), domain="example.com"):
    # trw_report_success: one policy, no failure detail, f=0.
    dr = DR(domain, REC)
    dr.init_policy(ptype, pdomain)
    for s in strings: dr.policy_string(s)
    for m in mx: dr.mx_host(m)
    dr.finish_policy(0)
    out[name] = dr.finish()

postfix_success("success-tlsa", TLSA, "mx1.example.com", [TLSA1, TLSA2])
postfix_success("success-tlsa-no-policy-strings", TLSA, "mx1.example.com")
postfix_success("success-sts", STS, "example.com", STSP, STSMX)
postfix_success("success-no-policy-found", NONE, "example.com")
postfix_success("success-no-policy-found-without-domain", NONE, None)
postfix_success("domains-upper-case-trailing-dot", TLSA, "MX1.Example.COM.", [TLSA1], domain="Example.COM.")

postfix_failure("failure-starttls-not-supported", TLSA, "mx1.example.com", 201, [TLSA1],
                reason="STARTTLS not offered", ehlo="mx1.example.com ESMTP\r\nPIPELINING\r\nSIZE 10240000")
postfix_failure("failure-certificate-host-mismatch", STS, "example.com", 202, STSP, STSMX,
                reason="server certificate does not match mx1.example.com")
postfix_failure("failure-certificate-not-trusted", STS, "example.com", 203, STSP, STSMX,
                reason="untrusted issuer /CN=Example Private CA")
postfix_failure("failure-certificate-expired", STS, "example.com", 204, STSP, STSMX,
                reason="certificate has expired")
postfix_failure("failure-validation-failure", TLSA, "mx1.example.com", 205, [TLSA1],
                reason="no TLSA record matches the certificate chain")
postfix_failure("failure-sts-policy-fetch-error", STS, "example.com", 301, STSP, STSMX,
                add="https://mta-sts.example.com/.well-known/mta-sts.txt: HTTP 404", snd=None, host=None, addr=None, ehlo=None)
postfix_failure("failure-sts-policy-invalid", STS, "example.com", 302, STSP, STSMX,
                add="policy line 3: unknown mode", snd=None, host=None, addr=None, ehlo=None)
postfix_failure("failure-sts-webpki-invalid", STS, "example.com", 303, STSP, STSMX,
                add="mta-sts.example.com: certificate verify failed", snd=None, host=None, addr=None, ehlo=None)
postfix_failure("failure-tlsa-invalid", TLSA, "mx1.example.com", 304, [TLSA1],
                reason="all TLSA records are unusable")
postfix_failure("failure-dnssec-invalid", TLSA, "mx1.example.com", 305, [],
                reason="TLSA lookup of _25._tcp.mx1.example.com: bogus", ehlo=None)
postfix_failure("failure-dane-required", TLSA, "mx1.example.com", 306, [TLSA1],
                reason="DANE required, no usable TLSA records")
postfix_failure("failure-no-policy-found-validation", NONE, "example.com", 205,
                reason="TLS handshake failed", add="SSL_connect error: unexpected eof")
postfix_failure("failure-ipv6", TLSA, "mx1.example.com", 202, [TLSA1],
                snd="2001:db8::25", addr="2001:db8:1::7", reason="name mismatch")
postfix_failure("failure-empty-sending-ip", TLSA, "mx1.example.com", 205, [TLSA1], snd="",
                reason="getsockname failed")
postfix_failure("failure-non-utf8-additional-information", TLSA, "mx1.example.com", 205, [TLSA1],
                add=b"caf\xe9 \x01 \"quoted\" back\\slash", reason="bad bytes")

# libtlsrpt doc/example.txt, example 3: two failure details in one STS policy.
dr = DR("example.com", REC)
dr.init_policy(STS, "company-y.example")
for s in ["version: STSv1", "mode: testing", "mx: *.mail.company-y.example", "max_age: 86400"]: dr.policy_string(s)
dr.mx_host("*.mail.company-y.example"); dr.mx_host("*.mail2.company-y.example")
dr.failure(302, "1.2.3.4", "mailin.example.com", "test-ehlo.example.com", "11.22.33.44", "This is additional information", "999 TEST ERROR")
dr.failure(303, "1.2.3.5", "mailin.example.com", "test-ehlo.example.com", "11.22.33.55", "This is additional information", "999 TEST ERROR")
dr.finish_policy(1)
out["multiple-failure-details"] = dr.finish()

# example 5: two policies, both failed.
def two(name, second_final):
    dr = DR("example.com", REC)
    dr.init_policy(STS, "company-y.example")
    for s in ["version: STSv1", "mode: testing", "mx: *.mail.company-y.example", "max_age: 86400"]: dr.policy_string(s)
    dr.mx_host("*.mail.company-y.example")
    dr.failure(302, "1.2.3.4", "mailin.example.com", "test-ehlo.example.com", "11.22.33.44", "This is additional information", "999 TEST ERROR")
    dr.finish_policy(1)
    dr.init_policy(TLSA, "company-y.example")
    dr.policy_string("3 0 1 1F850A337E6DB9C609C522D136A475638CC43E1ED424F8EEC8513D747D1D085D")
    if second_final:
        dr.failure(204, "1.2.3.4", "mailin.example.com", "tes-ehlo.example.com", "11.22.33.55", "This is additional information", "999 TEST ERROR")
    dr.finish_policy(second_final)
    out[name] = dr.finish()
two("multiple-policies-failed", 1)
two("multiple-policies-mixed", 0)

# example 6 variant: the library lets a policy finish as a success with failures added.
dr = DR("example.com", REC)
dr.init_policy(STS, "example.com")
for s in STSP: dr.policy_string(s)
dr.failure(303, "192.0.2.25", "mx1.example.com", None, "198.51.100.7", None, "odd")
dr.finish_policy(0)
out["success-with-failure-details"] = dr.finish()

# Not what libtlsrpt writes, or what cannot be counted.
ok = out["failure-tlsa-invalid"]
out["malformed-not-json"] = b"hello"
out["malformed-truncated"] = ok[: len(ok) // 2]
out["malformed-top-level-array"] = b"[" + ok + b"]"
out["malformed-no-dpv"] = ok.replace(b'"dpv": "1",', b"")
out["malformed-dpv-2"] = ok.replace(b'"dpv": "1"', b'"dpv": "2"')
out["malformed-dpv-number"] = ok.replace(b'"dpv": "1"', b'"dpv": 1')
out["malformed-no-domain"] = ok.replace(b',"d": "example.com"', b"")
out["malformed-no-record"] = ok.replace(b',"pr": "' + REC.encode() + b'"', b"")
out["malformed-no-policies"] = b'{"dpv": "1","d": "example.com","pr": "' + REC.encode() + b'"}'
out["malformed-empty-policies"] = b'{"dpv": "1","d": "example.com","pr": "' + REC.encode() + b'","policies":[]}'
out["malformed-policy-type-string"] = ok.replace(b'"policy-type":1', b'"policy-type":"tlsa"')
out["malformed-no-final-result"] = ok.replace(b',"f":1}', b"}")
out["malformed-tlsa-without-policy-domain"] = ok.replace(b',"policy-domain": "mx1.example.com"', b"")
out["malformed-failure-without-code"] = ok.replace(b'{"c":304,', b"{")
out["malformed-trailing-data"] = ok + b"{}"
out["invalid-policy-type-3"] = ok.replace(b'"policy-type":1', b'"policy-type":3')
out["invalid-failure-code-901"] = ok.replace(b'"c":304', b'"c":901')
out["invalid-final-result-2"] = ok.replace(b',"f":1}', b',"f":2}')
out["invalid-failure-count-mismatch"] = ok.replace(b',"t":1,', b',"t":2,')
dr = DR("example.com", REC); dr.init_policy(TLSA, "mx1.example.com"); dr.policy_string(TLSA1); dr.finish_policy(1)
out["invalid-failed-without-details"] = dr.finish()
out["invalid-receiving-ip"] = ok.replace(b'"r": "198.51.100.7"', b'"r": "mx1.example.com"')
out["invalid-domain-space"] = ok.replace(b'"d": "example.com"', b'"d": "example .com"')
out["invalid-policy-domain-empty-label"] = ok.replace(b'"policy-domain": "mx1.example.com"', b'"policy-domain": "mx1..example.com"')
out["invalid-second-policy"] = out["multiple-policies-failed"].replace(b'"c":204', b'"c":999')

d = sys.argv[1]
os.makedirs(d, exist_ok=True)
for name, data in sorted(out.items()):
    with open(os.path.join(d, name + ".json"), "wb") as f:
        f.write(data)
print(len(out))
