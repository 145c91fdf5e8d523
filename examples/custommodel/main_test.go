package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 6)
	assert.Contains(t, lines[0], "not a real model", "the demo says it is one")
	assert.Equal(t, "call 1: intent=billing resolved=true order=88123 (1 attempt(s))", lines[1])
	assert.Equal(t, "call 2: intent=support resolved=false order=- (3 attempt(s))", lines[2], "two garbled answers repaired")
	assert.Equal(t, "call 3: intent=cancellation resolved=true order=- (1 attempt(s))", lines[3])
	assert.Equal(t, "provider: 7 calls; absorbed 1 transient failures, 1 rate limits, 2 malformed answers", lines[4])
	assert.Contains(t, lines[5], "usage: 5 requests")
}
