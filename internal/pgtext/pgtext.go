// Package pgtext writes strings and JSON as PostgreSQL can keep them: its
// text and jsonb types refuse the NUL character and invalid UTF-8, which a
// model's answer or a caller's lookup may hold.
package pgtext

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Storable reports whether PostgreSQL can take every s as text: valid UTF-8
// without NUL. Nothing stored holds a string it cannot take, so a lookup by
// one finds nothing — as it would in memory — rather than failing.
func Storable(ss ...string) bool {
	for _, s := range ss {
		if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

// StorableOnly returns the strings of ss that [Storable] accepts.
func StorableOnly(ss []string) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if Storable(s) {
			out = append(out, s)
		}
	}
	return out
}

// Text returns s as PostgreSQL can keep it: each byte of invalid UTF-8
// and each NUL written as U+FFFD, as [JSON] (and encoding/json) writes
// them.
func Text(s string) string {
	if Storable(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == 0 || r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// JSON returns v as JSON that a jsonb column takes: encoding/json already
// writes invalid UTF-8 as U+FFFD; each NUL (\u0000) of a string or a member
// name is written as U+FFFD too.
func JSON(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil || !bytes.Contains(raw, []byte(`\u0000`)) {
		return raw, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	return json.Marshal(withoutNUL(doc))
}

// withoutNUL replaces the NUL characters of every string and member name
// of a decoded JSON value.
func withoutNUL(v any) any {
	switch x := v.(type) {
	case string:
		return strings.ReplaceAll(x, "\x00", "\uFFFD")
	case []any:
		for i := range x {
			x[i] = withoutNUL(x[i])
		}
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[strings.ReplaceAll(k, "\x00", "\uFFFD")] = withoutNUL(e)
		}
		return out
	}
	return v
}
