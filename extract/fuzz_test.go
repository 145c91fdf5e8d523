package extract_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/llm"
)

// FuzzFieldSetValidate decodes arbitrary JSON as a field set: validation
// must never panic, must classify every rejection, and every set it accepts
// must yield a strict schema that compiles.
func FuzzFieldSetValidate(f *testing.F) {
	for _, seed := range []string{
		`[{"key":"intent","type":"enum","enumValues":["billing","support"],"required":true},{"key":"resolved","type":"boolean"}]`,
		`[]`,
		`[{"key":"","type":""}]`,
		`[{"key":"a","type":"enum","enumValues":["x","X"]}]`,
		`[{"key":"a","type":"number","enumValues":["1"]}]`,
		`[{"key":"é","type":"string"}]`,
		`[{"key":"a","type":"string","description":"\u0000\"</x>"}]`,
		`[{"key":"a","type":"enum","enumValues":["\ud800"]}]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fs extract.FieldSet
		if json.Unmarshal(data, &fs) != nil {
			return
		}
		err := fs.Validate()
		if err != nil {
			var ve *extract.ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, extract.ErrInvalid) || len(ve.Problems) == 0 {
				t.Fatalf("unclassified validation error: %v", err)
			}
			for _, p := range ve.Problems {
				if !strings.HasPrefix(p.Path, "$") || p.Message == "" || p.Index < -1 || p.Index >= len(fs) {
					t.Fatalf("malformed problem %+v", p)
				}
			}
			return
		}
		raw, err := fs.Schema()
		if err != nil {
			t.Fatalf("a valid set has no schema: %v", err)
		}
		if err := llm.CheckStrict(raw); err != nil {
			t.Fatalf("schema not strict: %v", err)
		}
		if _, err := extract.New(extract.Config{FieldSet: fs}); err != nil {
			t.Fatalf("a valid set does not compile: %v", err)
		}
	})
}

// FuzzCoerce coerces arbitrary JSON into each field type: no panic; a
// coerced value has the field's Go type, an enum value is one of the
// field's values, and coercing the result again changes nothing.
func FuzzCoerce(f *testing.F) {
	for _, seed := range []string{`"12"`, `12`, `"yes"`, `true`, `null`, `"Billing"`, `{"a":1}`, `[1,2]`, `"NaN"`, `1e999`, `" 0 "`, `"\u00e9t\u00e9"`} {
		f.Add([]byte(seed), "billing,Support,été")
	}
	f.Fuzz(func(t *testing.T, raw []byte, enumCSV string) {
		values := strings.Split(enumCSV, ",")
		for _, typ := range []extract.FieldType{extract.String, extract.Number, extract.Boolean, extract.Enum} {
			field := extract.Field{Key: "f", Type: typ, EnumValues: values}
			v, err := extract.Coerce(field, raw)
			if err != nil {
				if v != nil {
					t.Fatalf("%s: value %v with error %v", typ, v, err)
				}
				continue
			}
			if v == nil {
				continue
			}
			switch typ {
			case extract.String:
				_, ok := v.(string)
				mustBe(t, ok, typ, v)
			case extract.Number:
				_, ok := v.(float64)
				mustBe(t, ok, typ, v)
			case extract.Boolean:
				_, ok := v.(bool)
				mustBe(t, ok, typ, v)
			case extract.Enum:
				s, ok := v.(string)
				found := false
				for _, e := range values {
					found = found || e == s
				}
				mustBe(t, ok && found, typ, v)
			}
			again, err := extract.CoerceValue(field, v)
			if err != nil || again != v {
				t.Fatalf("%s: coercing %#v again gave %#v, %v", typ, v, again, err)
			}
		}
	})
}

func mustBe(t *testing.T, ok bool, typ extract.FieldType, v any) {
	t.Helper()
	if !ok {
		t.Fatalf("%s field coerced to %#v", typ, v)
	}
}
