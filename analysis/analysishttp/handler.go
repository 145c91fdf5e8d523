// Package analysishttp serves the Analysis API of package analysis over
// HTTP, under /api/analysis:
//
//	GET    /api/analysis/definitions                 list (?search=&limit=)
//	POST   /api/analysis/definitions                 create
//	GET    /api/analysis/definitions/{idOrKey}       get, with an ETag
//	PATCH  /api/analysis/definitions/{idOrKey}       merge-patch (If-Match)
//	DELETE /api/analysis/definitions/{idOrKey}       delete (If-Match)
//	POST   /api/analysis/definitions/{key}/run       start a run: 202
//	GET    /api/analysis/definitions/{key}/slots     schedule slots (?limit=)
//	GET    /api/analysis/conversations               list (?search=&tag=&limit=&cursor=)
//	POST   /api/analysis/conversations               ingest one, or {"conversations": [...]} (?onExisting=update|skip)
//	GET    /api/analysis/conversations/{idOrKey}     get
//	DELETE /api/analysis/conversations/{idOrKey}     delete
//	GET    /api/analysis/runs                        list (?definitionKey=&limit=)
//	GET    /api/analysis/runs/{id}                   get, with its items
//	GET    /api/analysis/runs/{id}/items             items, paged (?cursor=&limit=)
//	GET    /api/analysis/runs/{id}/gaps              the run's knowledge gaps (analysis.GapTable)
//	POST   /api/analysis/runs/{id}/cancel            cancel
//	GET    /api/analysis/runs/{id}/events            progress as server-sent events
//	GET    /api/analysis/runs/{id}/report            the run's report, an HTML page (package report)
//	GET    /api/analysis/definitions/{key}/report    the definition's trend, an HTML page (?limit= runs)
//	GET    /api/analysis/alerts                      alert rules, with their state (?limit=)
//	POST   /api/analysis/alerts                      create a rule
//	GET    /api/analysis/alerts/{idOrName}           get a rule (ETag)
//	PUT    /api/analysis/alerts/{idOrName}           replace a rule (If-Match: 412 on mismatch)
//	DELETE /api/analysis/alerts/{idOrName}           delete a rule
//	GET    /api/analysis/alerts/{idOrName}/notifications  its delivery log, newest first (?limit=)
//	GET    /api/analysis/openapi.json                this API as an OpenAPI 3.1 document
//
// Bodies are JSON and wrapped as seed 002 of the contract shows them:
// {"definition": …}, {"definitions": […]}, {"conversation": …},
// {"conversations": […]}, {"run": …}, {"runs": […]}. Every request acts for
// the scope the host's [ScopeFunc] resolves from it; an object of another
// scope answers 404 exactly as a missing one. Errors answer
// {"error": code, "message": text} and, for a request that is not valid,
// "problems": [{"path", "message"}], with these codes and statuses:
//
//	400 invalid_argument      a body, a parameter or a cursor is not valid
//	401 unauthenticated       the ScopeFunc refused the request
//	404 not_found             no such object in the scope, or no such route
//	405 method_not_allowed    the route has no such method (Allow lists them)
//	409 run_in_progress       the definition already has a run in progress
//	409 conflict              the object changed meanwhile, or was already done
//	412 precondition_failed   If-Match names another version of a definition
//	413 payload_too_large     the body is larger than the API takes
//	500 internal              anything else: logged, never described
//
// No internal error text reaches a response: 500 answers say "internal
// error" and the detail goes to the host's logger.
package analysishttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/invopop/jsonschema"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/analysis/report"
	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/internal/httppath"
)

// Prefix is the path every route of the API starts with. Mount the
// handler at Prefix + "/" on the host's mux.
const Prefix = "/api/analysis"

// A ScopeFunc returns the scope a request acts for, typically from its
// authentication (a session, an API key). An error answers 401.
type ScopeFunc func(r *http.Request) (analysis.Scope, error)

// Defaults of [Options].
const (
	// DefaultMaxBodyBytes bounds a body other than an ingest one.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultEventInterval is how often an event stream reads the run.
	DefaultEventInterval = time.Second
	// DefaultKeepAlive is how long an event stream stays silent before it
	// sends a comment, so that proxies keep it open.
	DefaultKeepAlive = 15 * time.Second
)

