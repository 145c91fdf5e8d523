package session

import "unicode/utf8"

// truncateChars cuts s to its first max characters (Unicode code points,
// the unit original_char_count counts in). It returns s unchanged and false
// when s has at most max characters or max is not positive; otherwise the
// cut text, true, and the number of characters s had. A multi-byte
// character is never split. Bytes that are not valid UTF-8 count as one
// character each, as they do when JSON encoding replaces them with U+FFFD.
func truncateChars(s string, max int) (string, bool, int) {
	if max <= 0 || len(s) <= max { // fewer bytes than max: fewer characters too
		return s, false, 0
	}
	n := utf8.RuneCountInString(s)
	if n <= max {
		return s, false, 0
	}
	cut, i := 0, 0
	for i < len(s) && cut < max {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		cut++
	}
	return s[:i], true, n
}
