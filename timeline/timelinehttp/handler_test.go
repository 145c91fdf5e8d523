package timelinehttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/llmtest"
	"github.com/debrief-go/debrief/timeline"
	"github.com/debrief-go/debrief/timeline/timelinehttp"
)

const (
	customerA  = "5e4a0680-804e-11ec-8477-2fea5968d85b"
	customerB  = "6f5b1791-915f-42fd-9588-3feb6a79e96c"
	flowEnded  = "b2c3d4e5-f6a7-4901-bcde-f12345678901"
	flowLive   = "b2c3d4e5-f6a7-4901-bcde-f12345678902"
	flowOfB    = "b2c3d4e5-f6a7-4901-bcde-f12345678903"
	flowEnded2 = "b2c3d4e5-f6a7-4901-bcde-f12345678904"
	flowEnded3 = "b2c3d4e5-f6a7-4901-bcde-f12345678905"
)

var t0 = time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)

type source struct{}

func (source) Flow(ctx context.Context, customerID, flowID string) (timeline.Flow, error) {
	flows := map[string]timeline.Flow{
		flowEnded:  {ID: flowEnded, CustomerID: customerA, ReferenceType: timeline.RefAPI, Ended: true, CreatedAt: t0},
		flowLive:   {ID: flowLive, CustomerID: customerA, ReferenceType: timeline.RefAPI},
		flowOfB:    {ID: flowOfB, CustomerID: customerB, ReferenceType: timeline.RefAPI, Ended: true},
		flowEnded2: {ID: flowEnded2, CustomerID: customerA, ReferenceType: timeline.RefAPI, Ended: true},
		flowEnded3: {ID: flowEnded3, CustomerID: customerA, ReferenceType: timeline.RefAPI, Ended: true},
	}
	f, ok := flows[flowID]
	if !ok || f.CustomerID != customerID {
		return timeline.Flow{}, timeline.ErrNotFound
	}
	return f, nil
}

func (source) Events(ctx context.Context, customerID, flowID string) ([]timeline.Event, error) {
	return []timeline.Event{{Type: "api_called", Timestamp: t0}}, nil
}

const okAnswer = `{"reasoning":"r","interactions":[],"narrative":"An API call ran the flow.","issues":[],"overall_status":"ok"}`

// customerHeader resolves the customer from the X-Customer header.
func customerHeader(r *http.Request) (string, error) {
	c := r.Header.Get("X-Customer")
	if c == "" {
		return "", errors.New("no credentials")
	}
	return c, nil
}

func newServer(t *testing.T) (*timeline.Service, *httptest.Server) {
	t.Helper()
	var n atomic.Int64
	model := llmtest.Handler(func(ctx context.Context, req llm.Request) (llm.Response, error) {
		return llm.Response{Content: okAnswer}, nil
	})
	svc, err := timeline.NewService(timeline.Config{
		Source:   source{},
		Analyzer: timeline.AnalyzerConfig{Model: model},
		Now:      func() time.Time { return t0.Add(time.Hour) },
		NewID:    func() string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n.Add(1)) },
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Close(context.Background()) })
	srv := httptest.NewServer(timelinehttp.New(svc, customerHeader, timelinehttp.Options{}))
	t.Cleanup(srv.Close)
	return svc, srv
}

