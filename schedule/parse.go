package schedule

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is matched (with [errors.Is]) by every error [Parse] returns:
// the expression is not a valid cron expression. The [*ParseError] behind it
// says which field is wrong and why.
var ErrInvalid = errors.New("schedule: invalid cron expression")

// A ParseError reports why [Parse] rejected an expression. It matches
// [ErrInvalid].
//
// Its message names the expression, the field and the reason, for example:
//
//	cron "0 25 * * *": hour field "25": value 25 out of range 0-23
//
// and, when the expression as a whole is wrong rather than one field:
//
//	cron "0 2 * *": expected 5 fields (minute hour day-of-month month day-of-week), got 4
type ParseError struct {
	// Expr is the expression as given to Parse.
	Expr string
	// Field names the offending field: "minute", "hour", "day-of-month",
	// "month" or "day-of-week". It is empty when the expression as a whole
	// is wrong: empty, the wrong number of fields, an unknown macro.
	Field string
	// Value is the offending field's text, or the offending macro when Field
	// is empty; it is empty for an empty expression or a wrong field count.
	Value string
	// Reason says what is wrong, e.g. "value 25 out of range 0-23".
	Reason string
}

// Error returns the message described on [ParseError].
func (e *ParseError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("cron %q: %s", e.Expr, e.Reason)
	}
	return fmt.Sprintf("cron %q: %s field %q: %s", e.Expr, e.Field, e.Value, e.Reason)
}

// Is reports whether target is [ErrInvalid].
func (e *ParseError) Is(target error) bool { return target == ErrInvalid }

// field identifies one of the five fields of an expression.
type field int

const (
	fieldMinute field = iota
	fieldHour
	fieldDayOfMonth
	fieldMonth
	fieldDayOfWeek
	numFields
)

// fieldList is the field order as error messages spell it.
const fieldList = "minute hour day-of-month month day-of-week"

// Name tables: three letters per name, lower case, in value order.
const (
	monthNames = "janfebmaraprmayjunjulaugsepoctnovdec" // JAN = 1
	dowNames   = "sunmontuewedthufrisat"                // SUN = 0
)

func (f field) String() string {
	switch f {
	case fieldMinute:
		return "minute"
	case fieldHour:
		return "hour"
	case fieldDayOfMonth:
		return "day-of-month"
	case fieldMonth:
		return "month"
	default:
		return "day-of-week"
	}
}

// bounds returns the values f accepts. Day of week accepts 0-7, where both 0
// and 7 are Sunday.
func (f field) bounds() (lo, hi int) {
	switch f {
	case fieldMinute:
		return 0, 59
	case fieldHour:
		return 0, 23
	case fieldDayOfMonth:
		return 1, 31
	case fieldMonth:
		return 1, 12
	default:
		return 0, 7
	}
}

// names returns f's name table and the value of its first name.
func (f field) names() (table string, first int) {
	switch f {
	case fieldMonth:
		return monthNames, 1
	case fieldDayOfWeek:
		return dowNames, 0
	}
	return "", 0
}

// macro returns the five-field form of a macro (given in lower case).
func macro(name string) (string, bool) {
	switch name {
	case "@yearly", "@annually":
		return "0 0 1 1 *", true
	case "@monthly":
		return "0 0 1 * *", true
	case "@weekly":
		return "0 0 * * 0", true
	case "@daily", "@midnight":
		return "0 0 * * *", true
	case "@hourly":
		return "0 * * * *", true
	}
	return "", false
}

