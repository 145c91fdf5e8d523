package extract

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
)

// decoded is what the decoder makes of raw, the reference scalar agrees
// with.
func decoded(raw []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, false
	}
	return v, true
}

func TestScalarAgreesWithTheDecoder(t *testing.T) {
	for _, raw := range []string{`null`, `true`, `false`, `"billing"`, `""`, `"é"`, `12`, `-1.5e3`, `0`, `"a\"b"`, `"\u00e9"`,
		"\"tab\there\"", `{"a":1}`, `[1]`, `01`, `1.`, `-`, `"unterminated`, `nul`, "\"\xff\"", `1 2`, `"a"x`} {
		v, ok := scalar([]byte(raw))
		if !ok {
			continue
		}
		want, valid := decoded([]byte(raw))
		assert.True(t, valid, "scalar read %s, which the decoder refuses", raw)
		assert.Equal(t, want, v, raw)
	}
	for _, raw := range []string{`null`, `true`, `false`, `"billing"`, `12`, `-1.5e3`} {
		_, ok := scalar([]byte(raw))
		assert.True(t, ok, "the common values take the fast path: %s", raw)
	}
}

// FuzzScalar: whatever scalar reads, the decoder reads the same.
func FuzzScalar(f *testing.F) {
	for _, s := range []string{`null`, `true`, `"x"`, `1.5`, `"a\u0041"`, `-0`, `1e400`, "\"\x00\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			return
		}
		v, ok := scalar(raw)
		if !ok {
			return
		}
		want, valid := decoded(raw)
		if !valid {
			t.Fatalf("scalar read %q, which the decoder refuses", raw)
		}
		if !assert.ObjectsAreEqual(want, v) {
			t.Fatalf("%q: scalar %#v, decoder %#v", raw, v, want)
		}
	})
}
