package session

import (
	"crypto/sha1"
	"encoding/hex"
	"strings"
)

// IsUUID reports whether s is a UUID in its canonical textual form: 32
// hexadecimal digits in groups of 8-4-4-4-12 separated by hyphens, in either
// case. It is the form the schema's "uuid" format accepts.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// uuidNamespace is the namespace of the name-based UUIDs the converters
// derive: the version-5 UUID of the URL "https://github.com/debrief-go/debrief/session"
// in the RFC 9562 URL namespace.
var uuidNamespace = uuidV5([16]byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8},
	"https://github.com/debrief-go/debrief/session")

// derivedUUID returns a name-based (version 5, SHA-1) UUID of parts within
// the package's namespace: the same parts always give the same UUID, and
// different parts practically never collide. Parts are joined with NUL
// bytes, so ("a", "b/c") and ("a/b", "c") differ.
func derivedUUID(parts ...string) string {
	u := uuidV5(uuidNamespace, strings.Join(parts, "\x00"))
	return formatUUID(u)
}

func uuidV5(ns [16]byte, name string) [16]byte {
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return u
}

func formatUUID(u [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// uuidOrDerived returns id lower-cased when it is a UUID, and otherwise a
// UUID derived from kind and id.
func uuidOrDerived(kind, id string) string {
	if IsUUID(id) {
		return strings.ToLower(id)
	}
	return derivedUUID(kind, id)
}
