package sessionhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/internal/schemaval"
	"github.com/debrief-go/debrief/session"
)

const (
	orgA       = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"
	orgB       = "1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9"
	sessDone   = "0b7c6d2e-3f4a-4b5c-8d9e-0f1a2b3c4d5e"
	sessActive = "6e5d4c3b-2a19-4f8e-8d7c-6b5a49382716"
	sessOfB    = "7f6e5d4c-3b2a-4190-8f8e-7d6c5b4a3928"
	sessBroken = "8a7b6c5d-4e3f-4a1b-9c0d-8e7f6a5b4c3d"
	sessFail   = "9b8c7d6e-5f4a-4b2c-8d1e-9f8a7b6c5d4e"
	sessOdd    = "ac9d8e7f-6a5b-4c3d-9e2f-a1b2c3d4e5f6"
	keyA       = "key-a"
	keyB       = "key-b"
)

var start = time.Date(2024, 5, 15, 15, 0, 0, 0, time.UTC)

func captures(org, id string, status session.SessionStatus) *session.Captures {
	end := start.Add(time.Minute)
	return &session.Captures{
		SessionID: id, OrganizationID: org, Channel: "web", StartedAt: start, EndedAt: &end,
		Status: status, TerminationReason: session.ReasonAgentResolved,
		Messages: []session.MessageEntry{
			{TurnID: "11111111-1111-4111-8111-111111111111", Role: session.RoleUser, Timestamp: start.Add(time.Second), Content: "I'm jane@example.com"},
			{TurnID: "22222222-2222-4222-8222-222222222222", Role: session.RoleAssistant, Timestamp: start.Add(2 * time.Second), Content: "Hello Jane."},
		},
	}
}

// store is a Source over a map, keyed by organisation and session.
type store map[string]*session.Captures

func (s store) Captures(ctx context.Context, orgID, sessionID string) (*session.Captures, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if sessionID == sessFail {
		return nil, errors.New("pq: connection refused to postgres://app:s3cret@db.internal:5432")
	}
	c, ok := s[orgID+"/"+sessionID]
	if !ok {
		return nil, session.ErrNotFound
	}
	return c, nil
}