// Options configure [New].
type Options struct {
	// Logger receives the errors answered 500, and nothing else; nil
	// discards them.
	Logger *slog.Logger
	// MaxBodyBytes bounds a request body other than an ingest one (whose
	// bound is the service's [analysis.Service.MaxIngestBytes]); 0 means
	// [DefaultMaxBodyBytes].
	MaxBodyBytes int64
	// EventInterval is how often an event stream reads its run; 0 means
	// [DefaultEventInterval].
	EventInterval time.Duration
	// KeepAlive is the longest an event stream stays silent; 0 means
	// [DefaultKeepAlive].
	KeepAlive time.Duration
	// Now tells the time an event stream measures a run's rate with; nil
	// means time.Now.
	Now func() time.Time
	// Shutdown, when closed, ends every event stream at once, so that a
	// server shutting down is not held by clients following runs (they
	// reconnect to the next one). Pass a channel closed from
	// http.Server.RegisterOnShutdown.
	Shutdown <-chan struct{}
	// Report configures the report pages: prices for the cost, how many
	// items they list, how many runs a trend shows. Links between the
	// pages are relative, unless RunURL and TrendURL are set.
	Report report.Options
}

// New returns the handler of the Analysis API over svc. It answers every
// path under [Prefix]; mount it with mux.Handle(analysishttp.Prefix+"/", h).
func New(svc *analysis.Service, scope ScopeFunc, opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.EventInterval <= 0 {
		opts.EventInterval = DefaultEventInterval
	}
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = DefaultKeepAlive
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	h := &handler{svc: svc, scope: scope, opts: opts}
	mux := http.NewServeMux()
	for _, rt := range h.routes() {
		mux.HandleFunc(rt.method+" "+Prefix+rt.path, rt.fn)
	}
	for p, allow := range allowed(h.routes()) {
		mux.HandleFunc(Prefix+p, methodNotAllowed(allow))
	}
	mux.HandleFunc("/", notFound)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A ServeMux answers an unclean path with a redirect in HTML; this
		// API names each resource by one path only.
		if httppath.Unclean(r.URL.Path) {
			notFound(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// route is one method on one path of the API.
type route struct {
	method, path string
	fn           http.HandlerFunc
}

func (h *handler) routes() []route {
	return []route{
		{"GET", "/definitions", h.listDefinitions},
		{"POST", "/definitions", h.createDefinition},
		{"GET", "/definitions/{id}", h.getDefinition},
		{"PATCH", "/definitions/{id}", h.updateDefinition},
		{"DELETE", "/definitions/{id}", h.deleteDefinition},
		{"POST", "/definitions/{id}/run", h.startRun},
		{"GET", "/definitions/{id}/slots", h.listSlots},
		{"GET", "/conversations", h.listConversations},
		{"POST", "/conversations", h.ingest},
		{"GET", "/conversations/{id}", h.getConversation},
		{"DELETE", "/conversations/{id}", h.deleteConversation},
		{"GET", "/runs", h.listRuns},
		{"GET", "/runs/{id}", h.getRun},
		{"GET", "/runs/{id}/items", h.listItems},
		{"GET", "/runs/{id}/gaps", h.gaps},
		{"POST", "/runs/{id}/cancel", h.cancelRun},
		{"GET", "/runs/{id}/events", h.events},
		{"GET", "/runs/{id}/report", h.runReport},
		{"GET", "/definitions/{id}/report", h.trendReport},
		{"GET", "/alerts", h.listAlertRules},
		{"POST", "/alerts", h.createAlertRule},
		{"GET", "/alerts/{id}", h.getAlertRule},
		{"PUT", "/alerts/{id}", h.updateAlertRule},
		{"DELETE", "/alerts/{id}", h.deleteAlertRule},
		{"GET", "/alerts/{id}/notifications", h.listAlertNotifications},
		{"GET", "/openapi.json", h.openAPI},
	}
}

// allowed maps each path to the methods it has, for 405 answers.
func allowed(routes []route) map[string]string {
	out := map[string]string{}
	for _, rt := range routes {
		if out[rt.path] == "" {
			out[rt.path] = rt.method
		} else {
			out[rt.path] += ", " + rt.method
		}
	}
	return out
}

type handler struct {
	svc   *analysis.Service
	scope ScopeFunc
	opts  Options
}

// Problem is one thing wrong with a request: where, and what.
type Problem struct {
	// Path locates it: a JSON path into the body ("$.fieldSet[0].type"),
	// or the name of a query parameter.
	Path string `json:"path"`
	// Message says what is wrong.
	Message string `json:"message"`
}

// ErrorBody is the body of every error answer.
type ErrorBody struct {
	// Error is the code: invalid_argument, not_found, ...
	Error string `json:"error"`
	// Message says what went wrong, without internal detail.
	Message string `json:"message"`
	// Problems lists what is wrong with a request that is not valid.
	Problems []Problem `json:"problems,omitempty"`
}

// The wrappers of the bodies, as seed 002 names them.
type (
	// DefinitionBody wraps one definition.
	DefinitionBody struct {
		// Definition is the definition.
		Definition analysis.Definition `json:"definition"`
	}
	// DefinitionsBody wraps a list of definitions.
	DefinitionsBody struct {
		// Definitions are the definitions, newest first.
		Definitions []analysis.Definition `json:"definitions"`
	}
	// ConversationBody wraps one conversation.
	ConversationBody struct {
		// Conversation is the conversation.
		Conversation analysis.Conversation `json:"conversation"`
	}
	// KeptBody answers the ingest of one conversation whose externalId was
	// stored: the conversation as stored, and whether it was updated or
	// skipped.
	KeptBody struct {
		// Conversation is the conversation as stored.
		Conversation analysis.Conversation `json:"conversation"`
		// Action is updated or skipped.
		Action analysis.PutAction `json:"action" jsonschema:"enum=updated,enum=skipped"`
	}
	// ConversationsBody wraps a list of conversations.
	ConversationsBody struct {
		// Conversations are the conversations, newest first (in the
		// order given, for an ingest).
		Conversations []analysis.Conversation `json:"conversations"`
		// NextCursor, on a list, asks for the next page; absent on the
		// last one.
		NextCursor string `json:"nextCursor,omitempty"`
	}
	// IngestedBody answers a bulk ingest.
	IngestedBody struct {
		// Conversations are the conversations as stored, in the order
		// given: one whose externalId was stored is that conversation,
		// with its ID, key and creation time.
		Conversations []analysis.Conversation `json:"conversations"`
		// Created counts the conversations stored anew.
		Created int `json:"created"`
		// Updated counts the stored conversations whose content was
		// replaced (onExisting=update).
		Updated int `json:"updated"`
		// Skipped counts the stored conversations left as they were
		// (onExisting=skip).
		Skipped int `json:"skipped"`
	}
	// GapsBody wraps a run's gap table.
	GapsBody struct {
		Gaps analysis.GapTable `json:"gaps"`
	}
	// RunBody wraps one run.
	RunBody struct {
		// Run is the run.
		Run analysis.Run `json:"run"`
	}
	// RunsBody wraps a list of runs, without their items.
	RunsBody struct {
		// Runs are the runs, newest first.
		Runs []RunSummary `json:"runs"`
	}
	// SlotsBody wraps a definition's schedule slots.
	SlotsBody struct {
		// Slots are the slots, latest first.
		Slots []analysis.SlotRecord `json:"slots"`
	}
	// StartRunBody is the body of a run request.
	StartRunBody struct {
		// Selection says which conversations to analyse. Required.
		Selection *analysis.Selection `json:"selection"`
	}
)

// A RunSummary is a run in a list: everything but its items, which are
// read with GET /api/analysis/runs/{id}.
type RunSummary struct {
	analysis.Run
	// Items is left out of a list.
	Items *struct{} `json:"items,omitempty"`
}

// JSONSchemaExtend leaves the items out of a summary's schema.
func (RunSummary) JSONSchemaExtend(s *jsonschema.Schema) {
	s.Properties.Delete("items")
	s.Properties.Delete("itemsCursor")
	s.Required = slices.DeleteFunc(s.Required, func(name string) bool { return name == "items" })
}

// resolve finds the request's scope or answers 401.
func (h *handler) resolve(w http.ResponseWriter, r *http.Request) (analysis.Scope, bool) {
	sc, err := h.scope(r)
	if err == nil {
		err = sc.Validate()
	}
	if err != nil {
		writeError(w, http.StatusUnauthorized, "unauthenticated", "the request is not authenticated", nil)
		return analysis.Scope{}, false
	}
	return sc, true
}

// begin starts a request to a route that takes the query parameters
// named: it resolves the request's scope (401 when there is none), then
// checks its query (see query).
func (h *handler) begin(w http.ResponseWriter, r *http.Request, names ...string) (analysis.Scope, url.Values, bool) {
	sc, ok := h.resolve(w, r)
	if !ok {
		return sc, nil, false
	}
	q, ok := query(w, r, names...)
	return sc, q, ok
}

// query checks the request's query against the parameters a route takes:
// each at most once, none other. It answers 400 and returns false when the
// query breaks that.
func query(w http.ResponseWriter, r *http.Request, names ...string) (url.Values, bool) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	var problems []Problem
	if err != nil {
		problems = append(problems, Problem{Path: "query", Message: "not a valid query string"})
	}
	for key, values := range q {
		known := false
		for _, n := range names {
			known = known || n == key
		}
		switch {
		case !known:
			problems = append(problems, Problem{Path: clip(key), Message: "unknown query parameter"})
		case len(values) > 1:
			problems = append(problems, Problem{Path: key, Message: "given more than once"})
		}
	}
	if len(problems) > 0 {
		sortProblems(problems)
		writeError(w, http.StatusBadRequest, "invalid_argument", "the query is not valid", problems[:min(len(problems), 20)])
		return nil, false
	}
	return q, true
}

// limit reads the limit parameter: absent is 0 (the service's default).
func limit(w http.ResponseWriter, q url.Values) (int, bool) {
	if !q.Has("limit") {
		return 0, true
	}
	n, err := strconv.Atoi(q.Get("limit"))
	if err != nil || n < 1 {
		writeError(w, http.StatusBadRequest, "invalid_argument", "the query is not valid",
			[]Problem{{Path: "limit", Message: "not an integer of at least 1"}})
		return 0, false
	}
	return n, true
}

// readBody reads a request body of at most max bytes, answering 413 for a
// larger one.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, bool) {
	if r.ContentLength > max {
		writeTooLarge(w, max)
		return nil, false
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		writeTooLarge(w, max)
		return nil, false
	case err != nil:
		writeError(w, http.StatusBadRequest, "invalid_argument", "the body could not be read", nil)
		return nil, false
	case len(strings.TrimSpace(string(data))) == 0:
		writeError(w, http.StatusBadRequest, "invalid_argument", "the request is not valid",
			[]Problem{{Path: "$", Message: "the body is empty"}})
		return nil, false
	}
	return data, true
}

func writeTooLarge(w http.ResponseWriter, max int64) {
	writeError(w, http.StatusRequestEntityTooLarge, "payload_too_large",
		fmt.Sprintf("the body is larger than the %d bytes this API takes", max), nil)
}

// decode reads a JSON body into v as the service decodes (exact member
// names, no unknown or repeated members), answering 400 or 413.
func (h *handler) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	data, ok := readBody(w, r, h.opts.MaxBodyBytes)
	if !ok {
		return false
	}
	if err := analysis.DecodeJSON(data, v); err != nil {
		h.fail(w, r, err)
		return false
	}
	return true
}

