package llm

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSplitObjectMatchesUnmarshal(t *testing.T) {
	for _, data := range []string{
		`{}`, ` { } `, `{"a":1}`, `{"a" : "x" , "b":[1,{"c":"}"}],"d":null,"e":true,"f":-1.5e3}`,
		`{"a":1,"a":2}`, `{"s":"a\"b\\\\c\u00e9"}`, "{\"k\":\"\xff\"}", `{"in\u0074ent":1}`, "{\"\xff\":1}",
		`{"o":{"p":{"q":[]}}}`, "{\n\t\"a\"\r\n:\n1\n}", `[1]`, `"x"`, `{"a":}`, `{"a":1`, `{"a":1}x`,
	} {
		got, ok := splitObject([]byte(data))
		var want map[string]json.RawMessage
		err := json.Unmarshal([]byte(data), &want)
		if !ok {
			continue // left to json.Unmarshal
		}
		assert.NoError(t, err, data)
		assert.Equal(t, want, got, data)
	}
	_, ok := splitObject([]byte(`{"intent":"billing","resolved":true,"amount":12}`))
	assert.True(t, ok, "a model's answer takes the fast path")
}

// FuzzSplitObject: whatever splitObject splits, json.Unmarshal decodes the
// same way.
func FuzzSplitObject(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":"x","c":[1,{"d":null}],"e":{"f":true}}`, `{"a":"\"}\\"}`, `{"a":1,"a":2}`, `{ }`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		got, ok := splitObject([]byte(data))
		if !ok {
			return
		}
		var want map[string]json.RawMessage
		if err := json.Unmarshal([]byte(data), &want); err != nil {
			t.Fatalf("split %q, which does not decode: %v", data, err)
		}
		if !assert.ObjectsAreEqual(want, got) {
			t.Fatalf("%q: split %q, decoded %q", data, got, want)
		}
	})
}
