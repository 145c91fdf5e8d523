// Package jsoncheck finds what encoding/json accepts silently in a JSON
// document: a member name given twice in one object (the decoder keeps the
// last), text that is not valid UTF-8 and escapes of lone surrogates (the
// decoder turns both into U+FFFD).
package jsoncheck

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/debrief-go/debrief/internal/schemaval"
)

// A Problem is the first thing found wrong, located by a JSON path.
type Problem struct {
	// Path locates the offending value or member, from the root given to
	// [Check]: "$.conversations[2].transcript[0].role".
	Path string
	// Message says what is wrong.
	Message string
}

// Error renders the problem as "path: message".
func (p *Problem) Error() string { return p.Path + ": " + p.Message }

// maxLinearKeys is how many member names of one object are compared one by
// one before a map takes over.
const maxLinearKeys = 16

// Check walks data, which must be one syntactically valid JSON value (the
// decoder has said so), and returns the first duplicate member name,
// invalid UTF-8 or lone surrogate escape it finds, or nil. Member names are
// compared after unescaping, so "a" and "\u0061" are the same name. root is
// the path of data itself ("$").
func Check(data []byte, root string) *Problem {
	return CheckLimits(data, root, Limits{})
}

// Limits bound what a document may hold before it is decoded: decoding
// into Go values costs memory per value, far more than the value's text
// ("0," is two bytes, an element of a []any sixteen and more), so a small
// body of many tiny values can cost much more than its size.
type Limits struct {
	// MaxValues bounds the values of the document — every string, number,
	// literal, object and array, member names not counted; 0 for no bound.
	MaxValues int
	// MaxDepth bounds the nesting of objects and arrays (a flat object is
	// 1); 0 for no bound.
	MaxDepth int
}

// CheckLimits is [Check] that also refuses, at the value that crosses it,
// a document past lim.
func CheckLimits(data []byte, root string, lim Limits) *Problem {
	w := walker{b: data, lim: lim}
	if w.value() {
		return nil
	}
	if w.problem == "" {
		return nil // not valid JSON after all: the decoder reports that
	}
	return &Problem{Path: w.path(root), Message: w.problem}
}

// segment is one step of the path to the value being read.
type segment struct {
	member bool   // a member of an object, else an element of an array
	key    []byte // the member's name
	index  int    // the element's index
}

type walker struct {
	b       []byte
	i       int
	lim     Limits
	values  int
	depth   int
	stack   []segment
	keys    [][]byte // the names of the objects being read, innermost last
	problem string
}

func (w *walker) fail(msg string) bool {
	w.problem = msg
	return false
}

