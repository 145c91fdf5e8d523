package jsoncheck_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/internal/jsoncheck"
)

func TestCheckFindsWhatTheDecoderAcceptsSilently(t *testing.T) {
	many := `{` + func() string {
		var b strings.Builder
		for i := range 40 {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(fmt.Sprintf(`"k%d":1`, i))
		}
		return b.String()
	}()
	for _, tc := range []struct {
		doc, path, msg string
	}{
		{`{"a":1,"b":[{"x":1}],"c":"é ✓ 😀 \ud83d\ude00 \u00e9 \n"}`, "", ""},
		{`{"a":1,"a":2}`, "$.a", "the member appears more than once"},
		{`{"a":1,"\u0061":2}`, "$.a", "the member appears more than once"},
		{`{"a":1,"A":2}`, "", ""}, // names are case-sensitive
		{`{"conversations":[{"name":"x"},{"name":"y","transcript":[{"role":"agent","role":"caller"}]}]}`, "$.conversations[1].transcript[0].role", "the member appears more than once"},
		{`[{"a":{"b":1}},{"a":{"b":1}}]`, "", ""}, // the same names in sibling objects
		{`{"a":{"a":{"a":1}}}`, "", ""},           // and in nested ones
		{`{"a":{"b":1},"c":2,"b":3}`, "", ""},     // an inner object's names are its own
		{many + `,"k7":2}`, "$.k7", "the member appears more than once"},
		{many + `,"k40":2}`, "", ""},
		{many + `,"k39":2}`, "$.k39", "the member appears more than once"},
		{"{\"name\":\"caf\xe9\"}", "$.name", "the text is not valid UTF-8 (byte 12)"},
		{"[\"ok\",\"\xff\"]", "$[1]", "the text is not valid UTF-8 (byte 7)"},
		{"{\"bad\xc3\":1}", `$["bad` + "\xc3" + `"]`, ""}, // checked below: a name's text too
		{`{"t":"\ud800"}`, "$.t", "the text escapes a lone surrogate, which is no character (byte 6)"},
		{`{"t":"\udc00x"}`, "$.t", "the text escapes a lone surrogate, which is no character (byte 6)"},
		{`{"t":"\ud800\u0041"}`, "$.t", "the text escapes a lone surrogate, which is no character (byte 6)"},
		{`"\ud83d\ude00"`, "", ""},
		{`12`, "", ""},
		{`{"a" : [ 1 , 2 , {"b" : null , "b" : true} ] }`, "$.a[2].b", "the member appears more than once"},
	} {
		p := jsoncheck.Check([]byte(tc.doc), "$")
		if tc.path == "" {
			assert.Nil(t, p, "%s", tc.doc)
			continue
		}
		require.NotNil(t, p, "%s", tc.doc)
		if tc.msg == "" {
			assert.Contains(t, p.Message, "not valid UTF-8")
			continue
		}
		assert.Equal(t, tc.path+": "+tc.msg, p.Error(), "%s", tc.doc)
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `{"a":[{"b":"\u00e9"}]}`, "{\"a\":\"\xff\"}", `"\ud800"`, `[1,{"x":{"y":[]}}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		p := jsoncheck.Check(data, "$")
		if !utf8.Valid(data) {
			require.NotNil(t, p, "invalid UTF-8 is always found")
			return
		}
		if p != nil {
			assert.True(t, strings.HasPrefix(p.Path, "$"))
			return
		}
		// Nothing found: decoding keeps every member, so re-encoding the
		// decoded value and decoding it again gives the same value.
		var v any
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber() // 1e700 is valid JSON
		require.NoError(t, dec.Decode(&v))
		assert.Equal(t, countMembers(t, data), countDecoded(v), "no member was dropped: %s", data)
		assertNoReplacement(t, data, v)
	})
}

// countMembers counts the member names in valid JSON text.
func countMembers(t *testing.T, data []byte) int {
	type frame struct{ obj, wantKey bool }
	dec := json.NewDecoder(bytes.NewReader(data))
	var st []frame
	n := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return n
		}
		var top *frame
		if len(st) > 0 {
			top = &st[len(st)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if top != nil && top.obj {
					top.wantKey = true // after this value, a name
				}
				st = append(st, frame{obj: d == '{', wantKey: d == '{'})
			default:
				st = st[:len(st)-1]
			}
			continue
		}
		if top != nil && top.obj {
			if top.wantKey {
				n++
			}
			top.wantKey = !top.wantKey
		}
	}
}

func countDecoded(v any) int {
	n := 0
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			n += 1 + countDecoded(e)
		}
	case []any:
		for _, e := range x {
			n += countDecoded(e)
		}
	}
	return n
}

// assertNoReplacement checks that no U+FFFD appears in the decoded value
// unless the text spelled one.
func assertNoReplacement(t *testing.T, data []byte, v any) {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	if strings.Contains(string(b), "\ufffd") {
		assert.True(t, strings.Contains(string(data), "\ufffd") || strings.Contains(strings.ToLower(string(data)), `\ufffd`), "a replacement character appeared: %s", data)
	}
}
