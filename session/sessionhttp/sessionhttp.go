// Package sessionhttp serves the analysis input of finished sessions over
// HTTP: GET /v1/sessions/{session_id}/analysis-input answers the
// [session.SessionAnalysisInput] of one session of the caller's
// organisation, built by a [session.Assembler] from the captures a host
// [session.Source] loads.
//
// Status codes and bodies:
//
//   - 200: the input, as JSON.
//   - 401: no valid credentials (the organisation resolver failed with
//     [ErrUnauthenticated]), with a WWW-Authenticate header naming the
//     API-key scheme and header ([WWWAuthenticate]).
//   - 404: no such session for the caller's organisation — the same body
//     whether the session does not exist or belongs to another
//     organisation, so existence never leaks. Any other path answers 404
//     too, a path that is not in its clean form ("//", ".", "..") included:
//     it is not redirected.
//   - 409: the session has not ended ([session.ErrNotTerminal]) — which
//     includes a status the session package does not know.
//   - 422: session_id is not a UUID.
//   - 405: a method other than GET (or HEAD), with an Allow header.
//   - 500: anything else; the cause is logged, never sent.
//   - 503: the request was cancelled or timed out before an answer.
//
// Every error body is an [ErrorResponse], {"error": code, "message": text};
// the 422 body also carries "detail", the list of validation errors of the
// API's HTTPValidationError shape, so that it satisfies both.
package sessionhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/debrief-go/debrief/session"
)

// Pattern is the route the handler serves, in [http.ServeMux] syntax.
const Pattern = "/v1/sessions/{session_id}/analysis-input"

// APIKeyHeader is the header that carries the caller's API key.
const APIKeyHeader = "x-api-key"

// WWWAuthenticate is the WWW-Authenticate header of a 401 answer: the
// API-key scheme, and the header the key goes in.
const WWWAuthenticate = `APIKey header="` + APIKeyHeader + `"`

// ErrUnauthenticated is what an [OrgResolver] returns, possibly wrapped,
// for a request without valid credentials. The handler answers 401.
var ErrUnauthenticated = errors.New("sessionhttp: unauthenticated")

// An OrgResolver returns the organisation (a UUID) a request acts for. It
// returns an error matching [ErrUnauthenticated] when the request carries
// no valid credentials; any other error is internal (the handler answers
// 500 and logs it). An empty organisation with a nil error counts as
// unauthenticated.
type OrgResolver func(r *http.Request) (orgID string, err error)

// APIKey returns an [OrgResolver] that reads the [APIKeyHeader] header and
// looks the key up with lookup. A missing or empty header is
// unauthenticated; so is a key lookup rejects with [ErrUnauthenticated] or
// [session.ErrNotFound]. Other errors of lookup are internal.
func APIKey(lookup func(ctx context.Context, key string) (orgID string, err error)) OrgResolver {
	return func(r *http.Request) (string, error) {
		key := strings.TrimSpace(r.Header.Get(APIKeyHeader))
		if key == "" {
			return "", fmt.Errorf("%w: no %s header", ErrUnauthenticated, APIKeyHeader)
		}
		org, err := lookup(r.Context(), key)
		if errors.Is(err, session.ErrNotFound) {
			return "", fmt.Errorf("%w: unknown API key", ErrUnauthenticated)
		}
		return org, err
	}
}

// Config is what a [Handler] needs.
type Config struct {
	// Source loads the captures of a session. Required.
	Source session.Source
	// Organization resolves the caller's organisation. Required.
	Organization OrgResolver
	// Assembler builds the input from the captures; nil means an assembler
	// with [session.DefaultRedactor] and nothing else set (no truncation,
	// no legacy rules), so that the handler never serves an unredacted
	// transcript by default. A host whose captures are redacted upstream
	// says so in Captures.Redacted, or sets an Assembler of its own.
	Assembler *session.Assembler
	// Logger receives a warning with the internal cause for every 500
	// answer, and debug records for refused requests; nil discards them.
	Logger *slog.Logger
}

// A Handler serves [Pattern]. Mount it at the root of a server or mux, or
// under a prefix with [http.StripPrefix]; other paths answer 404 with an
// [ErrorResponse] body. It is safe for concurrent use.
type Handler struct {
	cfg Config
	mux *http.ServeMux
	log *slog.Logger
}

// New returns a handler for cfg, or an error when a required field is
// missing.
func New(cfg Config) (*Handler, error) {
	if cfg.Source == nil {
		return nil, errors.New("sessionhttp: Config.Source is required")
	}
	if cfg.Organization == nil {
		return nil, errors.New("sessionhttp: Config.Organization is required")
	}
	if cfg.Assembler == nil {
		cfg.Assembler = &session.Assembler{Redactor: session.DefaultRedactor()}
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), log: cfg.Logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.mux.HandleFunc("GET "+Pattern, h.analysisInput)
	h.mux.HandleFunc(Pattern, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, r, http.StatusMethodNotAllowed, ErrorResponse{Error: CodeMethodNotAllowed,
			Message: fmt.Sprintf("method %s is not allowed; use GET", r.Method)})
	})
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, ErrorResponse{Error: CodeNotFound, Message: msgNoSuchResource})
	})
	return h, nil
}

