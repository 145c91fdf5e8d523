package sessionhttp_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/debrief-go/debrief/session"
	"github.com/debrief-go/debrief/session/sessionhttp"
)

// A host mounts the handler over its own storage and API keys.
func ExampleNew() {
	const org = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"
	const id = "0b7c6d2e-3f4a-4b5c-8d9e-0f1a2b3c4d5e"
	start := time.Date(2024, 5, 15, 15, 0, 0, 0, time.UTC)
	src := session.SourceFunc(func(ctx context.Context, orgID, sessionID string) (*session.Captures, error) {
		if orgID != org || sessionID != id {
			return nil, session.ErrNotFound // also for another organisation's session
		}
		return &session.Captures{SessionID: id, OrganizationID: org, Channel: "voice", StartedAt: start,
			Status: session.StatusFailed, TerminationReason: session.ReasonVoicemail, Redacted: true}, nil
	})
	h, err := sessionhttp.New(sessionhttp.Config{
		Source: src,
		Organization: sessionhttp.APIKey(func(ctx context.Context, key string) (string, error) {
			if key == "demo-key" {
				return org, nil
			}
			return "", session.ErrNotFound
		}),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	for _, key := range []string{"demo-key", ""} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/sessions/"+id+"/analysis-input", nil)
		if key != "" {
			req.Header.Set(sessionhttp.APIKeyHeader, key)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, len(body) > 0)
	}
	resp, err := srv.Client().Get(srv.URL + "/v1/sessions/42/analysis-input")
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Print(resp.StatusCode, " ", string(body))
	}
	// Output:
	// 200 true
	// 401 true
	// 401 {"error":"unauthorized","message":"a valid x-api-key header is required"}
}
