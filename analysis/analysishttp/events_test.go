package analysishttp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis/analysishttp"
)

// sseEvent is one server-sent event.
type sseEvent struct {
	name string
	data string
}

// readEvents reads a stream's events until it closes, and its comments.
func readEvents(t *testing.T, resp *http.Response) (events []sseEvent, comments int) {
	t.Helper()
	sc := bufio.NewScanner(resp.Body)
	var cur sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.name != "" {
				events = append(events, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, ":"):
			comments++
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data = strings.TrimPrefix(line, "data: ")
		}
	}
	require.NoError(t, sc.Err())
	return events, comments
}

func TestTheEventStreamFollowsARunToItsAggregate(t *testing.T) {
	e := newEnv(t, func(o *analysishttp.Options) { o.KeepAlive = 10 * time.Millisecond })
	_, _ = e.call(t, "POST", "/api/analysis/definitions", scopeA, definitionJSON)
	var convs []string
	for range 20 {
		convs = append(convs, `{"transcript":[{"role":"caller","content":"I was charged twice."}],"referenceFields":{"intent":"billing","resolved":true}}`)
	}
	_, _ = e.call(t, "POST", "/api/analysis/conversations", scopeA, `{"conversations":[`+strings.Join(convs, ",")+`]}`)
	_, body := e.call(t, "POST", "/api/analysis/definitions/call-intent-resolution/run", scopeA, `{"selection":{"strategy":"all"}}`)
	runID := body["run"].(map[string]any)["id"].(string)

	req, _ := http.NewRequest("GET", e.srv.URL+"/api/analysis/runs/"+runID+"/events", nil)
	req.Header.Set("X-Scope", scopeA)
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))

	// The run starts after the stream opened and goes slowly enough for
	// several progress events and keep-alives.
	go func() {
		time.Sleep(40 * time.Millisecond)
		ctx := context.Background()
		for {
			ok, err := e.exec.RunOnce(ctx)
			if err != nil || !ok {
				return
			}
			time.Sleep(15 * time.Millisecond)
		}
	}()
	events, comments := readEvents(t, resp)
	require.GreaterOrEqual(t, len(events), 2, "%v", events)
	assert.Positive(t, comments, "keep-alives while nothing changed")
	var last analysishttp.ProgressEvent
	for i, ev := range events[:len(events)-1] {
		require.Equal(t, "progress", ev.name, "%d: %v", i, ev)
		var p analysishttp.ProgressEvent
		require.NoError(t, json.Unmarshal([]byte(ev.data), &p))
		assert.Equal(t, runID, p.RunID)
		assert.Equal(t, 20, p.Total)
		assert.GreaterOrEqual(t, p.Done, last.Done, "progress never goes back")
		if i > 0 {
			assert.True(t, p.Done != last.Done || p.Status != last.Status, "an event says something new")
		}
		if p.Done > 0 {
			require.NotNil(t, p.RatePerSecond)
			require.NotNil(t, p.ETASeconds)
			assert.Positive(t, *p.RatePerSecond)
			assert.InDelta(t, float64(p.Total-p.Done) / *p.RatePerSecond, *p.ETASeconds, 1e-6)
		}
		last = p
	}
	end := events[len(events)-1]
	require.Equal(t, "end", end.name)
	var fin analysishttp.EndEvent
	require.NoError(t, json.Unmarshal([]byte(end.data), &fin))
	assert.Equal(t, "completed", string(fin.Run.Status))
	require.NotNil(t, fin.Run.Aggregate)
	assert.Equal(t, 20, fin.Run.Aggregate.Total)
	assert.Equal(t, 20, fin.Run.Aggregate.Passed)
	assert.NotContains(t, end.data, `"items"`, "the end event carries the aggregate, not the items")
	assert.Empty(t, compiled(t, "EndEvent").ValidateJSON([]byte(end.data)), "the end event is as documented")

	// A finished run's stream is its end event alone.
	resp2, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp2.Body.Close()
	again, _ := readEvents(t, resp2)
	require.Len(t, again, 1)
	assert.Equal(t, "end", again[0].name)
}

func TestTheEventStreamStopsWithItsClient(t *testing.T) {
	e := newEnv(t)
	_, _ = e.call(t, "POST", "/api/analysis/definitions", scopeA, definitionJSON)
	_, _ = e.call(t, "POST", "/api/analysis/conversations", scopeA, bulkJSON)
	_, body := e.call(t, "POST", "/api/analysis/definitions/call-intent-resolution/run", scopeA, `{"selection":{"strategy":"all"}}`)
	runID := body["run"].(map[string]any)["id"].(string)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/api/analysis/runs/"+runID+"/events", nil)
	req.Header.Set("X-Scope", scopeA)
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "event: progress\n", line)
	cancel()
	resp.Body.Close()
	// The server's handler returns: the test server's Close would hang
	// otherwise (it waits for every handler).
}