// queryParams are the parameters a service error about "$.name" means,
// when the request gave it in its query: its problems name the parameter.
var queryParams = map[string]string{"$.cursor": "cursor", "$.limit": "limit"}

// fail answers err with the status and code of its class.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ve *extract.ValidationError
	switch {
	case errors.As(err, &ve):
		problems := make([]Problem, 0, len(ve.Problems))
		for _, p := range ve.Problems {
			if name, ok := queryParams[p.Path]; ok && r.URL.Query().Has(name) {
				p.Path = name
			}
			problems = append(problems, Problem{Path: p.Path, Message: p.Message})
		}
		writeError(w, http.StatusBadRequest, "invalid_argument", "the request is not valid", problems)
	case errors.Is(err, analysis.ErrInvalid):
		writeError(w, http.StatusBadRequest, "invalid_argument", serviceText(err), nil)
	case errors.Is(err, analysis.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", serviceText(err), nil)
	case errors.Is(err, analysis.ErrRunInProgress):
		writeError(w, http.StatusConflict, "run_in_progress", serviceText(err), nil)
	case errors.Is(err, analysis.ErrConflict):
		writeError(w, http.StatusConflict, "conflict", serviceText(err), nil)
	case r.Context().Err() != nil && errors.Is(err, r.Context().Err()):
		// The client went away: nobody reads the answer.
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the request was cancelled", nil)
	default:
		h.opts.Logger.LogAttrs(r.Context(), slog.LevelError, "analysis API request failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("error", err.Error()))
		writeError(w, http.StatusInternalServerError, "internal", "internal error", nil)
	}
}

// serviceText is a service error's own text, which names what it is about
// and never holds a store's or a model's words, without the package prefix.
func serviceText(err error) string {
	return clip(strings.TrimPrefix(err.Error(), "analysis: "))
}

// clip cuts a text an answer echoes to a few hundred bytes.
func clip(s string) string {
	const max = 300
	if len(s) <= max {
		return s
	}
	n := max
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "the method is not allowed on this resource", nil)
	}
}

func notFound(w http.ResponseWriter, _ *http.Request) {
	writeError(w, http.StatusNotFound, "not_found", "no such resource", nil)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"internal","message":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

func writeError(w http.ResponseWriter, status int, code, message string, problems []Problem) {
	writeJSON(w, status, ErrorBody{Error: code, Message: message, Problems: problems})
}

func sortProblems(ps []Problem) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].Path < ps[j-1].Path; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// ctx is the request's context.
func ctx(r *http.Request) context.Context { return r.Context() }