// ServeHTTP answers one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p := r.URL.Path; p != cleanPath(p) {
		// The mux would redirect (307, an HTML body) to the clean path.
		writeError(w, r, http.StatusNotFound, ErrorResponse{Error: CodeNotFound, Message: msgNoSuchResource})
		return
	}
	h.mux.ServeHTTP(w, r)
}

// cleanPath returns the clean form of p as [http.ServeMux] computes it: a
// leading slash, no "//", "." or ".." elements, a trailing slash kept.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// The error codes of [ErrorResponse] bodies.
const (
	CodeUnauthorized     = "unauthorized"
	CodeNotFound         = "not_found"
	CodeNotTerminal      = "session_not_terminal"
	CodeValidation       = "validation_error"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeInternal         = "internal_error"
	CodeUnavailable      = "unavailable"
)

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	// Error is a stable, machine-readable code: one of the Code constants.
	Error string `json:"error"`
	// Message explains the error to a person. It never carries internal
	// detail.
	Message string `json:"message"`
	// Detail lists the validation errors of a 422 answer; absent otherwise.
	Detail []ValidationDetail `json:"detail,omitempty"`
}

// ValidationDetail is one validation error of a 422 answer, in the shape of
// the API's ValidationError.
type ValidationDetail struct {
	// Loc locates the offending value: ["path", "session_id"].
	Loc []any `json:"loc"`
	// Msg says what is wrong.
	Msg string `json:"msg"`
	// Type classifies the error: "uuid_parsing".
	Type string `json:"type"`
	// Input is the offending value.
	Input any `json:"input,omitempty"`
}

// Fixed messages: the 404 body is byte-for-byte the same for a session
// that does not exist and for another organisation's.
const (
	msgUnauthorized = "a valid " + APIKeyHeader + " header is required"
	msgNotFound     = "session not found"
	msgNotTerminal  = "the session has not ended yet; its analysis input is available once it is in a terminal state"
	msgInternal     = "internal error"

	msgNoSuchResource = "no such resource"
)

func (h *Handler) analysisInput(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("session_id")

	org, err := h.cfg.Organization(r)
	switch {
	case errors.Is(err, ErrUnauthenticated) || err == nil && org == "":
		h.log.LogAttrs(ctx, slog.LevelDebug, "sessionhttp: unauthenticated request")
		w.Header().Set("WWW-Authenticate", WWWAuthenticate)
		writeError(w, r, http.StatusUnauthorized, ErrorResponse{Error: CodeUnauthorized, Message: msgUnauthorized})
		return
	case err != nil:
		h.fail(w, r, "resolve organisation", err)
		return
	}

	if !session.IsUUID(id) {
		writeError(w, r, http.StatusUnprocessableEntity, ErrorResponse{
			Error:   CodeValidation,
			Message: "session_id must be a UUID",
			Detail: []ValidationDetail{{
				Loc: []any{"path", "session_id"}, Msg: "Input should be a valid UUID", Type: "uuid_parsing", Input: id,
			}},
		})
		return
	}
	id = strings.ToLower(id)

	in, err := h.cfg.Assembler.Load(ctx, h.cfg.Source, org, id)
	switch {
	case err == nil:
	case errors.Is(err, session.ErrNotFound):
		h.log.LogAttrs(ctx, slog.LevelDebug, "sessionhttp: session not found", slog.String("session_id", id))
		writeError(w, r, http.StatusNotFound, ErrorResponse{Error: CodeNotFound, Message: msgNotFound})
		return
	case errors.Is(err, session.ErrNotTerminal):
		h.log.LogAttrs(ctx, slog.LevelDebug, "sessionhttp: session not terminal", slog.String("session_id", id))
		writeError(w, r, http.StatusConflict, ErrorResponse{Error: CodeNotTerminal, Message: msgNotTerminal})
		return
	default:
		h.fail(w, r, "load analysis input", err)
		return
	}

	body, err := json.Marshal(in)
	if err != nil {
		h.fail(w, r, "encode analysis input", err)
		return
	}
	writeJSON(w, r, http.StatusOK, body)
}

// fail answers 503 when the request's context ended, 500 otherwise, and
// logs the cause.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	ctx := r.Context()
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		h.log.LogAttrs(ctx, slog.LevelDebug, "sessionhttp: request ended early", slog.String("step", what), slog.Any("error", err))
		writeError(w, r, http.StatusServiceUnavailable, ErrorResponse{Error: CodeUnavailable, Message: "the request was cancelled or timed out"})
		return
	}
	h.log.LogAttrs(ctx, slog.LevelWarn, "sessionhttp: request failed", slog.String("step", what),
		slog.String("path", r.URL.Path), slog.Any("error", err))
	writeError(w, r, http.StatusInternalServerError, ErrorResponse{Error: CodeInternal, Message: msgInternal})
}

func writeError(w http.ResponseWriter, r *http.Request, status int, body ErrorResponse) {
	data, err := json.Marshal(body)
	if err != nil { // cannot happen: the body holds strings only
		data = []byte(`{"error":"internal_error","message":"internal error"}`)
		status = http.StatusInternalServerError
	}
	writeJSON(w, r, status, data)
}

// writeJSON answers status with body, a JSON document, and a newline; a
// HEAD request gets the headers only.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	var buf bytes.Buffer
	buf.Grow(len(body) + 1)
	buf.Write(body)
	buf.WriteByte('\n')
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
