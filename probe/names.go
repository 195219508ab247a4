package probe

import "crypto/tls"

// VersionName returns the name of a TLS version for reports, such as
// "TLS 1.3". Zero (no TLS) is "none"; unknown values are shown in hex as
// tls.VersionName does.
func VersionName(v uint16) string {
	if v == 0 {
		return "none"
	}
	return tls.VersionName(v)
}

// CipherSuiteName returns the IANA name of a cipher suite for reports, such
// as "TLS_AES_128_GCM_SHA256". Zero (no TLS) is "none"; unknown values are
// shown in hex as tls.CipherSuiteName does.
func CipherSuiteName(id uint16) string {
	if id == 0 {
		return "none"
	}
	return tls.CipherSuiteName(id)
}
