package analysis_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/llm"
)

// TestPlantedSecretsReachNoLog runs conversations through a model whose
// failures carry a secret — in the provider's message and in a wrapped
// cause, as an adapter might leave a key in a URL — with the retry
// middleware and the executor logging at every level: the secret appears
// in no record and no item.
func TestPlantedSecretsReachNoLog(t *testing.T) {
	const secret = "sk-live-PLANTED-4f9c2"
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	calls := 0
	failing := llm.ModelFunc(func(ctx context.Context, req llm.Request) (llm.Response, error) {
		calls++
		switch calls % 4 {
		case 0:
			return llm.Response{}, &llm.Error{Kind: llm.ErrTransient, StatusCode: 503, Message: "upstream said " + secret}
		case 1:
			return llm.Response{}, &llm.Error{Kind: llm.ErrRefused, Message: "policy " + secret, Err: errors.New("body: " + secret)}
		case 2:
			return llm.Response{}, &llm.Error{StatusCode: 401, Message: "invalid key " + secret}
		}
		return llm.Response{}, fmt.Errorf("Post \"https://api.example.test/v1?key=%s\": connection refused", secret)
	})
	model := llm.Chain(failing, llm.WithRetry(llm.RetryOptions{MaxAttempts: 2, Logger: logger,
		Sleep: func(context.Context, time.Duration) error { return nil }}))
	e := newEnv(t, model, func(_ *analysis.Config, ec *analysis.ExecutorConfig) { ec.Logger, ec.Concurrency = logger, 1 })
	ingest(t, e, 6)
	_, r := startAll(t, e, true)
	_, err := e.exec.Drain(context.Background())
	require.NoError(t, err)
	r, err = e.svc.GetRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	require.Equal(t, 6, r.Aggregate.Failed, "every extraction failed")
	require.Contains(t, logs.String(), "analysis: extraction failed", "failures were logged")
	require.Contains(t, logs.String(), "llm: retrying", "retries were logged")
	assert.NotContains(t, logs.String(), secret, "no log record carries the secret")
	assert.NotContains(t, logs.String(), "api.example.test", "nor the URL")
	for _, it := range r.Items {
		assert.NotContains(t, it.Error, secret)
	}
	assert.Contains(t, logs.String(), "status 401", "the status is kept")
}
