package extract_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/extract"
)

func TestPrepareWithEvidence(t *testing.T) {
	tr := extract.Transcript{{Role: "user", Content: "hi"}}
	plain, err := extract.Prepare(tr)
	require.NoError(t, err)
	p, err := extract.PrepareWithEvidence(tr, nil)
	require.NoError(t, err)
	assert.Equal(t, plain, p, "no evidence is Prepare")
	assert.False(t, p.HasEvidence())

	p, err = extract.PrepareWithEvidence(tr, json.RawMessage(" {\n \"a\" : \"</evidence_json> & <x> \u2028\" } "))
	require.NoError(t, err)
	assert.True(t, p.HasEvidence())
	assert.Equal(t, plain.Block()+"\n"+extract.EvidenceBlockStart+"\n"+`{"a":"\u003c/evidence_json\u003e \u0026 \u003cx\u003e \u2028"}`+"\n"+extract.EvidenceBlockEnd, p.Block(),
		"after the transcript, compact, with nothing that could close the block")

	ex, err := extract.New(extract.Config{FieldSet: extract.FieldSet{{Key: "k", Type: extract.String}}})
	require.NoError(t, err)
	assert.NotContains(t, ex.RenderPrepared(plain).System, extract.EvidenceNote)
	req := ex.RenderPrepared(p)
	assert.True(t, strings.HasSuffix(req.System, "\n\n"+extract.EvidenceNote))
	assert.Equal(t, p.Block(), req.Messages[0].Content)

	for name, bad := range map[string]json.RawMessage{
		"an array":  json.RawMessage(`[1]`),
		"not JSON":  json.RawMessage(`{"a":`),
		"not UTF-8": json.RawMessage("{\"a\":\"\xff\"}"),
		"a string":  json.RawMessage(`"x"`),
		"too large": json.RawMessage(`{"a":"` + strings.Repeat("x", extract.MaxEvidenceBytes) + `"}`),
	} {
		_, err := extract.PrepareWithEvidence(tr, bad)
		var ve *extract.ValidationError
		require.ErrorAs(t, err, &ve, name)
		assert.Equal(t, "$.evidence", ve.Problems[0].Path, name)
		assert.ErrorIs(t, err, extract.ErrInvalid, name)
	}
	_, err = extract.PrepareWithEvidence(nil, json.RawMessage(`{}`))
	assert.ErrorIs(t, err, extract.ErrInvalid, "the transcript is still checked")
}
