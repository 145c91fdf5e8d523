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
	assert.Equal(t, "call 1: intent=billing resolved=true order=88123 (3 attempt(s))", lines[1], "two garbled answers repaired")
	assert.Equal(t, "call 2: intent=support resolved=false order=- (1 attempt(s))", lines[2])
	assert.Equal(t, "call 3: intent=cancellation resolved=true order=- (2 attempt(s))", lines[3])
	assert.Equal(t, "provider: 12 calls; absorbed 2 transient failures, 4 rate limits, 3 malformed answers", lines[4])
	assert.Contains(t, lines[5], "usage: 6 requests")
}