func do(t *testing.T, srv *httptest.Server, method, path, customer, body string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if customer != "" {
		req.Header.Set("X-Customer", customer)
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp, out
}

func TestCreateGetAndList(t *testing.T) {
	svc, srv := newServer(t)
	resp, body := do(t, srv, "POST", "/timeline-analyses", customerA, `{"activeflow_id":"`+flowEnded+`"}`)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "%v", body)
	id := body["id"].(string)
	assert.Equal(t, "progressing", body["status"])
	assert.Equal(t, flowEnded, body["activeflow_id"])
	assert.Equal(t, customerA, body["customer_id"])
	assert.NotContains(t, body, "result")
	svc.Wait()

	resp, body = do(t, srv, "POST", "/timeline-analyses", customerA, `{"activeflow_id":"`+flowEnded+`"}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, "the existing analysis")
	assert.Equal(t, id, body["id"])
	assert.Equal(t, "completed", body["status"])

	resp, body = do(t, srv, "GET", "/timeline-analyses/"+id, customerA, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "completed", body["status"])
	result := body["result"].(map[string]any)
	assert.Equal(t, "ok", result["overall_status"])
	assert.EqualValues(t, 3, result["version"])
	assert.Equal(t, "", body["error"])

	resp, body = do(t, srv, "GET", "/timeline-analyses?activeflow_id="+flowEnded+"&page_size=1", customerA, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	items := body["result"].([]any)
	require.Len(t, items, 1)
	assert.Equal(t, id, items[0].(map[string]any)["id"])
	assert.Equal(t, "", body["next_page_token"])

	resp, body = do(t, srv, "GET", "/timeline-analyses", customerB, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, []any{}, body["result"], "another customer sees nothing")

	resp, body = do(t, srv, "GET", "/timeline-analyses/"+id, customerB, "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	_, missing := do(t, srv, "GET", "/timeline-analyses/00000000-0000-4000-8000-999999999999", customerA, "")
	assert.Equal(t, missing, body, "another customer's analysis looks missing")
}

func TestListPagination(t *testing.T) {
	svc, srv := newServer(t)
	var ids []string
	for _, f := range []string{flowEnded, flowEnded2, flowEnded3} {
		resp, body := do(t, srv, "POST", "/timeline-analyses", customerA, `{"activeflow_id":"`+f+`"}`)
		require.Equal(t, http.StatusAccepted, resp.StatusCode, "%v", body)
		ids = append(ids, body["id"].(string))
	}
	svc.Wait()
	resp, body := do(t, srv, "POST", "/timeline-analyses", customerA, `{"activeflow_id":"`+flowEnded+`","reanalyze":true}`)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "the clock did not move: cooldown")
	assert.Equal(t, "60", resp.Header.Get("Retry-After"))
	assert.Equal(t, "cooldown", body["error"])

	var got []string
	token := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 3)
		resp, body = do(t, srv, "GET", "/timeline-analyses?page_size=2&page_token="+token, customerA, "")
		require.Equal(t, http.StatusOK, resp.StatusCode, "%v", body)
		for _, it := range body["result"].([]any) {
			got = append(got, it.(map[string]any)["id"].(string))
		}
		token = body["next_page_token"].(string)
		if token == "" {
			break
		}
	}
	assert.Equal(t, []string{ids[2], ids[1], ids[0]}, got, "newest first")

	resp, body = do(t, srv, "GET", "/timeline-analyses?page_token=bogus", customerA, "")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Equal(t, []any{problem("page_token", "not a page token issued by this store for this list")}, problemsOf(body))
}

func TestCreateErrors(t *testing.T) {
	_, srv := newServer(t)
	big := `{"activeflow_id":"` + strings.Repeat("x", 70<<10) + `"}`
	tests := []struct {
		name, customer, body string
		status               int
		code                 string
		problems             []any
	}{
		{"no customer", "", `{"activeflow_id":"` + flowEnded + `"}`, 401, "unauthenticated", nil},
		{"customer not a UUID", "acme", `{"activeflow_id":"` + flowEnded + `"}`, 401, "unauthenticated", nil},
		{"empty body", customerA, ``, 400, "invalid_argument", []any{problem("$", "the body is empty")}},
		{"not JSON", customerA, `{"activeflow_id":`, 400, "invalid_argument", []any{problem("$", "not valid JSON")}},
		{"an array", customerA, `[]`, 400, "invalid_argument", []any{problem("$", "a JSON object is expected")}},
		{"unknown field", customerA, `{"activeflow_id":"` + flowEnded + `","force":true}`, 400, "invalid_argument", []any{problem("$.force", "unknown field")}},
		{"a name in another case", customerA, `{"ACTIVEFLOW_ID":"` + flowEnded + `"}`, 400, "invalid_argument", []any{problem("$.ACTIVEFLOW_ID", `unknown field (names are case-sensitive: "activeflow_id")`)}},
		{"a member twice", customerA, `{"activeflow_id":"` + flowLive + `","activeflow_id":"` + flowEnded + `"}`, 400, "invalid_argument", []any{problem("$.activeflow_id", "the member appears more than once")}},
		{"not UTF-8", customerA, "{\"activeflow_id\":\"" + flowEnded + "\xff\"}", 400, "invalid_argument", []any{problem("$.activeflow_id", "the text is not valid UTF-8 (byte 54)")}},
		{"wrong type", customerA, `{"activeflow_id":7}`, 400, "invalid_argument", []any{problem("$.activeflow_id", "wrong type: a JSON number is not allowed here")}},
		{"trailing data", customerA, `{"activeflow_id":"` + flowEnded + `"} {}`, 400, "invalid_argument", []any{problem("$", "a single JSON object is expected")}},
		{"missing id", customerA, `{}`, 400, "invalid_argument", []any{problem("$.activeflow_id", "missing")}},
		{"bad UUID", customerA, `{"activeflow_id":"flow-1"}`, 400, "invalid_argument", []any{problem("$.activeflow_id", "not a UUID")}},
		{"too large", customerA, big, 400, "invalid_argument", []any{problem("$", "the body is larger than 65536 bytes")}},
		{"unknown flow", customerA, `{"activeflow_id":"00000000-0000-4000-8000-000000000777"}`, 404, "not_found", nil},
		{"another customer's flow", customerA, `{"activeflow_id":"` + flowOfB + `"}`, 404, "not_found", nil},
		{"not ended", customerA, `{"activeflow_id":"` + flowLive + `"}`, 409, "flow_not_ended", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, srv, "POST", "/timeline-analyses", tt.customer, tt.body)
			assert.Equal(t, tt.status, resp.StatusCode)
			assert.Equal(t, tt.code, body["error"])
			assert.NotEmpty(t, body["message"])
			assert.Equal(t, tt.problems, problemsOf(body))
		})
	}
}

func problem(path, msg string) any { return map[string]any{"path": path, "message": msg} }

func problemsOf(body map[string]any) []any {
	p, _ := body["problems"].([]any)
	return p
}

func TestQueryErrors(t *testing.T) {
	_, srv := newServer(t)
	tests := []struct {
		path     string
		problems []any
	}{
		{"/timeline-analyses?page_size=0", []any{problem("page_size", "not an integer from 1 to 100")}},
		{"/timeline-analyses?page_size=101", []any{problem("page_size", "not an integer from 1 to 100")}},
		{"/timeline-analyses?page_size=ten", []any{problem("page_size", "not an integer from 1 to 100")}},
		{"/timeline-analyses?activeflow_id=x", []any{problem("activeflow_id", "not a UUID")}},
		{"/timeline-analyses?activeflow_id=", []any{problem("activeflow_id", "not a UUID")}},
		{"/timeline-analyses?sort=asc", []any{problem("sort", "unknown query parameter")}},
		{"/timeline-analyses?page_size=1&page_size=2", []any{problem("page_size", "given more than once")}},
		{"/timeline-analyses/not-a-uuid", []any{problem("id", "not a UUID")}},
	}
	for _, tt := range tests {
		resp, body := do(t, srv, "GET", tt.path, customerA, "")
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, tt.path)
		assert.Equal(t, "invalid_argument", body["error"], tt.path)
		assert.Equal(t, tt.problems, problemsOf(body), tt.path)
	}
	resp, body := do(t, srv, "GET", "/timeline-analyses", "", "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, "unauthenticated", body["error"])
}

func TestRoutes(t *testing.T) {
	_, srv := newServer(t)
	resp, body := do(t, srv, "DELETE", "/timeline-analyses", customerA, "")
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, "GET, POST", resp.Header.Get("Allow"))
	assert.Equal(t, "method_not_allowed", body["error"])
	resp, _ = do(t, srv, "PUT", "/timeline-analyses/00000000-0000-4000-8000-000000000001", customerA, "")
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, "GET", resp.Header.Get("Allow"))
	resp, body = do(t, srv, "GET", "/elsewhere", customerA, "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, "not_found", body["error"])

	// Each resource has one path: unclean ones answer 404 in JSON, never
	// a redirect in HTML.
	for _, p := range []string{"//timeline-analyses", "/./timeline-analyses", "/x/../timeline-analyses",
		"/timeline-analyses/./00000000-0000-4000-8000-000000000001", "/timeline-analyses//", "/timeline-analyses/"} {
		for _, method := range []string{"GET", "POST"} {
			resp, body = do(t, srv, method, p, customerA, `{"activeflow_id":"`+flowEnded+`"}`)
			assert.Equal(t, http.StatusNotFound, resp.StatusCode, "%s %s", method, p)
			assert.Equal(t, "not_found", body["error"], "%s %s", method, p)
			assert.Empty(t, resp.Header.Get("Location"))
		}
	}
}

// stub answers every call with err.
type stub struct{ err error }

func (s stub) Create(context.Context, string, string, timeline.CreateOptions) (timeline.Analysis, bool, error) {
	return timeline.Analysis{}, false, s.err
}
func (s stub) Get(context.Context, string, string) (timeline.Analysis, error) {
	return timeline.Analysis{}, s.err
}
func (s stub) List(context.Context, string, timeline.ListFilter, timeline.PageRequest) (timeline.Page, error) {
	return timeline.Page{}, s.err
}

func TestServiceErrorsAreMapped(t *testing.T) {
	secret := "pq: password authentication failed for user admin at 10.0.0.7"
	tests := []struct {
		err        error
		status     int
		code       string
		retryAfter string
	}{
		{&timeline.CooldownError{RetryAfter: 1500 * time.Millisecond}, 429, "cooldown", "2"},
		{&timeline.CooldownError{RetryAfter: time.Millisecond}, 429, "cooldown", "1"},
		{timeline.ErrBusy, 503, "busy", ""},
		{timeline.ErrClosed, 503, "unavailable", ""},
		{fmt.Errorf("wrapped: %w", timeline.ErrNotEnded), 409, "flow_not_ended", ""},
		{&timeline.SourceError{Op: "Flow", Err: errors.New(secret)}, 500, "internal", ""},
		{&timeline.SourceError{Op: "Flow", Err: fmt.Errorf("%s: %w", secret, &timeline.ValidationError{Problems: []timeline.Problem{{Path: "$.flow.id", Message: "the flow id is missing"}}})},
			500, "internal", ""},
		{errors.New(secret), 500, "internal", ""},
	}
	for _, tt := range tests {
		var logs bytes.Buffer
		h := timelinehttp.New(stub{tt.err}, customerHeader, timelinehttp.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		for _, req := range []*http.Request{
			httptest.NewRequest("POST", "/timeline-analyses", strings.NewReader(`{"activeflow_id":"`+flowEnded+`"}`)),
			httptest.NewRequest("GET", "/timeline-analyses", nil),
			httptest.NewRequest("GET", "/timeline-analyses/"+flowEnded, nil),
		} {
			req.Header.Set("X-Customer", customerA)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			assert.Equal(t, tt.status, rec.Code, "%v %s", tt.err, req.URL)
			var body map[string]any
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
			assert.Equal(t, tt.code, body["error"])
			assert.Equal(t, tt.retryAfter, rec.Header().Get("Retry-After"))
			assert.NotContains(t, rec.Body.String(), "password")
		}
		if tt.status == 500 {
			assert.Contains(t, logs.String(), "password", "the detail is logged for the host")
		}
	}
}

// Ids are case-blind: an upper-case flow id, analysis id, filter or
// customer id names the same objects.
func TestIDsAreCaseBlind(t *testing.T) {
	svc, srv := newServer(t)
	resp, body := do(t, srv, "POST", "/timeline-analyses", customerA, `{"activeflow_id":"`+flowEnded+`"}`)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "%v", body)
	id := body["id"].(string)
	svc.Wait()

	upper := strings.ToUpper
	resp, body = do(t, srv, "POST", "/timeline-analyses", upper(customerA), `{"activeflow_id":"`+upper(flowEnded)+`"}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", body)
	assert.Equal(t, id, body["id"], "the flow's analysis, not a second one")
	assert.Equal(t, flowEnded, body["activeflow_id"])

	resp, body = do(t, srv, "GET", "/timeline-analyses/"+upper(id), upper(customerA), "")
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", body)
	assert.Equal(t, id, body["id"])

	resp, body = do(t, srv, "GET", "/timeline-analyses?activeflow_id="+upper(flowEnded), customerA, "")
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", body)
	require.Len(t, body["result"], 1)
	assert.Equal(t, id, body["result"].([]any)[0].(map[string]any)["id"])
}

// caseSensitive is a Service that, like a store keyed on exact strings,
// finds only lower-case ids: the handler must hand it those.
type caseSensitive struct{ stub }

func (caseSensitive) Get(_ context.Context, customerID, id string) (timeline.Analysis, error) {
	if customerID != strings.ToLower(customerID) || id != strings.ToLower(id) {
		return timeline.Analysis{}, timeline.ErrNotFound
	}
	return timeline.Analysis{ID: id, CustomerID: customerID}, nil
}

func TestHandlerLowerCasesIDs(t *testing.T) {
	h := timelinehttp.New(caseSensitive{}, customerHeader, timelinehttp.Options{})
	req := httptest.NewRequest("GET", "/timeline-analyses/"+strings.ToUpper(flowEnded), nil)
	req.Header.Set("X-Customer", strings.ToUpper(customerA))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
}
