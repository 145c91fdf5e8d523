package session

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// TruncationMarker ends every tool text the [Assembler] cuts to its
// MaxMessageChars (a tool result's output or error, a tool call's
// arguments, result or error), and every string it cuts inside such a text
// when the text is JSON. Message content carries no marker: the message's
// truncated flag and original_char_count say it was cut.
const TruncationMarker = "…[truncated]"

// truncateChars cuts s to at most max characters (Unicode code points, the
// unit original_char_count counts in). It returns s unchanged and false
// when s has at most max characters or max is negative; otherwise the
// cut text, true, and the number of characters s had.
//
// The cut falls on a grapheme-cluster boundary, moving back when needed:
// a combining mark, a variation selector, an emoji modifier or a zero-width
// joiner stays with the character before it, an emoji joined by a
// zero-width joiner stays with the emoji before it, the two regional
// indicators of a flag stay together, and so does "\r\n". A text whose
// first cluster alone is longer than max is cut to nothing. Bytes that are
// not valid UTF-8 count as one character each, as they do when JSON
// encoding replaces them with U+FFFD.
func truncateChars(s string, max int) (string, bool, int) {
	if max < 0 || len(s) <= max { // fewer bytes than max: fewer characters too
		return s, false, 0
	}
	n := utf8.RuneCountInString(s)
	if n <= max {
		return s, false, 0
	}
	i := 0
	for cut := 0; cut < max; cut++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:clusterStart(s, i)], true, n
}

const (
	zwj  = '\u200D'
	zwnj = '\u200C'
)

// clusterStart returns the start of the grapheme cluster that holds s[i],
// or i when a cluster starts there; i is a character boundary.
func clusterStart(s string, i int) int {
	for i > 0 && i < len(s) {
		next, _ := utf8.DecodeRuneInString(s[i:])
		prev, size := utf8.DecodeLastRuneInString(s[:i])
		switch {
		case extendsCluster(next), prev == zwj, prev == '\r' && next == '\n':
		case isRegionalIndicator(next) && isRegionalIndicator(prev):
			// Flags are pairs: the cut splits one when an odd number of
			// indicators precede it.
			odd, k := false, i
			for k > 0 {
				r, sz := utf8.DecodeLastRuneInString(s[:k])
				if !isRegionalIndicator(r) {
					break
				}
				odd, k = !odd, k-sz
			}
			if !odd {
				return i
			}
		default:
			return i
		}
		i -= size
	}
	return i
}

// extendsCluster reports whether r joins the character before it: a mark
// (variation selectors included), a joiner, an emoji modifier, a tag
// character, a Hangul vowel or final consonant.
func extendsCluster(r rune) bool {
	switch {
	case r < 0x300:
		return false
	case r == zwj, r == zwnj,
		r >= 0x1F3FB && r <= 0x1F3FF,                           // emoji modifiers (skin tones)
		r >= 0xE0020 && r <= 0xE007F,                           // tags
		r >= 0x1160 && r <= 0x11FF, r >= 0xD7B0 && r <= 0xD7FF: // Hangul jungseong and jongseong
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Mc)
}

func isRegionalIndicator(r rune) bool { return r >= 0x1F1E6 && r <= 0x1F1FF }

// truncateToolText cuts a tool text to max characters of its own (see
// [Assembler].MaxMessageChars). A JSON object or array keeps its structure:
// its longest strings are cut, each followed by [TruncationMarker], just
// enough for the compact encoding to fit — object keys, numbers and the
// structure count, the markers do not. When even that cannot fit, or the
// text is not JSON, the text is cut like a message's content and followed
// by one marker. It returns s and false when s is not longer than max.
func truncateToolText(s string, max int) (string, bool) {
	if max <= 0 || len(s) <= max || utf8.RuneCountInString(s) <= max {
		return s, false
	}
	if t := strings.TrimSpace(s); t != "" && (t[0] == '{' || t[0] == '[') && jsonValid(t) {
		if out, ok := truncateJSON(t, max); ok {
			return out, true
		}
	}
	cut, _, _ := truncateChars(s, max)
	return cut + TruncationMarker, true
}

// truncateJSON cuts the strings of the JSON text s, a valid object or
// array, to the largest length at which the compact encoding has at most
// max characters besides the markers; ok is false when none does.
func truncateJSON(s string, max int) (string, bool) {
	markerChars := utf8.RuneCountInString(TruncationMarker)
	longest := 0
	render := func(limit int) (string, int) {
		markers := 0
		out, _ := rewriteJSON(s, func(v string, key bool) (string, error) {
			if n := utf8.RuneCountInString(v); !key && n > limit {
				if n > longest {
					longest = n
				}
				cut, _, _ := truncateChars(v, limit)
				markers++
				return cut + TruncationMarker, nil
			}
			return v, nil
		}, nil)
		return out, utf8.RuneCountInString(out) - markers*markerChars
	}
	full, n := render(int(^uint(0) >> 1))
	if n <= max {
		return full, true
	}
	if _, n := render(0); n > max { // this render also finds the longest string
		return "", false
	}
	lo, hi := 0, longest // render(lo) fits, render(hi) does not
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if _, n := render(mid); n <= max {
			lo = mid
		} else {
			hi = mid
		}
	}
	out, _ := render(lo)
	return out, true
}
