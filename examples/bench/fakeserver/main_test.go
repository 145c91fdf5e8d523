package main

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/judge"
	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/openai"
)

func TestTheFakeAnswersTheAdapterWithValidAnswers(t *testing.T) {
	h := &handler{latency: 5 * time.Millisecond}
	srv := httptest.NewServer(h)
	defer srv.Close()
	m, err := openai.New(openai.Config{BaseURL: srv.URL + "/v1"})
	require.NoError(t, err)
	start := time.Now()
	res, err := llm.GenerateStructured[judge.Answer](context.Background(), m, llm.MustSchemaFor[judge.Answer](judge.SchemaName),
		llm.Request{Model: "any", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hello"}}})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 5*time.Millisecond, "after its latency")
	assert.Equal(t, "fake", res.Value.Reasoning)
	assert.Equal(t, 0.5, res.Value.Score)
	assert.Positive(t, res.Usage.InputTokens)
	assert.Equal(t, int64(1), h.served.Load())
}
