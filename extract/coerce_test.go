package extract_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/extract"
)

func TestCoerce(t *testing.T) {
	str := extract.Field{Key: "s", Type: extract.String}
	num := extract.Field{Key: "n", Type: extract.Number}
	boo := extract.Field{Key: "b", Type: extract.Boolean}
	enm := extract.Field{Key: "e", Type: extract.Enum, EnumValues: []string{"billing", "Tech Support", "ÉTÉ", "42"}}

	tests := []struct {
		field extract.Field
		raw   string
		want  any
		err   string
	}{
		{str, `"hello"`, "hello", ""},
		{str, `"  spaced  "`, "  spaced  ", ""},
		{str, `12.50`, "12.50", ""},
		{str, `true`, "true", ""},
		{str, `null`, nil, ""},
		{str, `{"a":1}`, nil, "an object cannot be a string"},
		{str, `[1]`, nil, "an array cannot be a string"},

		{num, `12`, 12.0, ""},
		{num, `-3.5e2`, -350.0, ""},
		{num, `"12"`, 12.0, ""},
		{num, `" 3.25 "`, 3.25, ""},
		{num, `"1e3"`, 1000.0, ""},
		{num, `"12 dollars"`, nil, `"12 dollars" is not a number`},
		{num, `"1,234"`, nil, `"1,234" is not a number`},
		{num, `"NaN"`, nil, `"NaN" is not a number`},
		{num, `"Inf"`, nil, `"Inf" is not a number`},
		{num, `"0x1F"`, nil, `"0x1F" is not a number`},
		{num, `"1_000"`, nil, `"1_000" is not a number`},
		{num, `""`, nil, `"" is not a number`},
		{num, `true`, nil, "true is a boolean, not a number"},
		{num, `1e400`, nil, `"1e400" is not a number`},
		{num, `null`, nil, ""},

		{boo, `true`, true, ""},
		{boo, `false`, false, ""},
		{boo, `"yes"`, true, ""},
		{boo, `" YES "`, true, ""},
		{boo, `"True"`, true, ""},
		{boo, `"1"`, true, ""},
		{boo, `"no"`, false, ""},
		{boo, `"FALSE"`, false, ""},
		{boo, `"0"`, false, ""},
		{boo, `1`, true, ""},
		{boo, `0`, false, ""},
		{boo, `1.0`, true, ""},
		{boo, `2`, nil, "2 is not a boolean (only the numbers 1 and 0 are)"},
		{boo, `"maybe"`, nil, `"maybe" is not a boolean (true/yes/1 or false/no/0)`},
		{boo, `"y"`, nil, `"y" is not a boolean (true/yes/1 or false/no/0)`},
		{boo, `[]`, nil, "an array cannot be a boolean"},

		{enm, `"billing"`, "billing", ""},
		{enm, `"BILLING"`, "billing", ""},
		{enm, `" tech support "`, "Tech Support", ""},
		{enm, `"été"`, "ÉTÉ", ""},
		{enm, `42`, "42", ""},
		{enm, `"bill"`, nil, `"bill" is not one of "billing", "Tech Support", "ÉTÉ", "42"`},
		{enm, `true`, nil, "true is not one of the enum values"},
		{enm, `null`, nil, ""},
	}
	for _, tt := range tests {
		t.Run(string(tt.field.Type)+" "+tt.raw, func(t *testing.T) {
			got, err := extract.Coerce(tt.field, json.RawMessage(tt.raw))
			if tt.err != "" {
				require.Error(t, err)
				assert.Equal(t, tt.err, err.Error())
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestCoerceValueFromGo(t *testing.T) {
	num := extract.Field{Key: "n", Type: extract.Number}
	v, err := extract.CoerceValue(num, 7)
	require.NoError(t, err)
	assert.Equal(t, 7.0, v)
	v, err = extract.CoerceValue(num, int64(-2))
	require.NoError(t, err)
	assert.Equal(t, -2.0, v)
	v, err = extract.CoerceValue(num, float32(1.5))
	require.NoError(t, err)
	assert.Equal(t, 1.5, v)
	_, err = extract.CoerceValue(num, math.NaN())
	assert.EqualError(t, err, "NaN is not a finite number")
	_, err = extract.CoerceValue(num, math.Inf(1))
	assert.Error(t, err)
	v, err = extract.CoerceValue(extract.Field{Type: extract.String}, 3.0)
	require.NoError(t, err)
	assert.Equal(t, "3", v)
	_, err = extract.CoerceValue(extract.Field{Type: "date"}, "x")
	assert.EqualError(t, err, `unknown field type "date"`)
}

func TestCoerceErrors(t *testing.T) {
	f := extract.Field{Key: "n", Type: extract.Number}
	for raw, want := range map[string]string{
		``:      "no value",
		`  `:    "no value",
		`{`:     "not valid JSON",
		`1 2`:   "not valid JSON: more than one value",
		`"abc`:  "not valid JSON",
		`nulll`: "not valid JSON",
	} {
		_, err := extract.Coerce(f, json.RawMessage(raw))
		require.Error(t, err, raw)
		assert.Contains(t, err.Error(), want, raw)
	}
	long := `"` + strings.Repeat("é", 100) + `"`
	_, err := extract.Coerce(f, json.RawMessage(long))
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 120, "a rejected value is quoted short")
	assert.Contains(t, err.Error(), "…")
}
