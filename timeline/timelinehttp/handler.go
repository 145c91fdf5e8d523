// Package timelinehttp serves the timeline analyses of package timeline
// over HTTP:
//
//	POST /timeline-analyses       start (or get) the analysis of an ended flow
//	GET  /timeline-analyses       list analyses, newest first, paginated
//	GET  /timeline-analyses/{id}  get one analysis
//
// Every request is scoped to the customer the host's [CustomerFunc]
// resolves from it. Bodies are JSON: an analysis record as package timeline
// defines it, a list {"result": [...], "next_page_token": "..."}, or an
// error {"error": code, "message": text} where code is one of
// invalid_argument, unauthenticated, not_found, flow_not_ended, cooldown,
// busy, unavailable, method_not_allowed and internal, and message is a
// fixed text (or, for invalid_argument, the problems of the request) — no
// internal error text ever reaches a response.
package timelinehttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/debrief-go/debrief/internal/httppath"
	"github.com/debrief-go/debrief/internal/jsoncheck"
	"github.com/debrief-go/debrief/internal/schemaval"
	"github.com/debrief-go/debrief/timeline"
)

// Service is what the handlers need of a [timeline.Service].
type Service interface {
	Create(ctx context.Context, customerID, flowID string, opts timeline.CreateOptions) (timeline.Analysis, bool, error)
	Get(ctx context.Context, customerID, id string) (timeline.Analysis, error)
	List(ctx context.Context, customerID string, filter timeline.ListFilter, page timeline.PageRequest) (timeline.Page, error)
}

// A CustomerFunc returns the id (a UUID) of the customer a request acts
// for, typically from its authentication. An error, or an id that is not a
// UUID, answers 401 Unauthorized.
type CustomerFunc func(r *http.Request) (string, error)

// Options configure [New].
type Options struct {
	// Logger receives the errors the handlers answer 500 for; nil discards
	// them.
	Logger *slog.Logger
}

// maxBodyBytes bounds a request body.
const maxBodyBytes = 64 << 10

