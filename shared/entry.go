package shared

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"time"
)

// An entry as stored in Redis:
//
//	version (1 byte) | expiry (8 bytes, Unix nanoseconds, big endian) | payload | MAC (32 bytes)
//
// MAC = HMAC-SHA256(secret, domainSep | version | len(key) | key | expiry | payload).
// The MAC covers the Redis key, so that an entry copied to another key is
// refused; the absolute expiry, so that an entry replayed (or re-stored
// with a longer Redis TTL) is refused once it has expired; and the format
// version, so that a later format is never read as this one.
const (
	entryVersion = 1
	headerLen    = 1 + 8
	macLen       = sha256.Size
)

// domainSep separates the MACs of entries from those of other messages
// under the same secret (invalidations are sealed the same way, under
// their channel's name as the key).
const domainSep = "daned shared entry\x00"

// Reasons an entry is refused, the label of the rejected counter.
const (
	rejectMalformed = "malformed" // too short or an unknown format version
	rejectForged    = "forged"    // the MAC does not verify: altered, moved to another key, or another secret
	rejectExpired   = "expired"   // authentic, but past its expiry (a replay, or clocks apart)
)

var (
	errMalformed = errors.New(rejectMalformed)
	errForged    = errors.New(rejectForged)
	errExpired   = errors.New(rejectExpired)
)

// minSecret is the shortest shared secret accepted: 256 bits, the size of
// HMAC-SHA256's output.
const minSecret = 32

func mac(secret []byte, key string, head []byte, payload []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(domainSep))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(key)))
	m.Write(head[:1])
	m.Write(n[:])
	m.Write([]byte(key))
	m.Write(head[1:headerLen])
	m.Write(payload)
	return m.Sum(nil)
}

// seal returns the entry for payload at key, valid until expires.
func seal(secret []byte, key string, payload []byte, expires time.Time) []byte {
	b := make([]byte, headerLen, headerLen+len(payload)+macLen)
	b[0] = entryVersion
	binary.BigEndian.PutUint64(b[1:headerLen], uint64(expires.UnixNano()))
	b = append(b, payload...)
	return append(b, mac(secret, key, b[:headerLen], payload)...)
}

// open verifies an entry read at key and returns its payload and expiry.
// The payload aliases b.
func open(secret []byte, key string, b []byte, now time.Time) ([]byte, time.Time, error) {
	if len(b) < headerLen+macLen || b[0] != entryVersion {
		return nil, time.Time{}, errMalformed
	}
	payload := b[headerLen : len(b)-macLen]
	if !hmac.Equal(b[len(b)-macLen:], mac(secret, key, b[:headerLen], payload)) {
		return nil, time.Time{}, errForged
	}
	expires := time.Unix(0, int64(binary.BigEndian.Uint64(b[1:headerLen])))
	if !now.Before(expires) {
		return nil, time.Time{}, errExpired
	}
	return payload, expires, nil
}
