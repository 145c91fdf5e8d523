package pgtext

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStorable(t *testing.T) {
	require.True(t, Storable())
	require.True(t, Storable("", "plain", "ünïcode ✓"))
	require.False(t, Storable("ok", "a\x00b"))
	require.False(t, Storable("\xff"))
	require.Equal(t, []string{"a", "c"}, StorableOnly([]string{"a", "b\x00", "c", "\xc3"}))
	require.Equal(t, []string{}, StorableOnly(nil))
}

func TestText(t *testing.T) {
	require.Equal(t, "same", Text("same"))
	require.Equal(t, "a\uFFFDb\uFFFDc", Text("a\x00b\xffc"))
	require.True(t, Storable(Text("\x00\xff\xfe")))
	require.Equal(t, "a\uFFFD\uFFFDb", Text("a\xff\xfeb"), "one U+FFFD a bad byte, as encoding/json writes")
	raw, err := JSON("a\xff\xfeb\x00")
	require.NoError(t, err)
	var back string
	require.NoError(t, json.Unmarshal(raw, &back))
	require.Equal(t, Text("a\xff\xfeb\x00"), back, "Text and JSON agree")
}

func TestJSON(t *testing.T) {
	type doc struct {
		Name   string         `json:"name"`
		Fields map[string]any `json:"fields"`
		Big    json.Number    `json:"big"`
	}
	raw, err := JSON(doc{Name: "plain", Big: "1"})
	require.NoError(t, err)
	require.JSONEq(t, `{"name":"plain","fields":null,"big":1}`, string(raw))

	raw, err = JSON(doc{Name: "a\x00b", Fields: map[string]any{"k\x00": []any{"x\x00", 1.5}}, Big: "123456789012345678901234567890"})
	require.NoError(t, err)
	require.NotContains(t, string(raw), `\u0000`)
	require.JSONEq(t, `{"name":"a\uFFFDb","fields":{"k\uFFFD":["x\uFFFD",1.5]},"big":123456789012345678901234567890}`, string(raw),
		"NUL written as U+FFFD everywhere, numbers kept exactly")

	_, err = JSON(func() {})
	require.Error(t, err)
}
