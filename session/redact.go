package session

import (
	"context"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A Redactor removes personal data from free text. The [Assembler] applies
// it to every message's content, to tool-call arguments (the message-level
// function arguments as well as each tool call's arguments and its parsed
// arguments), to tool results and errors, to feedback comments, to handoff
// and reopen reasons, to the completion reason and to every key and string
// value of customer_metadata — before it truncates, derives or validates
// anything, so that nothing downstream sees the original text.
//
// The Assembler hands JSON to a Redactor one string at a time: in a text
// that is a JSON object, array or string, each string (object keys
// included, and strings that hold JSON themselves) is decoded and redacted,
// each number is redacted as its digits (a number the Redactor changes
// becomes a JSON string), and what changed is written back in place, the
// rest of the text kept as it was. A Redactor therefore never sees JSON
// escapes such as "\u0040" in place of "@", and its replacements never
// break the JSON.
//
// Redact must be safe for concurrent use and must return promptly once ctx
// is done. An error stops the assembly: an input is never built from text
// that could not be redacted.
type Redactor interface {
	Redact(ctx context.Context, text string) (string, error)
}

// RedactorFunc adapts an ordinary function to the [Redactor] interface.
type RedactorFunc func(ctx context.Context, text string) (string, error)

// Redact calls f(ctx, text).
func (f RedactorFunc) Redact(ctx context.Context, text string) (string, error) { return f(ctx, text) }

// The tokens [DefaultRedactor] puts in place of what it removes.
const (
	// RedactedEmail replaces an e-mail address.
	RedactedEmail = "[EMAIL]"
	// RedactedPhone replaces a phone number.
	RedactedPhone = "[PHONE]"
	// RedactedCard replaces a payment card number.
	RedactedCard = "[CARD]"
)

// DefaultRedactor returns a [Redactor] that replaces
//
//   - e-mail addresses with [RedactedEmail], internationalised ones
//     included: the local part and the domain may hold letters, digits and
//     marks of any script ("josé@example.com", "jane@例え.jp"), except that
//     a local part takes no Han or kana, which Japanese and Chinese text
//     writes without spaces around an address;
//   - payment card numbers with [RedactedCard]: a number of 13 to 19 digits
//     that passes the Luhn check, is not one digit repeated, and is written
//     either as one group of digits or in groups shaped like a card's (fours
//     with a shorter last group, as in "4111 1111 1111 1111", or 4-6-5 and
//     4-6-4 as in "3782 822463 10005") separated all alike by spaces or
//     hyphens. The test applies to a whole run of digit groups written with
//     one separator, or to one group of digits standing alone, never to a
//     part of such a run, so that a 20- or 22-digit tracking number written
//     in fours never loses a card-shaped piece;
//   - phone numbers with [RedactedPhone]: international numbers written with
//     a leading "+" and 8 to 15 digits in any grouping ("+1 415 555 2671",
//     "+44 (0)20 7946 0958", "+14155552671") or with the "00" prefix and 9 to
//     15 further digits in groups ("0044 20 7946 0958"); North American
//     numbers of 10 digits in groups ("415-555-2671", "(415) 555-2671",
//     "1-800-555-0199"); and national numbers with a trunk prefix 0 (not
//     followed by another 0) and 9 to 11 digits ("020 7946 0958",
//     "01 23 45 67 89", "030-1234567", "(020) 7946 0958").
//
// A national number or a "00" number must be the whole run of digit
// groups, separated consistently, and is taken for a phone number when a
// cue word ("call", "phone", "tel", "mobile", "fax", "reach", ...) comes
// shortly before it, or else when it is grouped the way phone numbers are
// (an area code of 2 to 5 digits, then one group of 6 to 8 digits or groups
// of 2 to 4 digits ending in one of at least 3, or five pairs). It is left
// alone when a word such as "order", "SKU", "ref", "invoice", "tracking" or
// "account" comes shortly before it, or when it follows a code of letters
// and digits ("1Z 999 AA1 01 2345 6784").
//
// Before matching, Unicode space separators (no-break and narrow no-break
// spaces included) count as spaces; the Unicode hyphen, the non-breaking
// hyphen, the figure dash, the en dash, the minus sign and the small and
// fullwidth hyphen-minus count as hyphens; the fullwidth
// "＠" as "@", a JSON escape "\uXXXX" as the character it stands for, and
// any other backslash followed by a letter ("\n", "\t") as a space; the
// replacement is made in the original text. Groups may be separated by one
// of " -.()", by two different ones, by two spaces or by " - ".
//
// Numbers glued to letters or digits by "-", ".", "/" or "," (or to digits
// by ":") are part of a larger token (a UUID, a date, a time, an IP address, a
// price, a reference such as "ORD-2024-000123") and are left alone —
// except after the abbreviations "no.", "nr.", "num.", "tel.", "ph.",
// "mob." and "fax." — as are ungrouped national numbers without "+" and
// without a cue word, which cannot be told from order numbers. The work per
// character is bounded, so long inputs cost linear time.
func DefaultRedactor() Redactor { return defaultRedactor{} }

type defaultRedactor struct{}

// Redact replaces e-mail addresses, then card and phone numbers.
func (defaultRedactor) Redact(ctx context.Context, text string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return redactNumbers(redactEmails(text)), nil
}

// A view is the text the detectors read: src with the characters they do
// not know rewritten to ones they do. pos[k] is the offset in src of the
// character byte k of text comes from, and pos[len(text)] is len(src); pos
// is nil when text is src. Each character of src becomes exactly one
// character of text, so a match that ends on a character boundary of text
// maps to a character boundary of src.
type view struct {
	src, text string
	pos       []int
}

func newView(s string) view {
	plain := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf || s[i] == '\\' {
			plain = false
			break
		}
	}
	if plain {
		return view{src: s, text: s}
	}
	var b strings.Builder
	b.Grow(len(s))
	pos := make([]int, 0, len(s)+1)
	emit := func(from int, out string) {
		for range len(out) {
			pos = append(pos, from)
		}
		b.WriteString(out)
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			next := s[i+1]
			switch {
			case next == 'u':
				if r, size := jsonEscape(s[i:]); size > 0 {
					emit(i, normalRune(r, string(r)))
					i += size
					continue
				}
				emit(i, " ")
				i += 2
				continue
			case isASCIILetter(next):
				emit(i, " ")
				i += 2
				continue
			case next == '\\':
				emit(i, `\`)
				emit(i+1, `\`)
				i += 2
				continue
			}
		}
		if c < utf8.RuneSelf {
			emit(i, s[i:i+1])
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		emit(i, normalRune(r, s[i:i+size]))
		i += size
	}
	pos = append(pos, len(s))
	return view{src: s, text: b.String(), pos: pos}
}

// normalRune returns what r, written as raw in the source, becomes in a
// view.
func normalRune(r rune, raw string) string {
	switch {
	case r == utf8.RuneError && len(raw) == 1:
		return raw
	case r >= utf8.RuneSelf && unicode.Is(unicode.Zs, r):
		return " "
	case r == '\u2010' || r == '\u2011' || r == '\u2012' || r == '\u2013' || r == '\u2212' || r == '\uFE63' || r == '\uFF0D':
		return "-"
	case r == '\uFF20' || r == '\uFE6B':
		return "@"
	}
	return raw
}

// jsonEscape decodes the JSON escape "\uXXXX" (or a surrogate pair of two)
// at the start of s; size is 0 when there is none or it names no character.
func jsonEscape(s string) (rune, int) {
	hex := func(s string) (rune, bool) {
		if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
			return 0, false
		}
		var r rune
		for _, c := range []byte(s[2:6]) {
			var v byte
			switch {
			case '0' <= c && c <= '9':
				v = c - '0'
			case 'a' <= c && c <= 'f':
				v = c - 'a' + 10
			case 'A' <= c && c <= 'F':
				v = c - 'A' + 10
			default:
				return 0, false
			}
			r = r<<4 | rune(v)
		}
		return r, true
	}
	r, ok := hex(s)
	switch {
	case !ok:
		return 0, 0
	case r < 0xD800 || r > 0xDFFF:
		return r, 6
	case r <= 0xDBFF:
		if lo, ok := hex(s[6:]); ok && lo >= 0xDC00 && lo <= 0xDFFF {
			return 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00), 12
		}
	}
	return 0, 0
}

// A replacement replaces text[from:to] of a view with token.
type replacement struct {
	from, to int
	token    string
}

// apply makes the replacements, given in order and not overlapping, in the
// view's source.
func (v view) apply(rs []replacement) string {
	if len(rs) == 0 {
		return v.src
	}
	var b strings.Builder
	b.Grow(len(v.src))
	last := 0
	for _, r := range rs {
		from, to := r.from, r.to
		if v.pos != nil {
			from, to = v.pos[from], v.pos[to]
		}
		b.WriteString(v.src[last:from])
		b.WriteString(r.token)
		last = to
	}
	b.WriteString(v.src[last:])
	return b.String()
}

func isASCIILetter(c byte) bool { return 'A' <= c&^0x20 && c&^0x20 <= 'Z' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isLocalRune reports whether r may appear in an e-mail address's local
// part.
func isLocalRune(r rune) bool {
	if r < utf8.RuneSelf {
		c := byte(r)
		return isDigit(c) || isASCIILetter(c) || strings.IndexByte("._%+-", c) >= 0
	}
	return (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)) &&
		!unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana)
}

// isLabelRune reports whether r may appear in a domain label.
func isLabelRune(r rune) bool {
	if r < utf8.RuneSelf {
		c := byte(r)
		return isDigit(c) || isASCIILetter(c) || c == '-'
	}
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r))
}

// redactEmails replaces e-mail addresses in s. It looks only around each
// "@": the candidate is the run of address characters on either side, so
// each byte is examined a bounded number of times.
func redactEmails(s string) string {
	if strings.IndexByte(s, '@') < 0 && strings.IndexByte(s, '\\') < 0 && !strings.Contains(s, "＠") && !strings.Contains(s, "﹫") {
		return s
	}
	v := newView(s)
	t := v.text
	var rs []replacement
	last := 0
	for i := 0; i < len(t); i++ {
		if t[i] != '@' {
			continue
		}
		l := i
		for l > last {
			r, size := utf8.DecodeLastRuneInString(t[last:l])
			if !isLocalRune(r) {
				break
			}
			l -= size
		}
		if l == i {
			continue
		}
		end := matchDomain(t, i+1)
		if end < 0 {
			continue
		}
		rs = append(rs, replacement{from: l, to: end, token: RedactedEmail})
		last = end
		i = end - 1
	}
	return v.apply(rs)
}

// matchDomain returns the end of the longest domain starting at t[i:]: one
// or more labels, each followed by a dot, then a top-level domain of at
// least two letters (ASCII letters, or a whole label of other letters).
// It returns -1 when there is none.
func matchDomain(t string, i int) int {
	best := -1
	labels := 0
	for {
		start := i
		for i < len(t) {
			r, size := utf8.DecodeRuneInString(t[i:])
			if !isLabelRune(r) {
				break
			}
			i += size
		}
		if labels > 0 {
			if e := tldEnd(t, start, i); e > 0 {
				best = e
			}
		}
		label := t[start:i]
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' || i >= len(t) || t[i] != '.' {
			return best
		}
		labels++
		i++
	}
}

// tldEnd returns the end of the top-level domain at the start of the label
// t[start:end], or -1.
func tldEnd(t string, start, end int) int {
	k := start
	for k < end && isASCIILetter(t[k]) {
		k++
	}
	if k-start >= 2 {
		return k
	}
	if k > start {
		return -1
	}
	n := 0
	for k < end {
		r, size := utf8.DecodeRuneInString(t[k:end])
		if r < utf8.RuneSelf || !unicode.IsLetter(r) {
			return -1
		}
		k += size
		n++
	}
	if n >= 2 {
		return end
	}
	return -1
}

// The phone shapes, matched against one candidate window at a time (at
// most 19 digits and their separators, so each match is cheap), its
// separators written canonically.
var (
	nanpRE  = regexp.MustCompile(`^(?:1[ .\-]?)?(?:\([2-9]\d{2}\)[ .\-]?|[2-9]\d{2}[ .\-])[2-9]\d{2}[ .\-]\d{4}$`)
	parenRE = regexp.MustCompile(`^\(0[1-9]\d{0,3}\)[ \-]?\d{2,4}(?:[ \-]\d{2,4}){1,2}$`)
)

// isWordRune reports whether r makes a word: a letter, a digit, a mark or
// "_". Bytes that are not UTF-8 count as word characters.
func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		c := byte(r)
		return isDigit(c) || isASCIILetter(c) || c == '_'
	}
	return r == utf8.RuneError || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

func wordBefore(t string, i int) bool {
	if i <= 0 {
		return false
	}
	r, _ := utf8.DecodeLastRuneInString(t[:i])
	return isWordRune(r)
}

func wordAt(t string, i int) bool {
	if i >= len(t) {
		return false
	}
	r, _ := utf8.DecodeRuneInString(t[i:])
	return isWordRune(r)
}

// isGlue reports whether c joins a number to a neighbouring letter or digit
// into one token ("ORD-2024", "1.5", "12/25", "1,234"). A colon joins only
// digits ("07:34"), so that "tel:" or "card:" do not hide what follows.
func isGlue(c byte) bool { return strings.IndexByte("-./,", c) >= 0 }

// abbreviations end with a dot that does not glue the number after them to
// them: "no.4111111111111111".
var abbreviations = map[string]bool{"no": true, "nr": true, "num": true, "tel": true, "ph": true, "mob": true, "fax": true}

// abbreviationBefore reports whether t[:i] ends with one of [abbreviations]
// standing as a word of its own.
func abbreviationBefore(t string, i int) bool {
	k := i
	for k > 0 && isASCIILetter(t[k-1]) {
		k--
	}
	if i-k > 3 || wordBefore(t, k) {
		return false
	}
	return abbreviations[strings.ToLower(t[k:i])]
}

func boundaryBefore(t string, i int) bool {
	if i == 0 {
		return true
	}
	if !isDigit(t[i]) {
		// A leading "+" or "(" starts a number unless a letter is glued to
		// it. After a digit it does, as the digit's number ends there too.
		return isDigit(t[i-1]) || !wordBefore(t, i)
	}
	if wordBefore(t, i) {
		return false
	}
	if i < 2 {
		return true
	}
	p := t[i-1]
	if isGlue(p) && wordBefore(t, i-1) {
		return p == '.' && abbreviationBefore(t, i-1)
	}
	return !(p == ':' && isDigit(t[i-2]))
}

func boundaryAfter(t string, end int) bool {
	if end >= len(t) {
		return true
	}
	if wordAt(t, end) {
		return false
	}
	if end+1 >= len(t) {
		return true
	}
	n := t[end]
	return !(isGlue(n) && wordAt(t, end+1) || n == ':' && isDigit(t[end+1]))
}

// A span is a run of digit groups with separators between them.
type span struct {
	start  int      // first byte, including a leading "+" or "("
	groups [][2]int // [start, end) of each digit group
	digits []int    // digits[k] is the number of digits in groups[:k]
}

// redactNumbers replaces card and phone numbers in s.
func redactNumbers(s string) string {
	if strings.IndexAny(s, "0123456789") < 0 && !strings.Contains(s, `\u`) {
		return s
	}
	v := newView(s)
	t := v.text
	var rs []replacement
	for i := 0; i < len(t); {
		c := t[i]
		startsNumber := isDigit(c) || (c == '+' || c == '(') && i+1 < len(t) && isDigit(t[i+1])
		if !startsNumber {
			i++
			continue
		}
		if !boundaryBefore(t, i) {
			// Part of a larger token: skip its digits.
			for i++; i < len(t) && isDigit(t[i]); i++ {
			}
			continue
		}
		sp := scanSpan(t, i)
		end := sp.groups[len(sp.groups)-1][1]
		// A last group glued to what follows belongs to another token.
		for len(sp.groups) > 0 && !boundaryAfter(t, sp.groups[len(sp.groups)-1][1]) {
			sp.groups = sp.groups[:len(sp.groups)-1]
		}
		if len(sp.groups) > 0 {
			sp.digits = make([]int, len(sp.groups)+1)
			for k, g := range sp.groups {
				sp.digits[k+1] = sp.digits[k] + g[1] - g[0]
			}
			rs = append(rs, classify(t, &sp, 0, len(sp.groups), contextBefore(t, sp.start))...)
		}
		i = end
	}
	return v.apply(rs)
}

// scanSpan reads the span starting at i, which holds a digit or a "+" or
// "(" followed by a digit.
func scanSpan(t string, i int) span {
	sp := span{start: i}
	if t[i] == '+' || t[i] == '(' {
		i++
	}
	for {
		g := i
		for i < len(t) && isDigit(t[i]) {
			i++
		}
		sp.groups = append(sp.groups, [2]int{g, i})
		n := separatorLen(t, i)
		if n == 0 {
			return sp
		}
		i += n
	}
}

// separatorLen returns the length of the separator at t[i:] when one joins
// two digit groups there: one of " -.()"; two different ones (not "()" or
// ")("); two spaces; or " - " — followed by a digit. Otherwise 0.
func separatorLen(t string, i int) int {
	isSep := func(c byte) bool { return strings.IndexByte(" -.()", c) >= 0 }
	digitAt := func(k int) bool { return k < len(t) && isDigit(t[k]) }
	if i >= len(t) || !isSep(t[i]) {
		return 0
	}
	if digitAt(i + 1) {
		return 1
	}
	if i+1 >= len(t) || !isSep(t[i+1]) {
		return 0
	}
	a, b := t[i], t[i+1]
	if digitAt(i + 2) {
		if a == b && a != ' ' || a == '(' && b == ')' || a == ')' && b == '(' {
			return 0
		}
		return 2
	}
	if a == ' ' && b == '-' && i+2 < len(t) && t[i+2] == ' ' && digitAt(i+3) {
		return 3
	}
	return 0
}

// sep returns the separator after group k of sp, written canonically: two
// spaces as one, " - " as "-".
func (sp *span) sep(t string, k int) string {
	s := t[sp.groups[k][1]:sp.groups[k+1][0]]
	switch s {
	case "  ":
		return " "
	case " - ":
		return "-"
	}
	return s
}

// count returns the number of digits in groups lo..hi-1.
func (sp *span) count(lo, hi int) int { return sp.digits[hi] - sp.digits[lo] }

// from returns where a number made of groups k.. starts: at an opening
// parenthesis right before group k, at the span's "+" or "(" when k is 0,
// else at the group.
func (sp *span) from(t string, k int) int {
	if k == 0 {
		return sp.start
	}
	if g := sp.groups[k][0]; t[g-1] == '(' {
		return g - 1
	}
	return sp.groups[k][0]
}

// canonical returns groups k..m with their canonical separators, from
// from.
func (sp *span) canonical(t string, from, k, m int) string {
	plain := true
	for j := k; j < m && plain; j++ {
		s := t[sp.groups[j][1]:sp.groups[j+1][0]]
		plain = s != "  " && s != " - "
	}
	if plain {
		return t[from:sp.groups[m][1]]
	}
	var b strings.Builder
	b.WriteString(t[from:sp.groups[k][1]])
	for j := k + 1; j <= m; j++ {
		b.WriteString(sp.sep(t, j-1))
		b.WriteString(t[sp.groups[j][0]:sp.groups[j][1]])
	}
	return b.String()
}

// uniformSep returns the one separator groups lo..hi-1 share ("" for a
// single group), and false when they use several.
func (sp *span) uniformSep(t string, lo, hi int) (string, bool) {
	if hi-lo < 2 {
		return "", true
	}
	first := sp.sep(t, lo)
	for k := lo + 1; k < hi-1; k++ {
		if sp.sep(t, k) != first {
			return "", false
		}
	}
	return first, true
}

func (sp *span) lengths(lo, hi int) []int {
	ls := make([]int, 0, hi-lo)
	for k := lo; k < hi; k++ {
		ls = append(ls, sp.groups[k][1]-sp.groups[k][0])
	}
	return ls
}

// The cues a word before a number gives.
const (
	cueNone  = 0
	cuePhone = 1
	cueOther = -1
)

// cueWords are the words that say the number after them is a phone number
// (cuePhone) or something else (cueOther).
var cueWords = map[string]int{
	"tel": cuePhone, "tele": cuePhone, "telephone": cuePhone, "phone": cuePhone, "ph": cuePhone, "call": cuePhone,
	"calls": cuePhone, "called": cuePhone, "calling": cuePhone, "mobile": cuePhone, "mob": cuePhone, "cell": cuePhone,
	"cellphone": cuePhone, "fax": cuePhone, "whatsapp": cuePhone, "sms": cuePhone, "text": cuePhone, "ring": cuePhone,
	"landline": cuePhone, "hotline": cuePhone, "contact": cuePhone, "reach": cuePhone, "dial": cuePhone,
	"telefon": cuePhone, "telefono": cuePhone, "telefone": cuePhone, "handy": cuePhone,

	"order": cueOther, "orders": cueOther, "sku": cueOther, "ref": cueOther, "reference": cueOther, "invoice": cueOther,
	"inv": cueOther, "ticket": cueOther, "tracking": cueOther, "track": cueOther, "shipment": cueOther, "parcel": cueOther,
	"booking": cueOther, "confirmation": cueOther, "account": cueOther, "acct": cueOther, "iban": cueOther, "case": cueOther,
	"id": cueOther, "item": cueOther, "part": cueOther, "serial": cueOther, "sn": cueOther, "po": cueOther,
	"receipt": cueOther, "transaction": cueOther, "txn": cueOther, "policy": cueOther, "claim": cueOther,
	"member": cueOther, "customer": cueOther, "code": cueOther, "model": cueOther, "version": cueOther, "batch": cueOther,
	"lot": cueOther,
}

// spanContext is what precedes a span: the cue of the nearest cue word,
// and whether the token right before it is a code of letters and digits.
type spanContext struct {
	cue  int
	code bool
}

// contextBefore reads the context of a span starting at start: up to three
// words within 48 bytes, across spaces and ":#.,'-(", stopping at anything
// else (a digit, a bracket, a line break), and the token right before,
// across spaces.
func contextBefore(t string, start int) spanContext {
	var c spanContext
	j := start
	for j > 0 && (t[j-1] == ' ' || t[j-1] == '\t') {
		j--
	}
	k := j
	for k > 0 && k > j-32 && wordBefore(t, k) {
		_, size := utf8.DecodeLastRuneInString(t[:k])
		k -= size
	}
	if tok := t[k:j]; k < j && !wordBefore(t, k) && strings.IndexAny(tok, "0123456789") >= 0 &&
		strings.IndexFunc(tok, func(r rune) bool { return !('0' <= r && r <= '9') }) >= 0 {
		c.code = true
	}
	i, words := start, 0
	for i > 0 && words < 3 && start-i < 48 {
		ch := t[i-1]
		switch {
		case isASCIILetter(ch):
			e := i
			for i > 0 && isASCIILetter(t[i-1]) {
				i--
			}
			if wordBefore(t, i) {
				return c
			}
			if cue := cueWords[strings.ToLower(t[i:e])]; cue != cueNone {
				c.cue = cue
				return c
			}
			words++
		case strings.IndexByte(" \t:#.,'-(", ch) >= 0:
			i--
		default:
			return c
		}
	}
	return c
}

// classify finds the card and phone numbers among groups lo..hi-1 of sp,
// preceded by ctx. It first tries the rules that need the whole run; then,
// leftmost first, the rules that may match part of it. When one does, the
// groups before the match and those after it are classified as runs of
// their own — exactly as they will be when the redacted text is redacted
// again, so that redaction is idempotent.
func classify(t string, sp *span, lo, hi int, ctx spanContext) []replacement {
	var out []replacement
	for lo < hi {
		if r, ok := wholeRun(t, sp, lo, hi, ctx); ok {
			return append(out, r)
		}
		matched := false
		for k := lo; k < hi; k++ {
			if r, m, ok := partOfRun(t, sp, lo, hi, k); ok {
				out = append(out, classify(t, sp, lo, k, ctx)...)
				out = append(out, r)
				lo, ctx, matched = m+1, spanContext{}, true
				break
			}
		}
		if !matched {
			break
		}
	}
	return out
}

// wholeRun applies the rules that need all of groups lo..hi-1: a card, a
// national number with a trunk prefix, a "00" international number.
func wholeRun(t string, sp *span, lo, hi int, ctx spanContext) (replacement, bool) {
	d := sp.count(lo, hi)
	if d < 9 || d > 19 {
		return replacement{}, false
	}
	from, to := sp.groups[lo][0], sp.groups[hi-1][1]
	if lo == 0 && t[sp.start] == '+' {
		return replacement{}, false // the "+" rule, a window rule, decides
	}
	if isCard(t, sp, lo, hi) {
		return replacement{from: from, to: to, token: RedactedCard}, true
	}
	if ctx.cue == cueOther || ctx.cue == cueNone && ctx.code {
		return replacement{}, false
	}
	sep, uniform := sp.uniformSep(t, lo, hi)
	first := t[sp.groups[lo][0]:sp.groups[lo][1]]
	ls := sp.lengths(lo, hi)
	switch {
	case d <= 11 && len(first) >= 2 && first[0] == '0' && first[1] != '0':
		// A national number with a trunk prefix.
		if !uniform || hi-lo > 1 && sep != " " && sep != "-" && sep != "." {
			return replacement{}, false
		}
		if ctx.cue == cuePhone || hi-lo > 1 && phoneGrouping(ls) {
			return replacement{from: from, to: to, token: RedactedPhone}, true
		}
	case d >= 11 && d <= 17 && len(first) >= 3 && len(first) <= 5 && strings.HasPrefix(first, "00") && first[2] != '0' ||
		d >= 11 && d <= 17 && first == "00" && t[sp.groups[lo+1][0]] != '0':
		// An international number with the "00" prefix.
		if ctx.cue == cuePhone || hi-lo > 1 {
			return replacement{from: from, to: to, token: RedactedPhone}, true
		}
	}
	return replacement{}, false
}

// phoneGrouping reports whether digit groups of these lengths look like a
// national phone number: an area code with its trunk prefix (2 to 5
// digits), then one group of 6 to 8 digits, or groups of 2 to 4 digits of
// which the last has at least 3, or five pairs.
func phoneGrouping(ls []int) bool {
	if len(ls) < 2 || ls[0] < 2 || ls[0] > 5 {
		return false
	}
	rest := ls[1:]
	if len(rest) == 1 {
		return rest[0] >= 6 && rest[0] <= 8
	}
	pairs := len(ls) == 5
	for _, l := range ls {
		pairs = pairs && l == 2
	}
	if pairs {
		return true
	}
	for _, l := range rest {
		if l < 2 || l > 4 {
			return false
		}
	}
	return rest[len(rest)-1] >= 3
}

// isCard reports whether groups lo..hi-1 of sp make a payment card number
// (see [DefaultRedactor]).
func isCard(t string, sp *span, lo, hi int) bool {
	d := sp.count(lo, hi)
	if d < 13 || d > 19 {
		return false
	}
	if sep, uniform := sp.uniformSep(t, lo, hi); !uniform || hi-lo > 1 && sep != " " && sep != "-" {
		return false
	}
	if !cardShaped(sp.lengths(lo, hi)) {
		return false
	}
	sum, double, first, same := 0, false, byte(0), true
	for k := hi - 1; k >= lo; k-- {
		g := t[sp.groups[k][0]:sp.groups[k][1]]
		for i := len(g) - 1; i >= 0; i-- {
			c := g[i]
			if first == 0 {
				first = c
			}
			same = same && c == first
			v := int(c - '0')
			if double {
				if v *= 2; v > 9 {
					v -= 9
				}
			}
			sum += v
			double = !double
		}
	}
	return !same && sum%10 == 0
}

// cardShaped reports whether digit groups of these lengths are written the
// way card numbers are: one group; fours with a last group of 1 to 4; or
// 4-6-5 and 4-6-4.
func cardShaped(ls []int) bool {
	if len(ls) == 1 {
		return true
	}
	if len(ls) == 3 && ls[0] == 4 && ls[1] == 6 && (ls[2] == 5 || ls[2] == 4) {
		return true
	}
	for _, l := range ls[:len(ls)-1] {
		if l != 4 {
			return false
		}
	}
	last := ls[len(ls)-1]
	return last >= 1 && last <= 4
}

// partOfRun applies, at group k, the rules that may match part of groups
// lo..hi-1: a card written as one group or as a run of groups with one
// separator that differs from its neighbours'; an international number
// with "+" (only at the span's start); a North American number; a national
// number with its area code in parentheses. It returns the replacement and
// the last group matched.
func partOfRun(t string, sp *span, lo, hi, k int) (replacement, int, bool) {
	n := hi
	// A card: one group, or a run with its own separator.
	if k < hi-1 && (k == lo || sp.sep(t, k-1) != sp.sep(t, k)) {
		sep := sp.sep(t, k)
		m := k + 1
		for m < hi-1 && sp.sep(t, m) == sep && sp.count(k, m+1) <= 19 {
			m++
		}
		if (m == hi-1 || sp.sep(t, m) != sep) && isCard(t, sp, k, m+1) {
			return replacement{from: sp.groups[k][0], to: sp.groups[m][1], token: RedactedCard}, m, true
		}
	}
	if isCard(t, sp, k, k+1) {
		return replacement{from: sp.groups[k][0], to: sp.groups[k][1], token: RedactedCard}, k, true
	}
	// Phone windows: consecutive groups from k, longest first, of at most
	// 19 digits.
	last := k
	for last+1 < n && sp.count(k, last+2) <= 19 {
		last++
	}
	for m := last; m >= k; m-- {
		d := sp.count(k, m+1)
		if d > 19 {
			continue // a single group of more than 19 digits
		}
		if d < 8 {
			break
		}
		from := sp.from(t, k)
		phone := false
		switch {
		case t[from] == '+':
			phone = d >= 8 && d <= 15
		case d == 10 || d == 11:
			text := sp.canonical(t, from, k, m)
			phone = nanpRE.MatchString(text) || parenRE.MatchString(text)
		case d == 9:
			phone = parenRE.MatchString(sp.canonical(t, from, k, m))
		}
		if phone {
			return replacement{from: from, to: sp.groups[m][1], token: RedactedPhone}, m, true
		}
	}
	return replacement{}, 0, false
}

// RedactText redacts one free text with r as the [Assembler] does: a text
// that is a JSON object, array or string is redacted value by value — its
// member names and strings as texts, a number whose digits r changes as
// the redacted string — so that r never sees a JSON escape and its
// replacements never break the JSON; any other text is given to r whole.
// A failure of r is a [*RedactionError].
func RedactText(ctx context.Context, r Redactor, s string) (string, error) {
	return (&Assembler{Redactor: r}).redactText(ctx, s, 0)
}

// RedactValue returns a redacted copy of v, a decoded JSON value (as
// encoding/json decodes into any): member names and strings are redacted
// as texts ([RedactText]), and a number whose digits r changes (a card
// number written as a JSON number) becomes the redacted string. When two
// member names redact to the same one, the value of the name that sorts
// last is kept.
func RedactValue(ctx context.Context, r Redactor, v any) (any, error) {
	return (&Assembler{Redactor: r}).redactValue(ctx, v)
}
