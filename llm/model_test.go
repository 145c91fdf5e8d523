package llm_test

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/llm"
)

func ptr[T any](v T) *T { return &v }

func TestRequestValidate(t *testing.T) {
	ok := llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}
	require.NoError(t, ok.Validate())

	tests := []struct {
		name  string
		edit  func(*llm.Request)
		wants []string
	}{
		{"no messages", func(r *llm.Request) { r.Messages = nil }, []string{"messages: at least one message"}},
		{"system role in messages", func(r *llm.Request) {
			r.Messages = append(r.Messages, llm.Message{Role: "system", Content: "x"})
		}, []string{`messages[1].role: "system" is not`}},
		{"bad schema", func(r *llm.Request) { r.Schema = []byte(`{"type":`) }, []string{"schema: not valid JSON"}},
		{"temperature", func(r *llm.Request) { r.Temperature = ptr(2.5) }, []string{"temperature: 2.5 is outside [0, 2]"}},
		{"NaN temperature", func(r *llm.Request) { r.Temperature = ptr(math.NaN()) }, []string{"temperature: NaN is outside [0, 2]"}},
		{"infinite temperature", func(r *llm.Request) { r.Temperature = ptr(math.Inf(1)) }, []string{"temperature: +Inf is outside [0, 2]"}},
		{"negative max tokens", func(r *llm.Request) { r.MaxOutputTokens = -1 }, []string{"maxOutputTokens: -1 is negative"}},
		{"several at once", func(r *llm.Request) {
			r.Messages = []llm.Message{{Role: "tool"}}
			r.MaxOutputTokens = -3
		}, []string{"messages[0].role", "maxOutputTokens: -3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok
			r.Messages = append([]llm.Message(nil), ok.Messages...)
			tt.edit(&r)
			err := r.Validate()
			require.Error(t, err)
			assert.ErrorIs(t, err, llm.ErrInvalidRequest)
			for _, w := range tt.wants {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
	zero := llm.Request{Messages: ok.Messages, Temperature: ptr(0.0)}
	assert.NoError(t, zero.Validate(), "a temperature of 0 is expressible and valid")
}

func TestResponseErr(t *testing.T) {
	tests := []struct {
		finish llm.FinishReason
		want   error
	}{
		{"", nil},
		{llm.FinishStop, nil},
		{llm.FinishLength, llm.ErrOutputTruncated},
		{llm.FinishRefusal, llm.ErrRefused},
		{llm.FinishContentFilter, llm.ErrRefused},
	}
	for _, tt := range tests {
		err := llm.Response{FinishReason: tt.finish}.Err()
		if tt.want == nil {
			assert.NoError(t, err, tt.finish)
			continue
		}
		assert.ErrorIs(t, err, tt.want, tt.finish)
		assert.False(t, llm.Retryable(err), "%s must not be retried", tt.finish)
	}
}

func TestUsage(t *testing.T) {
	a := llm.Usage{InputTokens: 10, OutputTokens: 5, CachedInputTokens: 2}
	b := llm.Usage{InputTokens: 1, OutputTokens: 2, CachedInputTokens: 3}
	assert.Equal(t, llm.Usage{InputTokens: 11, OutputTokens: 7, CachedInputTokens: 5}, a.Add(b))
	assert.Equal(t, int64(15), a.Total())
	assert.True(t, llm.Usage{}.IsZero())
	assert.False(t, a.IsZero())
}

func TestModelFunc(t *testing.T) {
	var got llm.Request
	m := llm.ModelFunc(func(_ context.Context, req llm.Request) (llm.Response, error) {
		got = req
		return llm.Response{Content: "{}"}, errors.New("boom")
	})
	resp, err := m.Generate(context.Background(), llm.Request{Model: "k"})
	assert.Equal(t, "k", got.Model)
	assert.Equal(t, "{}", resp.Content)
	assert.EqualError(t, err, "boom")
}
