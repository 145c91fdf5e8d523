package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/llm"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, llm.ModelFunc(keywordJudge)))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 5)
	assert.Contains(t, lines[0], "not a real model", "the demo says it is one")
	assert.Equal(t, "grounded      grounded              confidence=high calls=0  every answer fed by retrieval cited it", lines[1])
	assert.Equal(t, "no_citations  uncited_answer        confidence=low  calls=3  2 of 3 uncited answer(s) fed by retrieval state facts", lines[2])
	assert.Equal(t, "no_rag_trace  insufficient_evidence confidence=none calls=0  not classified: no_rag_trace", lines[3])
	assert.Equal(t, "uncited       uncited_answer        confidence=high calls=2  1 of 2 uncited answer(s) fed by retrieval state facts", lines[4])
}

func TestRunFailsWithTheModel(t *testing.T) {
	failing := llm.ModelFunc(func(context.Context, llm.Request) (llm.Response, error) {
		return llm.Response{}, &llm.Error{Kind: llm.ErrRefused, Message: "no"}
	})
	err := run(context.Background(), &bytes.Buffer{}, failing)
	assert.ErrorIs(t, err, llm.ErrRefused)
}
