package extract

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/debrief-go/debrief/internal/schemaval"
)

// A Turn is one utterance of a transcript.
type Turn struct {
	// Role says who spoke: "caller", "agent", "user", "assistant", ... —
	// any non-empty label the host uses.
	Role string `json:"role"`
	// Content is what was said.
	Content string `json:"content"`
}

// A Transcript is a conversation, first turn first.
type Transcript []Turn

// MaxRoleLen bounds the length of a turn's role.
const MaxRoleLen = 64

// Validate reports every problem of t as a [*ValidationError]; nil means t
// is valid. The transcript must have at least one turn, and every turn a
// role (at most [MaxRoleLen] bytes) and a content that are not blank. Paths
// are relative to the transcript: "$[3].content".
func (t Transcript) Validate() error {
	var v validator
	if len(t) == 0 {
		v.add(-1, "$", "the transcript is empty: at least one turn is required")
	}
	for i, turn := range t {
		at := "$" + schemaval.Index(i)
		switch {
		case strings.TrimSpace(turn.Role) == "":
			v.add(i, at+".role", "the role is missing")
		case len(turn.Role) > MaxRoleLen:
			v.add(i, at+".role", fmt.Sprintf("the role is %d bytes, more than %d", len(turn.Role), MaxRoleLen))
		}
		if !utf8.ValidString(turn.Role) || strings.IndexByte(turn.Role, 0) >= 0 {
			v.add(i, at+".role", "the text is not valid UTF-8, or holds a NUL character")
		}
		switch {
		case strings.TrimSpace(turn.Content) == "":
			v.add(i, at+".content", "the content is missing")
		case !utf8.ValidString(turn.Content) || strings.IndexByte(turn.Content, 0) >= 0:
			v.add(i, at+".content", "the text is not valid UTF-8, or holds a NUL character")
		}
	}
	return v.err()
}

// The delimiters of the transcript data block in a rendered prompt. They
// cannot occur inside the block: the JSON in it escapes every "<" and ">"
// as \u003c and \u003e.
const (
	DataBlockStart = "<transcript_json>"
	DataBlockEnd   = "</transcript_json>"
)

// RenderTranscript returns the data block a model receives a transcript
// in: DataBlockStart, a JSON object {"turns":[{"index":0,"role":...,
// "content":...},...]} on one line, and DataBlockEnd. The transcript is data,
// never instructions: encoded as JSON, with "<", ">" and "&" escaped, no
// turn's text can close the block, end a JSON string or pose as a system
// message. Turns are numbered from 0; judges cite them by that index.
func RenderTranscript(t Transcript) string {
	size := len(DataBlockStart) + len(DataBlockEnd) + 16
	for _, turn := range t {
		size += len(turn.Role) + len(turn.Content) + 40
	}
	var b strings.Builder
	b.Grow(size)
	b.WriteString(DataBlockStart)
	b.WriteString("\n{\"turns\":[")
	for i, turn := range t {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"index":`)
		b.WriteString(strconv.Itoa(i))
		b.WriteString(`,"role":`)
		writeString(&b, turn.Role)
		b.WriteString(`,"content":`)
		writeString(&b, turn.Content)
		b.WriteByte('}')
	}
	b.WriteString("]}\n")
	b.WriteString(DataBlockEnd)
	return b.String()
}

// writeString writes s as a JSON string exactly as encoding/json does with
// HTML escaping on: ", \\ and control characters escaped, "<", ">" and "&"
// as \u003c, \u003e and \u0026, U+2028 and U+2029 as \u2028 and \u2029,
// and each byte of invalid UTF-8 as \ufffd.
func writeString(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b.WriteString(s[start:i])
			switch c {
			case '"', '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case '\b':
				b.WriteString(`\b`)
			case '\f':
				b.WriteString(`\f`)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			default:
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(s[start:i])
			b.WriteString(`\ufffd`)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b.WriteString(s[start:i])
			b.WriteString(`\u202`)
			b.WriteByte(hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}
