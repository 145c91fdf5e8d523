package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/llmtest"
)

// replica is a server process.
type replica struct {
	cmd  *exec.Cmd
	addr string
}

// startReplica starts the server binary with args and waits until it
// listens.
func startReplica(t *testing.T, bin string, args ...string) *replica {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == "server listening" {
				addr <- rec["addr"].(string)
			}
		}
	}()
	select {
	case a := <-addr:
		r := &replica{cmd: cmd, addr: a}
		t.Cleanup(func() { _ = r.cmd.Process.Kill(); _ = r.cmd.Wait() })
		return r
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the replica did not start listening")
		return nil
	}
}

func (r *replica) call(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+r.addr+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("x-api-key", "k")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &out), "%s", raw)
	}
	return resp.StatusCode, out
}

// TestReplicasShareARunThroughAKill starts three server processes on one
// database, runs 10,000 conversations through them, kills one with SIGKILL
// in the middle and starts it again, and checks that every conversation
// has exactly one item and that the aggregate equals a recomputation from
// the items.
func TestReplicasShareARunThroughAKill(t *testing.T) {
	url := os.Getenv("DEBRIEF_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("DEBRIEF_TEST_POSTGRES_URL is unset: no PostgreSQL to test against (.ci/run starts one)")
	}
	if testing.Short() {
		t.Skip("-short: three processes and 10,000 conversations")
	}
	const n = 10_000
	schema := fmt.Sprintf("replicas_test_%d", os.Getpid())
	t.Cleanup(func() {
		if pool, err := pgxpool.New(context.Background(), url); err == nil {
			_, _ = pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
			pool.Close()
		}
	})
	bin := filepath.Join(t.TempDir(), "server")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())

	// The model: an OpenAI-compatible server answering after 4 ms, counting
	// the calls.
	var calls atomic.Int64
	model := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model          string `json:"model"`
			ResponseFormat struct {
				JSONSchema struct {
					Schema json.RawMessage `json:"schema"`
				} `json:"json_schema"`
			} `json:"response_format"`
			Messages []struct {
				Content string `json:"content"`
			} `json:"messages"`
		}
		if json.NewDecoder(r.Body).Decode(&req) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		time.Sleep(4 * time.Millisecond)
		text := ""
		for _, m := range req.Messages {
			text += m.Content
		}
		resp, _ := llmtest.Filler{}.Generate(r.Context(), llm.Request{Model: req.Model, Schema: req.ResponseFormat.JSONSchema.Schema,
			Messages: []llm.Message{{Role: llm.RoleUser, Content: text}}})
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"id": "x", "object": "chat.completion", "created": 1, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop", "message": map[string]any{"role": "assistant", "content": resp.Content}}},
			"usage":   map[string]any{"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}})
	}))
	defer model.Close()

	args := []string{"-keys", "k=acme/support", "-postgres", url, "-postgres-schema", schema, "-llm-base-url", model.URL + "/v1",
		"-concurrency", "16", "-lease", "2s"}
	replicas := []*replica{startReplica(t, bin, args...), startReplica(t, bin, args...), startReplica(t, bin, args...)}

	// 10,000 conversations, in two bulk ingests.
	for part := range 2 {
		var convs []string
		for i := part * n / 2; i < (part+1)*n/2; i++ {
			intent := []string{"billing", "support"}[i%2]
			convs = append(convs, fmt.Sprintf(`{"key":"conv-%05d","transcript":[{"role":"caller","content":"A question about %s, number %d."}],"referenceFields":{"intent":"%s"}}`, i, intent, i, intent))
		}
		status, out := replicas[part].call(t, "POST", "/api/analysis/conversations", `{"conversations":[`+strings.Join(convs, ",")+`]}`)
		require.Equal(t, http.StatusCreated, status, "%v", out)
	}
	status, out := replicas[0].call(t, "POST", "/api/analysis/definitions", `{"name":"Intent","fieldSet":[
		{"key":"intent","type":"enum","enumValues":["billing","support"],"required":true}],
		"modes":{"accuracy":true,"judge":{"rubric":"Was the caller helped?"}}}`)
	require.Equal(t, http.StatusCreated, status, "%v", out)
	status, out = replicas[1].call(t, "POST", "/api/analysis/definitions/intent/run", `{"selection":{"strategy":"all"}}`)
	require.Equal(t, http.StatusAccepted, status, "%v", out)
	runPath := "/api/analysis/runs/" + out["run"].(map[string]any)["id"].(string)

	progress := func(r *replica) (string, float64) {
		_, out := r.call(t, "GET", runPath, "")
		run := out["run"].(map[string]any)
		return run["status"].(string), run["progress"].(map[string]any)["done"].(float64)
	}
	// A third of the way through, one replica is killed outright — its
	// leases lapse and the others take its chunks over — and then started
	// again.
	require.Eventually(t, func() bool { _, done := progress(replicas[0]); return done >= n/3 }, 5*time.Minute, 20*time.Millisecond)
	require.NoError(t, replicas[2].cmd.Process.Signal(syscall.SIGKILL))
	_ = replicas[2].cmd.Wait()
	_, killedAt := progress(replicas[0])
	replicas[2] = startReplica(t, bin, args...)
	require.Eventually(t, func() bool { status, _ := progress(replicas[2]); return status != "running" && status != "pending" }, 5*time.Minute, 50*time.Millisecond)
	status2, done := progress(replicas[1])
	require.Equal(t, "completed", status2)
	assert.Equal(t, float64(n), done)
	t.Logf("killed a replica at %.0f of %d conversations; %d model calls in all", killedAt, n, calls.Load())

	// Every conversation has exactly one item, and the aggregate is what the
	// items say.
	var items []analysis.Item
	cursor := ""
	for {
		status, out := replicas[0].call(t, "GET", runPath+"/items?limit=1000&cursor="+cursor, "")
		require.Equal(t, http.StatusOK, status, "%v", out)
		raw, _ := json.Marshal(out["items"])
		var page []analysis.Item
		require.NoError(t, json.Unmarshal(raw, &page))
		items = append(items, page...)
		next, _ := out["nextCursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	seen := map[string]int{}
	for _, it := range items {
		seen[it.ConversationKey]++
	}
	require.Len(t, seen, n, "every conversation has an item")
	for k, c := range seen {
		require.Equal(t, 1, c, "conversation %s has %d items", k, c)
	}
	_, out = replicas[1].call(t, "GET", runPath, "")
	raw, _ := json.Marshal(out["run"].(map[string]any)["aggregate"])
	var agg analysis.Aggregate
	require.NoError(t, json.Unmarshal(raw, &agg))
	want := analysis.Summarize(n, items)
	assert.Equal(t, want.Total, agg.Total)
	assert.Equal(t, want.Completed, agg.Completed)
	assert.Equal(t, want.Failed, agg.Failed)
	assert.Equal(t, want.Passed, agg.Passed)
	assert.Equal(t, want.JudgeErrors, agg.JudgeErrors)
	for _, p := range []struct{ got, want *float64 }{{agg.PassRate, want.PassRate}, {agg.AvgJudgeScore, want.AvgJudgeScore}, {agg.AvgExtractionAccuracy, want.AvgExtractionAccuracy}} {
		require.Equal(t, p.want == nil, p.got == nil)
		if p.want != nil {
			assert.InDelta(t, *p.want, *p.got, 1e-9)
		}
	}
	assert.Equal(t, want.PerFieldAccuracy, agg.PerFieldAccuracy)

	// The work was spread, and the killed replica's chunks were taken over:
	// claimed again once its leases lapsed.
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	defer pool.Close()
	var owners, retaken int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(DISTINCT owner), count(*) FILTER (WHERE attempts >= 2) FROM `+schema+`.chunks`).Scan(&owners, &retaken))
	assert.GreaterOrEqual(t, owners, 3, "chunks finished by several replicas")
	assert.Positive(t, retaken, "the chunks the killed replica held were claimed again")
	assert.GreaterOrEqual(t, calls.Load(), int64(2*n), "every conversation's two calls, and any in flight at the kill again")
}
