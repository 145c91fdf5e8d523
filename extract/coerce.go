package extract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Coerce turns a raw JSON value into f's Go type: string, float64 or bool,
// or nil for null. It applies the rules of [CoerceValue].
func Coerce(f Field, raw json.RawMessage) (any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, fmt.Errorf("no value")
	}
	if v, ok := scalar(raw); ok {
		return CoerceValue(f, v)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("not valid JSON: more than one value")
	}
	return CoerceValue(f, v)
}

// scalar reads raw as a JSON null, boolean, number or string without a
// decoder — what a model's answer holds nearly always — and reports false
// for anything else (objects, arrays, strings with escapes or invalid
// UTF-8, text that is not one JSON value), which the decoder then reads.
// Numbers come back as json.Number, as the decoder would give them.
func scalar(raw []byte) (any, bool) {
	switch {
	case string(raw) == "null":
		return nil, true
	case string(raw) == "true":
		return true, true
	case string(raw) == "false":
		return false, true
	case raw[0] == '"':
		if len(raw) < 2 || raw[len(raw)-1] != '"' || bytes.IndexByte(raw, '\\') >= 0 || !utf8.Valid(raw) {
			return nil, false
		}
		body := raw[1 : len(raw)-1]
		if bytes.IndexByte(body, '"') >= 0 || hasControl(body) {
			return nil, false
		}
		return string(body), true
	case raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'):
		if !json.Valid(raw) {
			return nil, false
		}
		return json.Number(raw), true
	}
	return nil, false
}

func hasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}

// CoerceValue turns v — a value decoded from JSON (string, float64,
// json.Number, bool, nil) or a Go integer — into f's type, or explains why
// it cannot:
//
//   - null stays nil, whatever the type;
//   - string: a string is kept as is; a number or boolean becomes its JSON
//     text;
//   - number: a number is kept; a string is trimmed and parsed as a decimal
//     number ("12", " 3.5 ", "-1e3"); NaN, infinities and anything else are
//     rejected;
//   - boolean: true and false are kept; the strings true, yes, 1 and false,
//     no, 0 (trimmed, any case) and the numbers 1 and 0 are converted;
//   - enum: a string (or number, as its text) matching an enum value exactly
//     is kept; otherwise one matching a value ignoring case and surrounding
//     white space is replaced by that value's canonical spelling.
//
// Objects and arrays are never coerced. The error says why a value was
// rejected; it never quotes more than 64 bytes of it.
func CoerceValue(f Field, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch x := v.(type) {
	case float32:
		v = float64(x)
	case int:
		v = json.Number(strconv.Itoa(x))
	case int64:
		v = json.Number(strconv.FormatInt(x, 10))
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("%v is not a finite number", x)
		}
	}
	switch f.Type {
	case String:
		switch x := v.(type) {
		case string:
			return x, nil
		case json.Number:
			return x.String(), nil
		case float64:
			return strconv.FormatFloat(x, 'g', -1, 64), nil
		case bool:
			return strconv.FormatBool(x), nil
		}
	case Number:
		switch x := v.(type) {
		case float64:
			return x, nil
		case json.Number:
			return parseNumber(x.String())
		case string:
			return parseNumber(strings.TrimSpace(x))
		case bool:
			return nil, fmt.Errorf("%v is a boolean, not a number", x)
		}
	case Boolean:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "true", "yes", "1":
				return true, nil
			case "false", "no", "0":
				return false, nil
			}
			return nil, fmt.Errorf("%s is not a boolean (true/yes/1 or false/no/0)", quoteShort(x))
		case json.Number, float64:
			n, err := strconv.ParseFloat(fmt.Sprint(x), 64)
			switch {
			case err == nil && n == 1:
				return true, nil
			case err == nil && n == 0:
				return false, nil
			}
			return nil, fmt.Errorf("%v is not a boolean (only the numbers 1 and 0 are)", x)
		}
	case Enum:
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case json.Number:
			s = x.String()
		case float64:
			s = strconv.FormatFloat(x, 'g', -1, 64)
		default:
			return nil, fmt.Errorf("%v is not one of the enum values", x)
		}
		if canonical, ok := matchEnum(f.EnumValues, s); ok {
			return canonical, nil
		}
		return nil, fmt.Errorf("%s is not one of %s", quoteShort(s), enumList(f.EnumValues))
	default:
		return nil, fmt.Errorf("unknown field type %q", f.Type)
	}
	return nil, fmt.Errorf("%s cannot be a %s", jsonKind(v), f.Type)
}

func parseNumber(s string) (any, error) {
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) || !looksDecimal(s) {
		return nil, fmt.Errorf("%s is not a number", quoteShort(s))
	}
	return n, nil
}

// looksDecimal rejects the spellings ParseFloat accepts that no one means
// as a number in a transcript: hexadecimal, "Inf", "NaN", underscores.
func looksDecimal(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune("0123456789+-.eE", r) {
			return false
		}
	}
	return s != ""
}

// matchEnum finds s among values: exactly, then ignoring case and
// surrounding white space. It returns the canonical spelling.
func matchEnum(values []string, s string) (string, bool) {
	for _, v := range values {
		if v == s {
			return v, true
		}
	}
	trimmed := strings.TrimSpace(s)
	for _, v := range values { // simple case folding first: cheap, and enough for most answers
		if strings.EqualFold(strings.TrimSpace(v), trimmed) {
			return v, true
		}
	}
	folded := foldKey(s)
	for _, v := range values {
		if foldKey(v) == folded {
			return v, true
		}
	}
	return "", false
}

// foldKey is the form two strings share when they are equal ignoring case
// (full Unicode case folding), Unicode normalisation and surrounding white
// space.
func foldKey(s string) string {
	return cases.Fold().String(norm.NFC.String(strings.TrimSpace(s)))
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}

func quoteShort(s string) string {
	const limit = 64
	if len(s) > limit {
		cut := limit
		for cut > 0 && !utf8Start(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "…"
	}
	return strconv.Quote(s)
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

func enumList(values []string) string {
	const shown = 10
	quoted := make([]string, 0, min(len(values), shown))
	for i, v := range values {
		if i == shown {
			return strings.Join(quoted, ", ") + fmt.Sprintf(" (and %d more)", len(values)-shown)
		}
		quoted = append(quoted, strconv.Quote(v))
	}
	return strings.Join(quoted, ", ")
}
