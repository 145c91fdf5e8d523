package extract_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/llm"
)

var update = flag.Bool("update", false, "rewrite golden files")

func callFields() extract.FieldSet {
	return extract.FieldSet{
		{Key: "intent", Type: extract.Enum, EnumValues: []string{"billing", "support"}, Required: true, Description: "The caller's primary reason."},
		{Key: "resolved", Type: extract.Boolean},
		{Key: "refund_amount", Type: extract.Number, Description: "Amount refunded, in the account's currency."},
		{Key: "summary", Type: extract.String, Required: true},
		{Key: "sentiment", Type: extract.Enum, EnumValues: []string{"positive", "neutral", "negative"}},
	}
}

func TestFieldSetValidateAcceptsAGoodSet(t *testing.T) {
	require.NoError(t, callFields().Validate())
	require.NoError(t, extract.FieldSet{{Key: "A", Type: extract.String}}.Validate())
	require.NoError(t, extract.FieldSet{{Key: "orderId_2", Type: extract.Number}}.Validate())
}

func TestFieldSetValidateReportsEveryProblem(t *testing.T) {
	tests := []struct {
		name string
		fs   extract.FieldSet
		want []extract.Problem
	}{
		{"empty", extract.FieldSet{}, []extract.Problem{{Index: -1, Path: "$", Message: "the field set is empty: at least one field is required"}}},
		{"nil", nil, []extract.Problem{{Index: -1, Path: "$", Message: "the field set is empty: at least one field is required"}}},
		{"missing key", extract.FieldSet{{Type: extract.String}}, []extract.Problem{{Index: 0, Path: "$[0].key", Message: "the key is missing"}}},
		{"malformed keys", extract.FieldSet{
			{Key: "1st", Type: extract.String},
			{Key: "has space", Type: extract.String},
			{Key: "dash-ed", Type: extract.String},
			{Key: strings.Repeat("k", 65), Type: extract.String},
			{Key: "_x", Type: extract.String},
		}, []extract.Problem{
			{Index: 0, Path: "$[0].key", Message: `"1st" is not a valid key: it must match ` + extract.KeyPattern},
			{Index: 1, Path: "$[1].key", Message: `"has space" is not a valid key: it must match ` + extract.KeyPattern},
			{Index: 2, Path: "$[2].key", Message: `"dash-ed" is not a valid key: it must match ` + extract.KeyPattern},
			{Index: 3, Path: "$[3].key", Message: `"` + strings.Repeat("k", 65) + `" is not a valid key: it must match ` + extract.KeyPattern},
			{Index: 4, Path: "$[4].key", Message: `"_x" is not a valid key: it must match ` + extract.KeyPattern},
		}},
		{"duplicate keys, ignoring case", extract.FieldSet{
			{Key: "intent", Type: extract.String},
			{Key: "other", Type: extract.String},
			{Key: "Intent", Type: extract.String},
		}, []extract.Problem{{Index: 2, Path: "$[2].key", Message: `"Intent" repeats the key of field 0`}}},
		{"missing and unknown types", extract.FieldSet{
			{Key: "a"},
			{Key: "b", Type: "date"},
			{Key: "c", Type: "Number"},
		}, []extract.Problem{
			{Index: 0, Path: "$[0].type", Message: "the type is missing: use string, number, boolean or enum"},
			{Index: 1, Path: "$[1].type", Message: `"date" is not a field type: use string, number, boolean or enum`},
			{Index: 2, Path: "$[2].type", Message: `"Number" is not a field type: use string, number, boolean or enum`},
		}},
		{"enum without values", extract.FieldSet{{Key: "a", Type: extract.Enum}},
			[]extract.Problem{{Index: 0, Path: "$[0].enumValues", Message: "an enum field needs enumValues"}}},
		{"enum with duplicate and empty values", extract.FieldSet{{Key: "a", Type: extract.Enum, EnumValues: []string{"yes", "no", "Yes", " ", "no"}}},
			[]extract.Problem{
				{Index: 0, Path: "$[0].enumValues[2]", Message: `"Yes" duplicates enum value 0 ("yes")`},
				{Index: 0, Path: "$[0].enumValues[3]", Message: "an enum value must not be empty"},
				{Index: 0, Path: "$[0].enumValues[4]", Message: `"no" duplicates enum value 1 ("no")`},
			}},
		{"enumValues on a non-enum", extract.FieldSet{{Key: "a", Type: extract.Boolean, EnumValues: []string{"x"}}},
			[]extract.Problem{{Index: 0, Path: "$[0].enumValues", Message: "enumValues are only allowed on enum fields, not on a boolean field"}}},
		{"long description and enum value", extract.FieldSet{{Key: "a", Type: extract.Enum, Description: strings.Repeat("d", extract.MaxDescriptionLen+1),
			EnumValues: []string{strings.Repeat("v", extract.MaxEnumValueLen+1)}}},
			[]extract.Problem{
				{Index: 0, Path: "$[0].description", Message: "the description is 2001 bytes, more than 2000"},
				{Index: 0, Path: "$[0].enumValues[0]", Message: "the enum value is 201 bytes, more than 200"},
			}},
		{"several fields at once", extract.FieldSet{
			{Key: "ok", Type: extract.String},
			{Key: "", Type: "x"},
			{Key: "e", Type: extract.Enum},
		}, []extract.Problem{
			{Index: 1, Path: "$[1].key", Message: "the key is missing"},
			{Index: 1, Path: "$[1].type", Message: `"x" is not a field type: use string, number, boolean or enum`},
			{Index: 2, Path: "$[2].enumValues", Message: "an enum field needs enumValues"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.fs.Validate()
			require.Error(t, err)
			assert.True(t, errors.Is(err, extract.ErrInvalid))
			var ve *extract.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tt.want, ve.Problems)
		})
	}
}

