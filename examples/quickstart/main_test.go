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
	require.GreaterOrEqual(t, len(lines), 9)
	assert.Equal(t, "Ingested 60 conversations.", lines[0])
	assert.Contains(t, lines[1], "not a real model", "the demo model says it is one")
	assert.Equal(t, `Started a run of "star-task-and-completion": pending, 60 conversations.`, lines[2])
	assert.Equal(t, "Run completed: total 60, completed 60, failed 0, passed 49, pass rate 81.7%, avg judge score 79.0%, avg extraction accuracy 80.8%", lines[3])
	assert.Equal(t, "  completion  100.0% (60/60)", lines[5])
	assert.Equal(t, "  task        61.7% (37/60)", lines[6])
	assert.Contains(t, out.String(), "star-dialogue-1163 task hotel_search         (expected hotel_book)")

	var again bytes.Buffer
	require.NoError(t, run(context.Background(), &again))
	assert.Equal(t, out.String(), again.String(), "the same output every time")
}