// Parse parses a standard five-field cron expression, evaluated in UTC
// (use [Cron.In] to evaluate it on the wall clock of a time zone):
//
//	minute hour day-of-month month day-of-week
//
// Fields are separated by white space. Each field is a comma-separated
// list of elements, and an element is one of
//
//   - "*": every value of the field;
//   - a value: "5", or a name;
//   - a range "a-b": a to b inclusive, a not after b;
//   - a step "*/n", "a-b/n" or "a/n": every n-th value of "*", of a-b, or of
//     a up to the field's maximum (as common cron implementations read "a/n").
//
// Values: minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or JAN-DEC,
// day-of-week 0-7 or SUN-SAT, where both 0 and 7 are Sunday (so "FRI-7" is
// Friday to Sunday). Names are three letters, in any case, and may be used
// wherever a value may, in ranges too; a step is always a number, from 1 to
// the field's maximum.
//
// Day of month and day of week combine as in standard cron: when both are
// restricted, a day matches if either matches ("0 0 13 * FRI" fires on every
// 13th and on every Friday); when either field starts with "*" — "*" itself
// or a step such as "*/2" — a day must match both, which makes "*" neutral.
// The rule looks at the field's first character exactly as Vixie cron does,
// so "0 0 1-7 * */7" fires on the Sundays among days 1-7: the first Sunday
// of each month. (Some libraries treat "*/7" as restricted there; standard
// cron does not.)
//
// These macros stand for a whole expression, in any case: @yearly and
// @annually ("0 0 1 1 *"), @monthly ("0 0 1 * *"), @weekly ("0 0 * * 0"),
// @daily and @midnight ("0 0 * * *"), and @hourly ("0 * * * *"). @reboot and
// @every have no meaning for a calendar schedule and are rejected.
//
// Six- and seven-field forms (with seconds, or seconds and years) and the
// extensions of other schedulers (L, W, #, ?) are rejected with an error that
// says so: only the standard five-field form is accepted.
//
// An expression that is valid but names no existing day, such as
// "0 0 30 2 *" (February 30th), parses; its [Cron.Next] and [Cron.Latest]
// return the zero time.
//
// Every error is a [*ParseError] naming the field at fault (or, with an
// empty Field, saying what is wrong with the expression as a whole), and
// matches [ErrInvalid].
func Parse(expr string) (*Cron, error) {
	fields := strings.Fields(expr)
	bad := func(value, reason string) (*Cron, error) {
		return nil, &ParseError{Expr: expr, Value: value, Reason: reason}
	}
	switch {
	case len(fields) == 0:
		return bad("", "empty expression")
	case strings.HasPrefix(fields[0], "@"):
		name := strings.ToLower(fields[0])
		five, ok := macro(name)
		switch {
		case name == "@reboot":
			return bad(fields[0], "@reboot has no time slots")
		case name == "@every":
			return bad(fields[0], "@every intervals are not supported; use a five-field expression")
		case !ok:
			return bad(fields[0], fmt.Sprintf("unknown macro %q (want @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)", fields[0]))
		case len(fields) > 1:
			return bad(fields[0], fmt.Sprintf("unexpected %q after macro %s", strings.Join(fields[1:], " "), fields[0]))
		}
		c, err := parseFields(expr, strings.Fields(five))
		if err != nil {
			panic("schedule: macro " + name + " does not parse: " + err.Error())
		}
		c.expr = name
		return c, nil
	case len(fields) == 6:
		return bad("", fmt.Sprintf("expected 5 fields (%s), got 6: a seconds field is not supported", fieldList))
	case len(fields) == 7:
		return bad("", fmt.Sprintf("expected 5 fields (%s), got 7: seconds and year fields are not supported", fieldList))
	case len(fields) != 5:
		return bad("", fmt.Sprintf("expected 5 fields (%s), got %d", fieldList, len(fields)))
	}
	return parseFields(expr, fields)
}

// parseFields builds a Cron from exactly five fields.
func parseFields(expr string, fields []string) (*Cron, error) {
	var sets [numFields]uint64
	for i, text := range fields {
		f := field(i)
		bits, reason := parseField(f, text)
		if reason != "" {
			return nil, &ParseError{Expr: expr, Field: f.String(), Value: text, Reason: reason}
		}
		sets[f] = bits
	}
	// Sunday is both 0 and 7: keep it as 0 only.
	dow := sets[fieldDayOfWeek]
	if dow&(1<<7) != 0 {
		dow = dow&^(1<<7) | 1
	}
	return newCron(strings.Join(fields, " "), sets[fieldMinute], sets[fieldHour], sets[fieldDayOfMonth], sets[fieldMonth], dow,
		fields[fieldDayOfMonth][0] == '*' || fields[fieldDayOfWeek][0] == '*'), nil
}