// New returns the handler of the /timeline-analyses routes. Mount it at
// the root of a mux (or behind http.StripPrefix).
//
// POST /timeline-analyses takes {"activeflow_id": UUID, "reanalyze": bool}
// (reanalyze optional; unknown fields refused) and answers 202 Accepted
// with the new progressing analysis, or 200 OK with the analysis that
// stands for the flow (the one in flight, or the latest finished one when
// no re-analysis was asked for). A bad body or id answers 400; a flow that
// does not exist or belongs to another customer 404; a flow that has not
// ended 409; a re-analysis within the cooldown 429 with Retry-After; a
// full queue or a closed service 503.
//
// GET /timeline-analyses takes activeflow_id (optional filter), page_size
// (1 to timeline.MaxPageSize, default timeline.DefaultPageSize) and
// page_token (the next_page_token of the previous page).
//
// GET /timeline-analyses/{id} answers the analysis, or 404 when it does not
// exist or belongs to another customer.
//
// Ids — the customer's, the flow's, the analysis's — are UUIDs in either
// case; the handlers lower-case them, so that both cases name one object.
// An error of the host's Source (a [timeline.SourceError], a flow header
// that breaks the rules included) answers 500.
func New(svc Service, customer CustomerFunc, opts Options) http.Handler {
	h := &handler{svc: svc, customer: customer, log: opts.Logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /timeline-analyses", h.create)
	mux.HandleFunc("GET /timeline-analyses", h.list)
	mux.HandleFunc("GET /timeline-analyses/{id}", h.get)
	mux.HandleFunc("/timeline-analyses", h.methodNotAllowed("GET, POST"))
	mux.HandleFunc("/timeline-analyses/{id}", h.methodNotAllowed("GET"))
	mux.HandleFunc("/", notFound)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A ServeMux answers an unclean path ("//timeline-analyses",
		// "/./timeline-analyses", "/x/../timeline-analyses") with a redirect
		// in HTML; this API names each resource by one path only.
		if httppath.Unclean(r.URL.Path) {
			notFound(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// notFound answers 404 in JSON.
func notFound(w http.ResponseWriter, _ *http.Request) {
	writeError(w, http.StatusNotFound, "not_found", "no such resource", nil)
}

type handler struct {
	svc      Service
	customer CustomerFunc
	log      *slog.Logger
}

// errorBody is the body of every error answer.
type errorBody struct {
	Error    string             `json:"error"`
	Message  string             `json:"message"`
	Problems []timeline.Problem `json:"problems,omitempty"`
}

// listBody is the body of a list answer.
type listBody struct {
	Result        []timeline.Analysis `json:"result"`
	NextPageToken string              `json:"next_page_token"`
}

// createBody is the body of a create request.
type createBody struct {
	ActiveflowID string `json:"activeflow_id"`
	Reanalyze    bool   `json:"reanalyze"`
}

func (h *handler) create(w http.ResponseWriter, r *http.Request) {
	customer, ok := h.resolve(w, r)
	if !ok {
		return
	}
	var body createBody
	if problems := decodeBody(w, r, &body, "activeflow_id", "reanalyze"); problems != nil {
		writeError(w, http.StatusBadRequest, "invalid_argument", "the request body is not valid", problems)
		return
	}
	if body.ActiveflowID == "" {
		writeError(w, http.StatusBadRequest, "invalid_argument", "the request body is not valid",
			[]timeline.Problem{{Path: "$.activeflow_id", Message: "missing"}})
		return
	}
	a, started, err := h.svc.Create(r.Context(), customer, strings.ToLower(body.ActiveflowID), timeline.CreateOptions{Reanalyze: body.Reanalyze})
	if err != nil {
		h.fail(w, r, err, true)
		return
	}
	status := http.StatusOK
	if started {
		status = http.StatusAccepted
	}
	writeJSON(w, status, a)
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	customer, ok := h.resolve(w, r)
	if !ok {
		return
	}
	id := strings.ToLower(r.PathValue("id"))
	if !timeline.ValidUUID(id) {
		writeError(w, http.StatusBadRequest, "invalid_argument", "the analysis id is not valid",
			[]timeline.Problem{{Path: "id", Message: "not a UUID"}})
		return
	}
	a, err := h.svc.Get(r.Context(), customer, id)
	if err != nil {
		h.fail(w, r, err, false)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	customer, ok := h.resolve(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	var problems []timeline.Problem
	for key, values := range q {
		switch key {
		case "activeflow_id", "page_size", "page_token":
			if len(values) > 1 {
				problems = append(problems, timeline.Problem{Path: key, Message: "given more than once"})
			}
		default:
			problems = append(problems, timeline.Problem{Path: key, Message: "unknown query parameter"})
		}
	}
	filter := timeline.ListFilter{ActiveflowID: strings.ToLower(q.Get("activeflow_id"))}
	if q.Has("activeflow_id") && !timeline.ValidUUID(filter.ActiveflowID) {
		problems = append(problems, timeline.Problem{Path: "activeflow_id", Message: "not a UUID"})
	}
	page := timeline.PageRequest{Token: q.Get("page_token")}
	if v := q.Get("page_size"); q.Has("page_size") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > timeline.MaxPageSize {
			problems = append(problems, timeline.Problem{Path: "page_size",
				Message: "not an integer from 1 to " + strconv.Itoa(timeline.MaxPageSize)})
		}
		page.Size = n
	}
	if problems != nil {
		writeError(w, http.StatusBadRequest, "invalid_argument", "the query is not valid", problems)
		return
	}
	p, err := h.svc.List(r.Context(), customer, filter, page)
	if err != nil {
		h.fail(w, r, err, false)
		return
	}
	items := p.Items
	if items == nil {
		items = []timeline.Analysis{}
	}
	writeJSON(w, http.StatusOK, listBody{Result: items, NextPageToken: p.NextToken})
}

func (h *handler) methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "the method is not allowed on this resource", nil)
	}
}

// resolve finds the request's customer or answers 401.
func (h *handler) resolve(w http.ResponseWriter, r *http.Request) (string, bool) {
	customer, err := h.customer(r)
	if err != nil || !timeline.ValidUUID(customer) {
		writeError(w, http.StatusUnauthorized, "unauthenticated", "the request is not authenticated", nil)
		return "", false
	}
	return strings.ToLower(customer), true
}

// fail answers err with a fixed message per class. The paths of a
// validation error stay JSON paths into the body when inBody, and become
// parameter names otherwise.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error, inBody bool) {
	var ve *timeline.ValidationError
	var ce *timeline.CooldownError
	var se *timeline.SourceError
	switch {
	case errors.As(err, &se): // the host's fault, whatever it wraps
		h.internal(w, r, err)
	case errors.As(err, &ve):
		problems := make([]timeline.Problem, len(ve.Problems))
		for i, p := range ve.Problems {
			if !inBody {
				p.Path = strings.TrimPrefix(p.Path, "$.")
			}
			problems[i] = p
		}
		writeError(w, http.StatusBadRequest, "invalid_argument", "the request is not valid", problems)
	case errors.Is(err, timeline.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "not found", nil)
	case errors.Is(err, timeline.ErrNotEnded):
		writeError(w, http.StatusConflict, "flow_not_ended", "the flow has not ended yet", nil)
	case errors.As(err, &ce):
		secs := int64(math.Ceil(ce.RetryAfter.Seconds()))
		w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
		writeError(w, http.StatusTooManyRequests, "cooldown", "the flow was analysed recently; retry later", nil)
	case errors.Is(err, timeline.ErrBusy):
		writeError(w, http.StatusServiceUnavailable, "busy", "too many analyses are waiting; retry later", nil)
	case errors.Is(err, timeline.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the service is shutting down", nil)
	default:
		h.internal(w, r, err)
	}
}

// internal logs err for the host and answers 500 with a fixed message.
func (h *handler) internal(w http.ResponseWriter, r *http.Request, err error) {
	h.log.LogAttrs(r.Context(), slog.LevelError, "timeline-analyses request failed",
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	writeError(w, http.StatusInternalServerError, "internal", "internal error", nil)
}

// decodeBody reads one JSON object into v, refusing trailing data, bodies
// over maxBodyBytes, a member given twice, text that is not UTF-8, and
// members not named exactly as one of members (encoding/json alone would
// take "ACTIVEFLOW_ID" for "activeflow_id").
func decodeBody(w http.ResponseWriter, r *http.Request, v any, members ...string) []timeline.Problem {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		return []timeline.Problem{describe(err)}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return []timeline.Problem{describe(err)}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return []timeline.Problem{{Path: "$", Message: "a single JSON object is expected"}}
	}
	if bad := jsoncheck.Check(data, "$"); bad != nil {
		return []timeline.Problem{{Path: bad.Path, Message: bad.Message}}
	}
	var got map[string]json.RawMessage
	_ = json.Unmarshal(data, &got) // an object: Decode said so
	var problems []timeline.Problem
	for name := range got {
		if slices.Contains(members, name) {
			continue
		}
		msg := "unknown field"
		for _, m := range members {
			if strings.EqualFold(m, name) {
				msg = "unknown field (names are case-sensitive: " + strconv.Quote(m) + ")"
			}
		}
		problems = append(problems, timeline.Problem{Path: "$" + schemaval.Key(name), Message: msg})
	}
	slices.SortFunc(problems, func(a, b timeline.Problem) int { return strings.Compare(a.Path, b.Path) })
	return problems
}

func describe(err error) timeline.Problem {
	var syn *json.SyntaxError
	var te *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		return timeline.Problem{Path: "$", Message: "the body is empty"}
	case errors.As(err, &mbe):
		return timeline.Problem{Path: "$", Message: "the body is larger than " + strconv.Itoa(maxBodyBytes) + " bytes"}
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF):
		return timeline.Problem{Path: "$", Message: "not valid JSON"}
	case errors.As(err, &te):
		if te.Field == "" {
			return timeline.Problem{Path: "$", Message: "a JSON object is expected"}
		}
		return timeline.Problem{Path: "$." + te.Field, Message: "wrong type: a JSON " + te.Value + " is not allowed here"}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if unq, uerr := strconv.Unquote(name); uerr == nil {
			return timeline.Problem{Path: "$." + unq, Message: "unknown field"}
		}
	}
	return timeline.Problem{Path: "$", Message: "not a valid request body"}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"internal","message":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

func writeError(w http.ResponseWriter, status int, code, message string, problems []timeline.Problem) {
	writeJSON(w, status, errorBody{Error: code, Message: message, Problems: problems})
}
