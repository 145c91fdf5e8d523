// Package uuid makes and checks the UUIDs debrief's packages use: random
// ones (version 4) for new objects, name-based ones (version 5) where an ID
// must be derived reproducibly, and the check of the canonical form.
package uuid

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
)

// New returns a random UUID (version 4) from crypto/rand, lower case.
func New() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // never fails
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return Format(u)
}

// V5 returns the name-based UUID (version 5, RFC 9562) of name in the
// namespace ns.
func V5(ns [16]byte, name string) [16]byte {
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return u
}

// Format writes u in the canonical form, lower case.
func Format(u [16]byte) string {
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

// Valid reports whether s is a UUID in its canonical textual form: 32
// hexadecimal digits, in either case, grouped 8-4-4-4-12 by hyphens — the
// form JSON Schema's "uuid" format accepts.
func Valid(s string) bool {
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
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
