package session

import (
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// jsonValid reports whether s is one JSON value.
func jsonValid(s string) bool { return json.Valid([]byte(s)) }

// rewriteJSON encodes the JSON text s (one valid value) again, compactly
// and in its own order (duplicate keys included), passing every string
// through str — key says whether it is an object key — and every number
// through num, when num is set: a number num changes is written as the JSON
// string num returns. The first error of str or num stops it.
func rewriteJSON(s string, str func(v string, key bool) (string, error), num func(n string) (string, error)) (string, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var b strings.Builder
	b.Grow(len(s))
	// Each open container: whether it is an object, and how many keys and
	// values it has had.
	type frame struct {
		object bool
		n      int
	}
	var stack []frame
	// before writes what separates the next token from the one before it
	// and reports whether the next token is an object key.
	before := func() bool {
		if len(stack) == 0 {
			return false
		}
		f := &stack[len(stack)-1]
		key := f.object && f.n%2 == 0
		switch {
		case f.object && !key:
			b.WriteByte(':')
		case f.n > 0:
			b.WriteByte(',')
		}
		return key
	}
	done := func() {
		if len(stack) > 0 {
			stack[len(stack)-1].n++
		}
	}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				before()
				b.WriteByte(byte(v))
				stack = append(stack, frame{object: v == '{'})
			default:
				b.WriteByte(byte(v))
				stack = stack[:len(stack)-1]
				done()
			}
		case string:
			key := before()
			out, err := str(v, key)
			if err != nil {
				return "", err
			}
			writeJSONString(&b, out)
			done()
		case json.Number:
			before()
			out := string(v)
			if num != nil {
				if out, err = num(out); err != nil {
					return "", err
				}
			}
			if out == string(v) {
				b.WriteString(out)
			} else {
				writeJSONString(&b, out)
			}
			done()
		case bool:
			before()
			b.WriteString(strconv.FormatBool(v))
			done()
		case nil:
			before()
			b.WriteString("null")
			done()
		}
	}
	return b.String(), nil
}

// writeJSONString writes s as a JSON string, escaping what JSON requires
// (and U+2028, U+2029) but not HTML characters; bytes that are not UTF-8
// become U+FFFD.
func writeJSONString(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			case c < 0x20:
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xF])
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\ufffd`)
		case r == '\u2028':
			b.WriteString(`\u2028`)
		case r == '\u2029':
			b.WriteString(`\u2029`)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
}

// patchJSON passes every string of the JSON text s (one valid value)
// through str — key says whether it is an object key — and every number
// through num, and writes what they change in place: the rest of s, its
// spacing and order included, is kept byte for byte. A number num changes
// is written as the JSON string num returns. It returns s itself when
// nothing changed. The first error of str or num stops it.
func patchJSON(s string, str func(v string, key bool) (string, error), num func(n string) (string, error)) (string, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var b strings.Builder
	last := 0
	// For each open container: whether it is an object, and how many keys
	// and values it has had.
	type frame struct {
		object bool
		n      int
	}
	var stack []frame
	done := func() {
		if len(stack) > 0 {
			stack[len(stack)-1].n++
		}
	}
	patch := func(from, to int, out string) {
		if b.Len() == 0 {
			b.Grow(len(s) + 16)
		}
		b.WriteString(s[last:from])
		writeJSONString(&b, out)
		last = to
	}
	for {
		prev := int(dec.InputOffset())
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
		end := int(dec.InputOffset())
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				stack = append(stack, frame{object: v == '{'})
			} else {
				stack = stack[:len(stack)-1]
				done()
			}
		case string:
			key := len(stack) > 0 && stack[len(stack)-1].object && stack[len(stack)-1].n%2 == 0
			out, err := str(v, key)
			if err != nil {
				return "", err
			}
			if out != v {
				patch(prev+strings.IndexByte(s[prev:end], '"'), end, out)
			}
			done()
		case json.Number:
			if num != nil {
				out, err := num(string(v))
				if err != nil {
					return "", err
				}
				if out != string(v) {
					patch(prev+strings.IndexAny(s[prev:end], "-0123456789"), end, out)
				}
			}
			done()
		default:
			done()
		}
	}
	if last == 0 {
		return s, nil
	}
	b.WriteString(s[last:])
	return b.String(), nil
}
