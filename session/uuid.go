package session

import (
	"strings"

	"github.com/debrief-go/debrief/internal/uuid"
)

// IsUUID reports whether s is a UUID in its canonical textual form: 32
// hexadecimal digits in groups of 8-4-4-4-12 separated by hyphens, in either
// case. It is the form the schema's "uuid" format accepts.
func IsUUID(s string) bool { return uuid.Valid(s) }

// uuidNamespace is the namespace of the name-based UUIDs the converters
// derive: the version-5 UUID of the URL "https://github.com/debrief-go/debrief/session"
// in the RFC 9562 URL namespace.
var uuidNamespace = uuid.V5([16]byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8},
	"https://github.com/debrief-go/debrief/session")

// derivedUUID returns a name-based (version 5, SHA-1) UUID of parts within
// the package's namespace: the same parts always give the same UUID, and
// different parts practically never collide. Parts are joined with NUL
// bytes, so ("a", "b/c") and ("a/b", "c") differ.
func derivedUUID(parts ...string) string {
	return uuid.Format(uuid.V5(uuidNamespace, strings.Join(parts, "\x00")))
}

// uuidOrDerived returns id lower-cased when it is a UUID, and otherwise a
// UUID derived from kind and id.
func uuidOrDerived(kind, id string) string {
	if IsUUID(id) {
		return strings.ToLower(id)
	}
	return derivedUUID(kind, id)
}
