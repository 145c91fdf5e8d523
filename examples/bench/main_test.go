package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBenchReportsItsFigures(t *testing.T) {
	cfg, err := parseFlags([]string{"-n", "150", "-latency", "1ms", "-concurrency", "16", "-baseline", "-json"}, io.Discard)
	require.NoError(t, err)
	rep, err := run(context.Background(), cfg)
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, rep.print(&out, true))
	var got map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &got))
	for _, key := range []string{"wall_s", "ideal_s", "ratio", "baseline_ratio", "cpu_us_per_conv", "alloc_bytes_per_conv",
		"peak_rss_bytes", "conversations", "model_calls"} {
		assert.Contains(t, got, key, "the JSON keys are a contract")
	}
	assert.EqualValues(t, 150, got["conversations"])
	assert.EqualValues(t, 300, got["model_calls"], "an extraction and a verdict per conversation")
	assert.EqualValues(t, 150, got["completed"])
	assert.InDelta(t, (10 * 2 * time.Millisecond).Seconds(), got["ideal_s"], 1e-9, "⌈150/16⌉ rounds of two 1 ms calls")
	assert.GreaterOrEqual(t, got["ratio"], 1.0, "nothing beats the model's latency")
	assert.GreaterOrEqual(t, got["baseline_ratio"], 1.0)
	assert.GreaterOrEqual(t, got["baseline_spread_ratio"], 1.0)
	assert.Positive(t, got["alloc_bytes_per_conv"])
	assert.Positive(t, got["peak_rss_bytes"])

	out.Reset()
	require.NoError(t, rep.print(&out, false))
	assert.Contains(t, out.String(), "150 conversations, modes extract,judge,accuracy,store")
}

func TestBenchWithAnInstantModelAndFewerModes(t *testing.T) {
	cfg, err := parseFlags([]string{"-n", "70", "-latency", "0", "-modes", "extract,accuracy"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []string{"extract", "accuracy"}, cfg.modes)
	rep, err := run(context.Background(), cfg)
	require.NoError(t, err)
	assert.Nil(t, rep.Ratio, "no ratio without a latency")
	assert.Nil(t, rep.BaselineRatio)
	assert.Nil(t, rep.BaselineSpreadRatio)
	assert.EqualValues(t, 70, rep.ModelCalls, "no judge calls")
	assert.Equal(t, 70, rep.Completed)
}

func TestBenchFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-n", "0"}, "-n: 0 conversations"},
		{[]string{"-latency", "-1s"}, "-latency: -1s is negative"},
		{[]string{"-concurrency", "0"}, "-concurrency: 0"},
		{[]string{"-modes", "extract,grade"}, `-modes: "grade" is not a mode`},
		{[]string{"-store", "postgres://localhost/db"}, "-store: the PostgreSQL store is not available yet"},
		{[]string{"-store", "redis"}, `-store: "redis" is neither memory nor a PostgreSQL URL`},
		{[]string{"-llm-base-url", "http://127.0.0.1:8000/v1"}, "-llm-base-url: the OpenAI-compatible adapter is not available yet"},
		{[]string{"extra"}, "unexpected arguments: extra"},
		{[]string{"-latency", "soon"}, "invalid value"},
	} {
		_, err := parseFlags(tc.args, io.Discard)
		assert.ErrorContains(t, err, tc.want, "%v", tc.args)
	}
	cfg, err := parseFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, config{n: 10000, latency: 20 * time.Millisecond, concurrency: 64, modes: []string{"extract", "judge", "accuracy", "store"}, store: "memory"}, cfg)
}

func TestSpreadOffset(t *testing.T) {
	ms := time.Millisecond
	assert.Equal(t, 16*ms*63/64, spreadOffset(64, 64, 16*ms), "one full round: the last starter ends last")
	assert.Equal(t, time.Duration(0), spreadOffset(17, 16, 16*ms), "the second round is the first starter's alone")
	assert.Equal(t, 15*ms*16/64, spreadOffset(10000, 64, 16*ms), "10,000 = 156 rounds of 64 and 16 more")
	assert.Equal(t, time.Duration(0), spreadOffset(1, 64, 16*ms))
}
