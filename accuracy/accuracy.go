// Package accuracy scores extracted fields against reference fields.
//
// [Compare] scores one item, field by field, typed by the field set:
// strings are normalised before they are compared (or scored by token F1),
// numbers are compared within a tolerance, booleans and enums after the
// coercion rules of package extract. [PerField] and [NewConfusion] summarise
// many items; [CohenKappa] and [Spearman] measure how well a judge agrees
// with human labels.
package accuracy

import (
	"sort"
	"strings"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

	"github.com/debrief-go/debrief/extract"
)

// Options tune how values are compared. The zero value compares strings
// after normalisation and numbers for equality.
type Options struct {
	// TokenF1, when above 0, makes two strings match when the token F1 of
	// their normalised forms is at least TokenF1 (1 demands the same tokens
	// in any order). At 0, normalised strings must be equal.
	TokenF1 float64
	// AbsTolerance lets two numbers match when they differ by at most it.
	AbsTolerance float64
	// RelTolerance lets two numbers match when they differ by at most
	// RelTolerance × |expected|.
	RelTolerance float64
}

// A FieldResult is the comparison of one field.
type FieldResult struct {
	// Expected is the reference value, coerced to the field's type.
	Expected any `json:"expected"`
	// Actual is the extracted value, coerced to the field's type (nil when
	// it was absent or could not be coerced).
	Actual any `json:"actual"`
	// Match reports whether they agree.
	Match bool `json:"match"`
	// F1 is the token F1 of two strings when Options.TokenF1 is set.
	F1 *float64 `json:"f1,omitempty"`
}

// A ReferenceIssue is a reference value that cannot be coerced to its
// field's type. It is left out of the comparison, since it would blame the
// extraction for bad ground truth.
type ReferenceIssue struct {
	// Key is the field's key.
	Key string `json:"key"`
	// Reason says why the value was rejected.
	Reason string `json:"reason"`
}

// A Result is the comparison of one item's extracted fields with its
// reference fields.
type Result struct {
	// Score is Matched / ComparedCount, or nil when nothing was compared.
	Score *float64 `json:"score" jsonschema:"nullable"`
	// ComparedCount counts the fields compared.
	ComparedCount int `json:"comparedCount"`
	// PerField holds each compared field's result, by key.
	PerField map[string]FieldResult `json:"perField"`
	// InvalidReference lists the reference values that could not be coerced,
	// in field-set order.
	InvalidReference []ReferenceIssue `json:"invalidReference,omitempty"`
	// UnknownReferenceKeys lists, sorted, the reference keys that are not in
	// the field set; they are not compared.
	UnknownReferenceKeys []string `json:"unknownReferenceKeys,omitempty"`
}

// Matched counts the matching fields.
func (r Result) Matched() int {
	n := 0
	for _, f := range r.PerField {
		if f.Match {
			n++
		}
	}
	return n
}

// Compare scores extracted against reference, field by field of fs. Only
// the fields whose key is present in reference are compared — a key present
// with a null value is compared, and matches only null. Values are first
// coerced with [extract.CoerceValue], so stored JSON values (float64 for
// numbers, "yes" for a boolean reference) compare as their types say;
// a reference value that cannot be coerced is reported in InvalidReference
// instead of being compared, and an extracted value that cannot be coerced
// counts as null. Then:
//
//   - strings match when their normalised forms are equal (see [Normalize]),
//     or, with Options.TokenF1 set, when their token F1 reaches it;
//   - numbers match when equal or within the tolerances of opts;
//   - booleans and enums match when equal after coercion (enums in their
//     canonical spelling, so case does not matter).
func Compare(fs extract.FieldSet, extracted, reference map[string]any, opts Options) Result {
	res := Result{PerField: map[string]FieldResult{}}
	for _, f := range fs {
		refValue, ok := reference[f.Key]
		if !ok {
			continue
		}
		expected, err := extract.CoerceValue(f, refValue)
		if err != nil {
			res.InvalidReference = append(res.InvalidReference, ReferenceIssue{Key: f.Key, Reason: err.Error()})
			continue
		}
		actual, err := extract.CoerceValue(f, extracted[f.Key])
		if err != nil {
			actual = nil
		}
		fr := FieldResult{Expected: expected, Actual: actual}
		switch {
		case expected == nil || actual == nil:
			fr.Match = expected == nil && actual == nil
		case f.Type == extract.String:
			if opts.TokenF1 > 0 {
				f1 := TokenF1(expected.(string), actual.(string))
				fr.F1, fr.Match = &f1, f1 >= opts.TokenF1
			} else {
				fr.Match = Normalize(expected.(string)) == Normalize(actual.(string))
			}
		case f.Type == extract.Number:
			fr.Match = numbersMatch(expected.(float64), actual.(float64), opts)
		default:
			fr.Match = expected == actual
		}
		res.PerField[f.Key] = fr
		res.ComparedCount++
	}
	for k := range reference {
		if _, known := fs.Field(k); !known {
			res.UnknownReferenceKeys = append(res.UnknownReferenceKeys, k)
		}
	}
	sort.Strings(res.UnknownReferenceKeys)
	if res.ComparedCount > 0 {
		score := float64(res.Matched()) / float64(res.ComparedCount)
		res.Score = &score
	}
	return res
}

func numbersMatch(expected, actual float64, opts Options) bool {
	diff := expected - actual
	if diff < 0 {
		diff = -diff
	}
	return diff == 0 || diff <= opts.AbsTolerance || diff <= opts.RelTolerance*abs(expected)
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// Normalize returns the form in which two strings are compared: Unicode
// NFKC (so full-width "ＢＩＬＬＩＮＧ" is "BILLING"), full case folding,
// invisible format characters (zero-width spaces, joiners) removed, white
// space trimmed and inner runs collapsed to one space, and punctuation and
// symbols ("$", "™", "«»") removed from both ends.
func Normalize(s string) string {
	edge := func(r rune) bool { return unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.IsSpace(r) }
	s = strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, s)
	// Symbols are trimmed before NFKC, which would spell "™" as "TM".
	s = strings.TrimFunc(norm.NFC.String(s), edge)
	s = cases.Fold().String(norm.NFKC.String(s))
	s = strings.Join(strings.Fields(s), " ")
	return strings.TrimFunc(s, edge)
}

// TokenF1 returns the F1 score of the tokens of a and b, as in reading
// comprehension benchmarks: both are normalised, split on white space with
// punctuation stripped from each token's ends, and precision and recall are
// counted over the multiset of shared tokens. Two strings without tokens
// score 1; one without tokens scores 0 against one with.
func TokenF1(a, b string) float64 {
	ta, tb := tokens(a), tokens(b)
	if len(ta) == 0 || len(tb) == 0 {
		if len(ta) == len(tb) {
			return 1
		}
		return 0
	}
	counts := map[string]int{}
	for _, t := range ta {
		counts[t]++
	}
	shared := 0
	for _, t := range tb {
		if counts[t] > 0 {
			counts[t]--
			shared++
		}
	}
	if shared == 0 {
		return 0
	}
	p, r := float64(shared)/float64(len(tb)), float64(shared)/float64(len(ta))
	return 2 * p * r / (p + r)
}

func tokens(s string) []string {
	var out []string
	for _, t := range strings.Fields(Normalize(s)) {
		if t = strings.TrimFunc(t, func(r rune) bool { return unicode.IsPunct(r) || unicode.IsSymbol(r) }); t != "" {
			out = append(out, t)
		}
	}
	return out
}
