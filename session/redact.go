package session

import (
	"context"
	"regexp"
	"strings"
)

// A Redactor removes personal data from free text. The [Assembler] applies
// it to every message's content, to tool-call arguments (the message-level
// function arguments as well as each tool call's arguments and the strings
// in its parsed arguments), to tool results and errors, to feedback
// comments and to handoff and reopen reasons — before it truncates, derives
// or validates anything, so that nothing downstream sees the original text.
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
	RedactedEmail = "[EMAIL]"
	RedactedPhone = "[PHONE]"
	RedactedCard  = "[CARD]"
)

// DefaultRedactor returns a [Redactor] that replaces
//
//   - e-mail addresses with [RedactedEmail];
//   - payment card numbers with [RedactedCard]: 13 to 19 digits, written
//     together or in groups separated by single spaces or hyphens, that pass
//     the Luhn check — so order numbers and other digit runs that fail it
//     survive;
//   - phone numbers with [RedactedPhone]: international numbers written
//     with a leading "+" and 8 to 15 digits in any grouping ("+1 415 555
//     2671", "+44 (0)20 7946 0958", "+14155552671"); North American numbers
//     of 10 digits in groups ("415-555-2671", "(415) 555-2671",
//     "1-800-555-0199"); and national numbers with a trunk prefix 0 (not
//     followed by another 0) and 9 to 11 digits in groups separated
//     consistently ("020 7946 0958", "01 23 45 67 89").
//
// Numbers glued to letters or digits by "-", ".", "/" or "," (or to digits
// by ":")
// are part of a larger token (a UUID, a date, a time, an IP address, a
// price, a reference such as "ORD-2024-000123") and are left alone, as are
// ungrouped national numbers without "+", which cannot be told from order
// numbers. The work per character is bounded, so long inputs cost linear
// time.
func DefaultRedactor() Redactor { return defaultRedactor{} }

type defaultRedactor struct{}

// Redact replaces e-mail addresses, then card and phone numbers.
func (defaultRedactor) Redact(ctx context.Context, text string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return redactNumbers(redactEmails(text)), nil
}

// emailRE matches an e-mail address at the start of a candidate.
var emailRE = regexp.MustCompile(`(?i)^[a-z0-9._%+\-]+@(?:[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?\.)+[a-z]{2,}`)

func isLocalChar(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || strings.IndexByte("._%+-", c) >= 0
}

func isDomainChar(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '.' || c == '-'
}