func TestFieldSetLimits(t *testing.T) {
	big := make(extract.FieldSet, extract.MaxFields+1)
	for i := range big {
		big[i] = extract.Field{Key: "f" + strings.Repeat("x", i%60) + string(rune('a'+i%26)) + string(rune('a'+i/26)), Type: extract.String}
	}
	var ve *extract.ValidationError
	require.ErrorAs(t, big.Validate(), &ve)
	assert.Equal(t, []extract.Problem{{Index: -1, Path: "$", Message: "the field set has 101 fields, more than the 100 allowed"}}, ve.Problems)

	values := make([]string, extract.MaxEnumValues+1)
	for i := range values {
		values[i] = strings.Repeat("v", i+1)
	}
	require.ErrorAs(t, extract.FieldSet{{Key: "e", Type: extract.Enum, EnumValues: values}}.Validate(), &ve)
	assert.Equal(t, "$[0].enumValues", ve.Problems[0].Path)
	assert.Contains(t, ve.Problems[0].Message, "201 enumValues, more than the 200 allowed")
}

func TestValidationErrorUnder(t *testing.T) {
	err := extract.FieldSet{{Key: "a", Type: "x"}}.Validate()
	var ve *extract.ValidationError
	require.ErrorAs(t, err, &ve)
	moved := ve.Under("$.fieldSet")
	assert.Equal(t, "$.fieldSet[0].type", moved.Problems[0].Path)
	assert.Equal(t, "$[0].type", ve.Problems[0].Path, "the original is unchanged")
	assert.Equal(t, `invalid: $.fieldSet[0].type: "x" is not a field type: use string, number, boolean or enum`, moved.Error())
	assert.ErrorIs(t, moved, extract.ErrInvalid)
}

func TestFieldSetJSONNames(t *testing.T) {
	var fs extract.FieldSet
	require.NoError(t, json.Unmarshal([]byte(`[
		{ "key": "intent", "type": "enum", "enumValues": ["billing", "support"], "required": true },
		{ "key": "resolved", "type": "boolean", "description": "Was it resolved?" }
	]`), &fs))
	assert.Equal(t, extract.FieldSet{
		{Key: "intent", Type: extract.Enum, EnumValues: []string{"billing", "support"}, Required: true},
		{Key: "resolved", Type: extract.Boolean, Description: "Was it resolved?"},
	}, fs)
	out, err := json.Marshal(fs)
	require.NoError(t, err)
	assert.JSONEq(t, `[{"key":"intent","type":"enum","enumValues":["billing","support"],"required":true},
		{"key":"resolved","type":"boolean","description":"Was it resolved?"}]`, string(out))
	f, ok := fs.Field("resolved")
	assert.True(t, ok)
	assert.Equal(t, extract.Boolean, f.Type)
	_, ok = fs.Field("nope")
	assert.False(t, ok)
}

func TestFieldSetSchemaGolden(t *testing.T) {
	raw, err := callFields().Schema()
	require.NoError(t, err)
	require.NoError(t, llm.CheckStrict(raw), "the schema is in the strict subset")

	var pretty bytes.Buffer
	require.NoError(t, json.Indent(&pretty, raw, "", "  "))
	pretty.WriteByte('\n')
	path := filepath.Join("testdata", "fieldset_schema.json")
	if *update {
		require.NoError(t, os.WriteFile(path, pretty.Bytes(), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), pretty.String())

	s := llm.MustSchema("x", raw)
	assert.Nil(t, s.Problems([]byte(`{"intent":"billing","resolved":null,"refund_amount":12.5,"summary":"s","sentiment":null}`)))
	assert.NotNil(t, s.Problems([]byte(`{"intent":null,"resolved":null,"refund_amount":null,"summary":"s","sentiment":null}`)),
		"a required field is not nullable")
	assert.NotNil(t, s.Problems([]byte(`{"intent":"billing","resolved":null,"refund_amount":null,"summary":"s","sentiment":"meh"}`)),
		"an optional enum still lists its values")

	_, err = extract.FieldSet{}.Schema()
	assert.ErrorIs(t, err, extract.ErrInvalid)
}

func TestFieldSetSchemaKeepsTheOrder(t *testing.T) {
	raw, err := callFields().Schema()
	require.NoError(t, err)
	s := string(raw)
	last := -1
	for _, f := range callFields() {
		i := strings.Index(s, `"`+f.Key+`":`)
		require.Greater(t, i, last, "%s is out of order", f.Key)
		last = i
	}
}