func newTestHandler(t *testing.T, logs io.Writer) *Handler {
	t.Helper()
	broken := captures(orgA, sessBroken, session.StatusCompleted)
	broken.Messages[1].TurnID = "not-a-uuid"
	src := store{
		orgA + "/" + sessDone:   captures(orgA, sessDone, session.StatusCompleted),
		orgA + "/" + sessActive: captures(orgA, sessActive, session.StatusWaitingForHuman),
		orgB + "/" + sessOfB:    captures(orgB, sessOfB, session.StatusCompleted),
		orgA + "/" + sessBroken: broken,
		orgA + "/" + sessOdd:    captures(orgA, sessOdd, "on_hold_by_crm"),
	}
	keys := map[string]string{keyA: orgA, keyB: orgB}
	var logger *slog.Logger
	if logs != nil {
		logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	h, err := New(Config{
		Source:    src,
		Assembler: &session.Assembler{Redactor: session.DefaultRedactor()},
		Organization: APIKey(func(ctx context.Context, key string) (string, error) {
			if key == "explode" {
				return "", errors.New("key service: dial tcp 10.0.0.7:443: i/o timeout")
			}
			if org, ok := keys[key]; ok {
				return org, nil
			}
			return "", session.ErrNotFound
		}),
		Logger: logger,
	})
	require.NoError(t, err)
	return h
}

func do(t *testing.T, h http.Handler, method, path, key string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if key != "" {
		req.Header.Set(APIKeyHeader, key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func inputPath(id string) string { return "/v1/sessions/" + id + "/analysis-input" }

var (
	schemasMu sync.Mutex
	schemas   = map[string]*schemaval.Schema{}
)

// errorSchema compiles (once) the API's error component name.
func errorSchema(t *testing.T, name string) *schemaval.Schema {
	t.Helper()
	schemasMu.Lock()
	defer schemasMu.Unlock()
	if s, ok := schemas[name]; ok {
		return s
	}
	data, err := os.ReadFile("testdata/error_schemas.json")
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(data, &doc))
	doc["$ref"] = "#/components/schemas/" + name
	raw, err := json.Marshal(doc)
	require.NoError(t, err)
	s, err := schemaval.Compile(raw)
	require.NoError(t, err)
	schemas[name] = s
	return s
}

func requireErrorBody(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) ErrorResponse {
	t.Helper()
	require.Equal(t, status, rec.Code, rec.Body.String())
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	assert.Empty(t, errorSchema(t, "ErrorResponse").ValidateJSON(rec.Body.Bytes()), "the body is an ErrorResponse")
	var body ErrorResponse
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	assert.Equal(t, code, body.Error)
	assert.NotEmpty(t, body.Message)
	return body
}

func TestOK(t *testing.T) {
	h := newTestHandler(t, nil)
	rec := do(t, h, http.MethodGet, inputPath(sessDone), keyA)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	in, err := session.ParseInput(rec.Body.Bytes())
	require.NoError(t, err, "the body is a valid analysis input")
	assert.Equal(t, sessDone, in.SessionID)
	assert.Equal(t, "I'm [EMAIL]", in.Messages[0].Content, "the configured assembler redacts")
	assert.Equal(t, session.OutcomeResolved, *in.Outcome)

	upper := do(t, h, http.MethodGet, inputPath(strings.ToUpper(sessDone)), keyA)
	require.Equal(t, http.StatusOK, upper.Code, "UUIDs are case-insensitive")
	assert.Equal(t, rec.Body.String(), upper.Body.String())

	head := do(t, h, http.MethodHead, inputPath(sessDone), keyA)
	assert.Equal(t, http.StatusOK, head.Code)
	assert.Empty(t, head.Body.String())
}

func TestUnauthorized(t *testing.T) {
	h := newTestHandler(t, nil)
	for _, key := range []string{"", "   ", "wrong"} {
		rec := do(t, h, http.MethodGet, inputPath(sessDone), key)
		body := requireErrorBody(t, rec, http.StatusUnauthorized, CodeUnauthorized)
		assert.Contains(t, body.Message, APIKeyHeader)
		assert.Equal(t, `APIKey header="x-api-key"`, rec.Header().Get("WWW-Authenticate"), "a 401 names its scheme")
	}
	// Credentials are checked before the session id.
	requireErrorBody(t, do(t, h, http.MethodGet, inputPath("nope"), ""), http.StatusUnauthorized, CodeUnauthorized)

	empty, err := New(Config{Source: store{}, Organization: func(*http.Request) (string, error) { return "", nil }})
	require.NoError(t, err)
	requireErrorBody(t, do(t, empty, http.MethodGet, inputPath(sessDone), keyA), http.StatusUnauthorized, CodeUnauthorized)
}

func TestNotFoundDoesNotLeakExistence(t *testing.T) {
	h := newTestHandler(t, nil)
	unknown := do(t, h, http.MethodGet, inputPath("00000000-0000-4000-8000-000000000000"), keyA)
	otherOrg := do(t, h, http.MethodGet, inputPath(sessOfB), keyA)
	requireErrorBody(t, unknown, http.StatusNotFound, CodeNotFound)
	requireErrorBody(t, otherOrg, http.StatusNotFound, CodeNotFound)
	assert.Equal(t, unknown.Body.String(), otherOrg.Body.String(), "identical bodies")
	assert.Equal(t, unknown.Header(), otherOrg.Header(), "identical headers")

	own := do(t, h, http.MethodGet, inputPath(sessOfB), keyB)
	assert.Equal(t, http.StatusOK, own.Code, "the owner sees it")
}

func TestNotTerminal(t *testing.T) {
	h := newTestHandler(t, nil)
	requireErrorBody(t, do(t, h, http.MethodGet, inputPath(sessActive), keyA), http.StatusConflict, CodeNotTerminal)
	// A status the session package does not know is not terminal either:
	// 409, not 500.
	rec := do(t, h, http.MethodGet, inputPath(sessOdd), keyA)
	requireErrorBody(t, rec, http.StatusConflict, CodeNotTerminal)
	assert.NotContains(t, rec.Body.String(), "on_hold_by_crm")
	assert.Empty(t, rec.Header().Get("WWW-Authenticate"), "only a 401 asks for credentials")
}

func TestDefaultAssemblerRedacts(t *testing.T) {
	src := store{orgA + "/" + sessDone: captures(orgA, sessDone, session.StatusCompleted)}
	h, err := New(Config{Source: src, Organization: func(*http.Request) (string, error) { return orgA, nil }})
	require.NoError(t, err)
	rec := do(t, h, http.MethodGet, inputPath(sessDone), "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.NotContains(t, rec.Body.String(), "jane@example.com", "without an Assembler the handler still redacts")
	in, err := session.ParseInput(rec.Body.Bytes())
	require.NoError(t, err)
	assert.Equal(t, "I'm [EMAIL]", in.Messages[0].Content)
	assert.False(t, in.Missing(session.TranscriptRedactionSkipped))
}

func TestInvalidSessionID(t *testing.T) {
	h := newTestHandler(t, nil)
	for _, id := range []string{"42", "not-a-uuid", "0b7c6d2e3f4a4b5c8d9e0f1a2b3c4d5e", "{0b7c6d2e-3f4a-4b5c-8d9e-0f1a2b3c4d5e}", "a%2Fb", "%F0%9F%99%82"} {
		t.Run(id, func(t *testing.T) {
			rec := do(t, h, http.MethodGet, inputPath(id), keyA)
			body := requireErrorBody(t, rec, http.StatusUnprocessableEntity, CodeValidation)
			assert.Empty(t, errorSchema(t, "HTTPValidationError").ValidateJSON(rec.Body.Bytes()), "the body is also an HTTPValidationError")
			require.Len(t, body.Detail, 1)
			assert.Equal(t, []any{"path", "session_id"}, body.Detail[0].Loc)
			assert.Equal(t, "uuid_parsing", body.Detail[0].Type)
			require.NotEmpty(t, body.Detail[0].Msg)
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	h := newTestHandler(t, nil)
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		rec := do(t, h, m, inputPath(sessDone), keyA)
		requireErrorBody(t, rec, http.StatusMethodNotAllowed, CodeMethodNotAllowed)
		assert.Equal(t, "GET, HEAD", rec.Header().Get("Allow"))
	}
}

func TestUnknownPath(t *testing.T) {
	h := newTestHandler(t, nil)
	for _, p := range []string{"/", "/v1/sessions/" + sessDone, inputPath(sessDone) + "/extra", "/v1/other"} {
		requireErrorBody(t, do(t, h, http.MethodGet, p, keyA), http.StatusNotFound, CodeNotFound)
	}
}

// TestUncleanPathIsNotRedirected: a path the mux would clean gets an
// ErrorResponse 404, not a 307 with an HTML body.
func TestUncleanPathIsNotRedirected(t *testing.T) {
	h := newTestHandler(t, nil)
	for _, p := range []string{
		"//v1/sessions/" + sessDone + "/analysis-input",
		"/v1//sessions/" + sessDone + "/analysis-input",
		"/v1/sessions/../sessions/" + sessDone + "/analysis-input",
		"/v1/./sessions/" + sessDone + "/analysis-input",
		"/v1/sessions/" + sessDone + "/analysis-input/..",
	} {
		t.Run(p, func(t *testing.T) {
			rec := do(t, h, http.MethodGet, p, keyA)
			requireErrorBody(t, rec, http.StatusNotFound, CodeNotFound)
			assert.Empty(t, rec.Header().Get("Location"))
		})
	}
	assert.Equal(t, http.StatusOK, do(t, h, http.MethodGet, inputPath(sessDone), keyA).Code, "the clean path still works")
}

func TestInternalErrorsAreNotLeaked(t *testing.T) {
	var logs bytes.Buffer
	h := newTestHandler(t, &logs)
	tests := []struct {
		name, key, id, secret, cause string
	}{
		{"source failure", keyA, sessFail, "s3cret", "s3cret"},
		// A validation problem is logged by its path; the offending value,
		// which may be personal data, is neither sent nor logged.
		{"invalid captures", keyA, sessBroken, "not-a-uuid", "$.messages[1].turn_id"},
		{"resolver failure", "explode", sessDone, "10.0.0.7", "10.0.0.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs.Reset()
			rec := do(t, h, http.MethodGet, inputPath(tt.id), tt.key)
			body := requireErrorBody(t, rec, http.StatusInternalServerError, CodeInternal)
			assert.Equal(t, "internal error", body.Message)
			assert.NotContains(t, rec.Body.String(), tt.secret)
			assert.NotContains(t, rec.Body.String(), tt.cause)
			assert.Contains(t, logs.String(), tt.cause, "the cause is logged for the operator")
			if tt.cause != tt.secret {
				assert.NotContains(t, logs.String(), tt.secret)
			}
			assert.Contains(t, logs.String(), "level=WARN")
		})
	}
}

func TestCancelledRequest(t *testing.T) {
	h := newTestHandler(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest(http.MethodGet, inputPath(sessDone), nil).WithContext(ctx)
	req.Header.Set(APIKeyHeader, keyA)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	requireErrorBody(t, rec, http.StatusServiceUnavailable, CodeUnavailable)
}

func TestMountedUnderPrefix(t *testing.T) {
	h := newTestHandler(t, nil)
	mux := http.NewServeMux()
	mux.Handle("/api/", http.StripPrefix("/api", h))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/api"+inputPath(sessDone), nil)
	require.NoError(t, err)
	req.Header.Set(APIKeyHeader, keyA)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestNewRequiresSourceAndResolver(t *testing.T) {
	_, err := New(Config{Organization: func(*http.Request) (string, error) { return orgA, nil }})
	assert.ErrorContains(t, err, "Source")
	_, err = New(Config{Source: store{}})
	assert.ErrorContains(t, err, "Organization")
}

func TestAPIKey(t *testing.T) {
	resolve := APIKey(func(ctx context.Context, key string) (string, error) {
		switch key {
		case "good":
			return orgA, nil
		case "revoked":
			return "", fmt.Errorf("key revoked: %w", ErrUnauthenticated)
		case "unknown":
			return "", session.ErrNotFound
		}
		return "", errors.New("backend down")
	})
	req := func(key string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if key != "" {
			r.Header.Set("X-Api-Key", key)
		}
		return r
	}
	org, err := resolve(req("good"))
	require.NoError(t, err)
	assert.Equal(t, orgA, org)
	for _, key := range []string{"", "revoked", "unknown"} {
		_, err := resolve(req(key))
		assert.ErrorIs(t, err, ErrUnauthenticated, "%q", key)
	}
	_, err = resolve(req("other"))
	assert.Error(t, err)
	assert.NotErrorIs(t, err, ErrUnauthenticated)
}