// parseField returns the set of values text selects in f, or the reason it
// is invalid.
func parseField(f field, text string) (uint64, string) {
	var bits uint64
	for elem := range strings.SplitSeq(text, ",") {
		b, reason := parseElement(f, elem)
		if reason != "" {
			if elem != "" && elem != text {
				reason = fmt.Sprintf("element %q: %s", elem, reason)
			}
			return 0, reason
		}
		bits |= b
	}
	return bits, ""
}

// parseElement parses one list element: "*", a value, a range, or either
// with a step.
func parseElement(f field, elem string) (uint64, string) {
	if elem == "" {
		return 0, "empty list element"
	}
	lo, hi := f.bounds()
	span, stepText, hasStep := strings.Cut(elem, "/")
	step := 1
	if hasStep {
		if stepText == "" {
			return 0, `missing step after "/"`
		}
		n, ok := number(stepText)
		switch {
		case !ok:
			return 0, fmt.Sprintf("invalid step %q", stepText)
		case n < 1 || n > hi:
			return 0, fmt.Sprintf("step %s out of range 1-%d", stepText, hi)
		}
		step = n
	}
	var start, end int
	switch {
	case span == "*":
		start, end = lo, hi
	case span == "":
		return 0, `missing value before "/"`
	default:
		a, b, isRange := strings.Cut(span, "-")
		if isRange {
			if a == "" {
				return 0, fmt.Sprintf("invalid range %q: missing start", span)
			}
			if b == "" {
				return 0, fmt.Sprintf("invalid range %q: missing end", span)
			}
			if strings.Contains(b, "-") {
				return 0, fmt.Sprintf("invalid range %q", span)
			}
		}
		var reason string
		if start, reason = value(f, a); reason != "" {
			return 0, reason
		}
		switch {
		case isRange:
			if end, reason = value(f, b); reason != "" {
				return 0, reason
			}
			if start > end {
				reason = fmt.Sprintf("range start %d is after end %d", start, end)
				if f == fieldDayOfWeek && end == 0 {
					reason += " (write Sunday as 7 to end a range on it)"
				}
				return 0, reason
			}
		case hasStep:
			end = hi
		default:
			end = start
		}
	}
	var bits uint64
	for v := start; v <= end; v += step {
		bits |= 1 << v
	}
	return bits, ""
}

// value parses a single value of f: digits or, for month and day of week, a
// three-letter name.
func value(f field, s string) (int, string) {
	lo, hi := f.bounds()
	if n, ok := number(s); ok {
		if n < lo || n > hi {
			return 0, fmt.Sprintf("value %s out of range %d-%d", s, lo, hi)
		}
		return n, ""
	}
	if table, first := f.names(); table != "" && len(s) == 3 && isLetters(s) {
		if i := strings.Index(table, strings.ToLower(s)); i >= 0 && i%3 == 0 {
			return first + i/3, ""
		}
	}
	switch {
	case s == "*":
		return 0, `"*" cannot be part of a range`
	case strings.ContainsAny(s, "?#") || isQuartzDay(s):
		return 0, fmt.Sprintf("%q is not standard cron (L, W, # and ? are not supported)", s)
	case isLetters(s):
		switch f {
		case fieldMonth:
			return 0, fmt.Sprintf("unknown name %q (want JAN-DEC or 1-12)", s)
		case fieldDayOfWeek:
			return 0, fmt.Sprintf("unknown name %q (want SUN-SAT or 0-7)", s)
		}
		return 0, fmt.Sprintf("invalid value %q (want %d-%d)", s, lo, hi)
	}
	return 0, fmt.Sprintf("invalid value %q", s)
}

// number parses s when it is a non-empty run of ASCII digits. Values too
// long to matter saturate above a million, which every range check rejects.
func number(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < 1_000_000 {
			n = n*10 + int(c-'0')
		}
	}
	return n, true
}

// isQuartzDay reports whether s looks like a Quartz day extension: L, LW,
// or digits followed by L or W.
func isQuartzDay(s string) bool {
	u := strings.ToUpper(s)
	if u == "L" || u == "LW" {
		return true
	}
	if len(u) < 2 || (u[len(u)-1] != 'L' && u[len(u)-1] != 'W') {
		return false
	}
	_, ok := number(u[:len(u)-1])
	return ok
}

func isLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return s != ""
}