func (w *walker) ws() {
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

// value reads one value; false stops the walk (w.problem says why, or is
// empty when the text is not valid JSON).
func (w *walker) value() bool {
	w.ws()
	if w.i >= len(w.b) {
		return false
	}
	if w.values++; w.lim.MaxValues > 0 && w.values > w.lim.MaxValues {
		return w.fail("the document holds more than " + strconv.Itoa(w.lim.MaxValues) + " values")
	}
	switch w.b[w.i] {
	case '{':
		return w.object()
	case '[':
		return w.array()
	case '"':
		_, ok := w.str(false)
		return ok
	}
	for w.i < len(w.b) { // a number, true, false or null
		switch w.b[w.i] {
		case ',', ']', '}', ' ', '\t', '\n', '\r':
			return true
		}
		w.i++
	}
	return true
}

// enter counts one more level of nesting, and leave one less.
func (w *walker) enter() bool {
	if w.depth++; w.lim.MaxDepth > 0 && w.depth > w.lim.MaxDepth {
		return w.fail("the document nests objects and arrays more than " + strconv.Itoa(w.lim.MaxDepth) + " deep")
	}
	return true
}

func (w *walker) leave() { w.depth-- }

func (w *walker) object() bool {
	if !w.enter() {
		return false
	}
	defer w.leave()
	w.i++ // {
	first := len(w.keys)
	var set map[string]struct{}
	defer func() { w.keys = w.keys[:first] }()
	w.ws()
	if w.i < len(w.b) && w.b[w.i] == '}' {
		w.i++
		return true
	}
	for {
		w.ws()
		if w.i >= len(w.b) || w.b[w.i] != '"' {
			return false
		}
		w.stack = append(w.stack, segment{member: true})
		key, ok := w.str(true)
		w.stack[len(w.stack)-1].key = key
		if !ok {
			return false
		}
		names := w.keys[first:]
		switch {
		case set != nil:
			if _, dup := set[string(key)]; dup {
				return w.fail("the member appears more than once")
			}
			set[string(key)] = struct{}{}
		default:
			for _, k := range names {
				if bytes.Equal(k, key) {
					return w.fail("the member appears more than once")
				}
			}
			if len(names) == maxLinearKeys {
				set = make(map[string]struct{}, 2*maxLinearKeys)
				for _, k := range names {
					set[string(k)] = struct{}{}
				}
				set[string(key)] = struct{}{}
			}
		}
		w.keys = append(w.keys, key)
		w.ws()
		if w.i >= len(w.b) || w.b[w.i] != ':' {
			return false
		}
		w.i++
		if !w.value() {
			return false
		}
		w.stack = w.stack[:len(w.stack)-1]
		w.ws()
		if w.i >= len(w.b) {
			return false
		}
		switch w.b[w.i] {
		case ',':
			w.i++
		case '}':
			w.i++
			return true
		default:
			return false
		}
	}
}

func (w *walker) array() bool {
	if !w.enter() {
		return false
	}
	defer w.leave()
	w.i++ // [
	w.ws()
	if w.i < len(w.b) && w.b[w.i] == ']' {
		w.i++
		return true
	}
	w.stack = append(w.stack, segment{})
	for n := 0; ; n++ {
		w.stack[len(w.stack)-1].index = n
		if !w.value() {
			return false
		}
		w.ws()
		if w.i >= len(w.b) {
			return false
		}
		switch w.b[w.i] {
		case ',':
			w.i++
		case ']':
			w.i++
			w.stack = w.stack[:len(w.stack)-1]
			return true
		default:
			return false
		}
	}
}

// str reads a string at w.b[w.i] and checks its text. When name is true it
// returns the name it spells (a slice of the input when nothing is
// escaped); a member name that fails the check is still returned, so that
// the path can show where the problem is.
func (w *walker) str(name bool) ([]byte, bool) {
	start := w.i + 1
	escaped := false
	for w.i = start; w.i < len(w.b); {
		c := w.b[w.i]
		switch {
		case c == '"':
			raw := w.b[start:w.i]
			w.i++
			if !name || !escaped {
				return raw, true
			}
			var s string
			if json.Unmarshal(w.b[start-1:w.i], &s) != nil {
				return raw, false
			}
			return []byte(s), true
		case c == '\\':
			escaped = true
			if w.i+1 < len(w.b) && w.b[w.i+1] == 'u' {
				if !w.unicodeEscape() {
					return w.b[start:min(w.i, len(w.b))], false
				}
				continue
			}
			w.i += 2
		case c < utf8.RuneSelf:
			w.i++
		default:
			r, size := utf8.DecodeRune(w.b[w.i:])
			if r == utf8.RuneError && size == 1 {
				w.problem = "the text is not valid UTF-8 (byte " + strconv.Itoa(w.i) + ")"
				return w.b[start:w.i], false
			}
			w.i += size
		}
	}
	return nil, false
}

// unicodeEscape reads \uXXXX at w.b[w.i] (and the low surrogate that must
// follow a high one) and refuses a lone surrogate.
func (w *walker) unicodeEscape() bool {
	r, ok := hex4(w.b, w.i+2)
	if !ok {
		return false
	}
	at := w.i
	w.i += 6
	if !utf16.IsSurrogate(r) {
		return true
	}
	if r < 0xDC00 && w.i+1 < len(w.b) && w.b[w.i] == '\\' && w.b[w.i+1] == 'u' {
		if lo, ok := hex4(w.b, w.i+2); ok && lo >= 0xDC00 && lo <= 0xDFFF {
			w.i += 6
			return true
		}
	}
	w.problem = "the text escapes a lone surrogate, which is no character (byte " + strconv.Itoa(at) + ")"
	return false
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[i:i+4]), 16, 32)
	return rune(n), err == nil
}

// path renders the path to the value being read when the walk stopped.
func (w *walker) path(root string) string {
	var b []byte
	b = append(b, root...)
	for _, s := range w.stack {
		if s.member {
			b = append(b, schemaval.Key(string(s.key))...)
		} else {
			b = append(b, schemaval.Index(s.index)...)
		}
	}
	return string(b)
}
