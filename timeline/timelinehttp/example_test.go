package timelinehttp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/debrief-go/debrief/llm/llmtest"
	"github.com/debrief-go/debrief/timeline"
	"github.com/debrief-go/debrief/timeline/timelinehttp"
)

func ExampleNew() {
	svc, err := timeline.NewService(timeline.Config{
		Source:   source{},
		Analyzer: timeline.AnalyzerConfig{Model: llmtest.NewScripted(llmtest.Reply(okAnswer))},
		Now:      func() time.Time { return time.Date(2024, 3, 1, 10, 6, 0, 0, time.UTC) },
		NewID:    func() string { return "a1b2c3d4-e5f6-7890-abcd-ef1234567890" },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer svc.Close(context.Background())

	// The host resolves the customer from its own authentication.
	customer := func(r *http.Request) (string, error) {
		if r.Header.Get("Authorization") != "Bearer demo" {
			return "", errors.New("unauthenticated")
		}
		return "5e4a0680-804e-11ec-8477-2fea5968d85b", nil
	}
	srv := httptest.NewServer(timelinehttp.New(svc, customer, timelinehttp.Options{}))
	defer srv.Close()

	send := func(method, path, body string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer demo")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		fmt.Print(resp.StatusCode, " ", string(out))
	}
	send("POST", "/timeline-analyses", `{"activeflow_id":"b2c3d4e5-f6a7-4901-bcde-f12345678902"}`)
	send("POST", "/timeline-analyses", `{"activeflow_id":"b2c3d4e5-f6a7-4901-bcde-f12345678901"}`)
	svc.Wait()
	send("GET", "/timeline-analyses/a1b2c3d4-e5f6-7890-abcd-ef1234567890", "")
	// Output:
	// 409 {"error":"flow_not_ended","message":"the flow has not ended yet"}
	// 202 {"id":"a1b2c3d4-e5f6-7890-abcd-ef1234567890","customer_id":"5e4a0680-804e-11ec-8477-2fea5968d85b","activeflow_id":"b2c3d4e5-f6a7-4901-bcde-f12345678901","status":"progressing","error":"","tm_create":"2024-03-01T10:06:00.000000Z","tm_update":"2024-03-01T10:06:00.000000Z"}
	// 200 {"id":"a1b2c3d4-e5f6-7890-abcd-ef1234567890","customer_id":"5e4a0680-804e-11ec-8477-2fea5968d85b","activeflow_id":"b2c3d4e5-f6a7-4901-bcde-f12345678901","status":"completed","result":{"version":3,"overall_status":"ok","input_reduced":false,"session_context":{"reference_type":"api","channel":"api","started_at":"2024-03-01T10:00:00Z","multi_leg":false,"ai_handled":false,"human_involved":false},"resources_used":[],"interactions":[],"narrative":"An API call ran the flow.","issues":[]},"error":"","tm_create":"2024-03-01T10:06:00.000000Z","tm_update":"2024-03-01T10:06:00.000000Z"}
}