// redactEmails replaces e-mail addresses in s. It looks only around each
// "@": the candidate is the run of address characters on either side, so
// each byte is examined a bounded number of times.
func redactEmails(s string) string {
	if strings.IndexByte(s, '@') < 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '@' {
			continue
		}
		l := i
		for l > last && isLocalChar(s[l-1]) {
			l--
		}
		if l == i {
			continue
		}
		r := i + 1
		for r < len(s) && isDomainChar(s[r]) {
			r++
		}
		loc := emailRE.FindStringIndex(s[l:r])
		if loc == nil {
			continue
		}
		b.WriteString(s[last:l])
		b.WriteString(RedactedEmail)
		last = l + loc[1]
		i = last - 1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// The phone shapes, matched against one candidate window at a time (at
// most 19 digits and their separators, so each match is cheap).
var (
	nanpRE  = regexp.MustCompile(`^(?:1[ .\-]?)?(?:\([2-9]\d{2}\)[ .\-]?|[2-9]\d{2}[ .\-])[2-9]\d{2}[ .\-]\d{4}$`)
	parenRE = regexp.MustCompile(`^\(0[1-9]\d{0,3}\)[ \-]?\d{2,4}(?:[ \-]\d{2,4}){1,2}$`)
	trunkRE = regexp.MustCompile(`^0[1-9]\d{0,3}(?:(?: \d{2,8})+|(?:-\d{2,8})+|(?:\.\d{2,8})+)$`)
)

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isAlnum(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c >= 0x80
}

// isGlue reports whether c joins a number to a neighbouring letter or digit
// into one token ("ORD-2024", "1.5", "12/25", "1,234"). A colon joins only
// digits ("07:34"), so that "tel:" or "card:" do not hide what follows.
func isGlue(c byte) bool { return strings.IndexByte("-./,", c) >= 0 }

// A span is a run of digit groups with separators between them.
type span struct {
	start  int      // first byte, including a leading "+" or "("
	groups [][2]int // [start, end) of each digit group
}

// redactNumbers replaces card and phone numbers in s.
func redactNumbers(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		startsNumber := isDigit(c) || (c == '+' || c == '(') && i+1 < len(s) && isDigit(s[i+1])
		if !startsNumber {
			i++
			continue
		}
		if !boundaryBefore(s, i) {
			// Part of a larger token: skip its digits.
			for i++; i < len(s) && isDigit(s[i]); i++ {
			}
			continue
		}
		sp := scanSpan(s, i)
		end := sp.groups[len(sp.groups)-1][1]
		// A last group glued to what follows belongs to another token.
		for len(sp.groups) > 0 && !boundaryAfter(s, sp.groups[len(sp.groups)-1][1]) {
			sp.groups = sp.groups[:len(sp.groups)-1]
		}
		for _, r := range classifySpan(s, sp) {
			b.WriteString(s[last:r.from])
			b.WriteString(r.token)
			last = r.to
		}
		i = end
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func boundaryBefore(s string, i int) bool {
	if i == 0 {
		return true
	}
	p := s[i-1]
	if isAlnum(p) {
		return false
	}
	if !isDigit(s[i]) || i < 2 {
		return true // a leading "+" or "(" starts a number whatever precedes it
	}
	pp := s[i-2]
	return !(isGlue(p) && isAlnum(pp) || p == ':' && isDigit(pp))
}

func boundaryAfter(s string, end int) bool {
	if end >= len(s) {
		return true
	}
	n := s[end]
	if isAlnum(n) {
		return false
	}
	if end+1 >= len(s) {
		return true
	}
	nn := s[end+1]
	return !(isGlue(n) && isAlnum(nn) || n == ':' && isDigit(nn))
}

// scanSpan reads the span starting at i, which holds a digit or a "+" or
// "(" followed by a digit.
func scanSpan(s string, i int) span {
	sp := span{start: i}
	if s[i] == '+' || s[i] == '(' {
		i++
	}
	for {
		g := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		sp.groups = append(sp.groups, [2]int{g, i})
		n := separatorLen(s, i)
		if n == 0 {
			return sp
		}
		i += n
	}
}

// separatorLen returns the length of the separator at s[i:] when one
// joins two digit groups there: one or two of " -.()" (not a doubled space,
// hyphen or dot, not "()" or ")("), followed by a digit. Otherwise 0.
func separatorLen(s string, i int) int {
	isSep := func(c byte) bool { return strings.IndexByte(" -.()", c) >= 0 }
	if i >= len(s) || !isSep(s[i]) {
		return 0
	}
	if i+1 < len(s) && isDigit(s[i+1]) {
		return 1
	}
	if i+2 < len(s) && isSep(s[i+1]) && isDigit(s[i+2]) {
		a, b := s[i], s[i+1]
		if a == b || a == '(' && b == ')' || a == ')' && b == '(' {
			return 0
		}
		return 2
	}
	return 0
}

type replacement struct {
	from, to int
	token    string
}

// classifySpan finds the card and phone numbers among sp's groups: windows
// of consecutive groups, leftmost first and longest first, of at most 19
// digits.
func classifySpan(s string, sp span) []replacement {
	var out []replacement
	n := len(sp.groups)
	digits := make([]int, n+1) // digits[k] = digits in groups[:k]
	for k, g := range sp.groups {
		digits[k+1] = digits[k] + g[1] - g[0]
	}
	hi := 0 // the last group of the longest window of at most 19 digits from k
	for k := 0; k < n; {
		if hi < k {
			hi = k
		}
		for hi+1 < n && digits[hi+2]-digits[k] <= 19 {
			hi++
		}
		matched := false
		for m := hi; m >= k && !matched; m-- {
			d := digits[m+1] - digits[k]
			if d > 19 {
				continue // a single group of more than 19 digits
			}
			if d < 8 {
				break
			}
			from := sp.groups[k][0]
			if k == 0 {
				from = sp.start
			} else if s[from-1] == '(' {
				from--
			}
			to := sp.groups[m][1]
			if tok := classifyWindow(s[from:to], d); tok != "" {
				out = append(out, replacement{from: from, to: to, token: tok})
				k = m + 1
				matched = true
			}
		}
		if !matched {
			k++
		}
	}
	return out
}

// classifyWindow says whether text, holding d digits, is a card number or
// a phone number.
func classifyWindow(text string, d int) string {
	if d >= 13 && d <= 19 && strings.Trim(text, "0123456789 -") == "" && isDigit(text[0]) && luhn(text) {
		return RedactedCard
	}
	switch {
	case text[0] == '+':
		if d >= 8 && d <= 15 {
			return RedactedPhone
		}
	case d == 10 || d == 11:
		if nanpRE.MatchString(text) || parenRE.MatchString(text) || trunkRE.MatchString(text) {
			return RedactedPhone
		}
	case d == 9:
		if parenRE.MatchString(text) || trunkRE.MatchString(text) {
			return RedactedPhone
		}
	}
	return ""
}

// luhn reports whether the digits of text pass the Luhn check.
func luhn(text string) bool {
	sum, double := 0, false
	for i := len(text) - 1; i >= 0; i-- {
		c := text[i]
		if !isDigit(c) {
			continue
		}
		v := int(c - '0')
		if double {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
		double = !double
	}
	return sum%10 == 0
}
