// Command fakeserver is an OpenAI-compatible chat-completions server for
// load tests: it answers every request after a fixed latency with a value
// the request's schema accepts (llmtest.Filler), and reports usage, so
// that a benchmark measures everything on its side of the wire — HTTP
// client, JSON encoding, the adapter — against a model of known latency.
//
//	go run ./examples/bench/fakeserver -addr 127.0.0.1:8081 -latency 20ms
//	go run ./examples/bench -llm-base-url http://127.0.0.1:8081/v1 -latency 20ms -baseline
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/llmtest"
)

func main() {
	fs := flag.NewFlagSet("fakeserver", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8081", "the address to listen on")
	latency := fs.Duration("latency", 20*time.Millisecond, "how long each answer takes")
	_ = fs.Parse(os.Args[1:])
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h := &handler{latency: *latency}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.Background())
	}()
	fmt.Fprintf(os.Stderr, "fakeserver: listening on http://%s/v1, answering after %s\n", ln.Addr(), *latency)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "fakeserver: answered %d requests\n", h.served.Load())
}

// handler answers POST /v1/chat/completions.
type handler struct {
	latency time.Duration
	served  atomic.Int64
}

// wireRequest is the part of a chat-completions request the fake reads.
type wireRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
	ResponseFormat struct {
		JSONSchema struct {
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	} `json:"response_format"`
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		http.Error(w, `{"error":{"message":"not found","type":"invalid_request_error"}}`, http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<20))
	var req wireRequest
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		http.Error(w, `{"error":{"message":"bad request","type":"invalid_request_error"}}`, http.StatusBadRequest)
		return
	}
	t := time.NewTimer(h.latency)
	select {
	case <-r.Context().Done():
		t.Stop()
		return
	case <-t.C:
	}
	lreq := llm.Request{Model: req.Model, Schema: req.ResponseFormat.JSONSchema.Schema, SchemaName: req.ResponseFormat.JSONSchema.Name}
	for _, m := range req.Messages {
		if m.Role == "user" {
			lreq.Messages = append(lreq.Messages, llm.Message{Role: llm.RoleUser, Content: m.Content})
		}
	}
	resp, err := llmtest.Filler{Text: "fake"}.Generate(r.Context(), lreq)
	if err != nil {
		http.Error(w, `{"error":{"message":"bad schema","type":"invalid_request_error"}}`, http.StatusBadRequest)
		return
	}
	n := h.served.Add(1)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": fmt.Sprint("chatcmpl-", n), "object": "chat.completion", "created": time.Now().Unix(), "model": req.Model,
		"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": resp.Content}}},
		"usage": map[string]any{"prompt_tokens": len(body) / 4, "completion_tokens": len(resp.Content) / 4,
			"total_tokens": len(body)/4 + len(resp.Content)/4},
	})
}
