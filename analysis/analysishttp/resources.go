package analysishttp

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/debrief-go/debrief/analysis"
)

// ETag returns a definition's entity tag: its version, quoted.
func ETag(d analysis.Definition) string { return `"v` + strconv.FormatInt(d.Version, 10) + `"` }

// matches reports whether an If-Match (or If-None-Match) header value
// names etag: "*", or a list of entity tags one of which is etag. Weak
// tags match with weak set (If-None-Match compares weakly, If-Match
// strongly).
func matches(header, etag string, weak bool) bool {
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimSpace(tag)
		if weak {
			tag = strings.TrimPrefix(tag, "W/")
		}
		if tag == "*" || tag == etag {
			return true
		}
	}
	return false
}

func (h *handler) listDefinitions(w http.ResponseWriter, r *http.Request) {
	sc, q, ok := h.begin(w, r, "search", "limit")
	if !ok {
		return
	}
	n, ok := limit(w, q)
	if !ok {
		return
	}
	ds, err := h.svc.ListDefinitions(ctx(r), sc, q.Get("search"), n)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, DefinitionsBody{Definitions: orEmpty(ds)})
}

func (h *handler) createDefinition(w http.ResponseWriter, r *http.Request) {
	sc, _, ok := h.begin(w, r)
	if !ok {
		return
	}
	data, ok := readBody(w, r, h.opts.MaxBodyBytes)
	if !ok {
		return
	}
	var in analysis.DefinitionInput
	if err := analysis.DecodeJSON(data, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	if problems := unsaid(data); len(problems) > 0 {
		writeError(w, http.StatusBadRequest, "invalid_argument", "the request is not valid", problems)
		return
	}
	d, err := h.svc.CreateDefinition(ctx(r), sc, in)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Location", Prefix+"/definitions/"+d.ID)
	w.Header().Set("ETag", ETag(d))
	writeJSON(w, http.StatusCreated, DefinitionBody{Definition: d})
}

// unsaid lists what a definition body must say and does not, beyond what
// the service checks (a Go caller's zero values are explicit, a JSON
// body's missing members are not): the modes, {} for extraction alone; and
// of a schedule, whether it is enabled.
func unsaid(data []byte) []Problem {
	var body struct {
		Modes    json.RawMessage `json:"modes"`
		Schedule *struct {
			Enabled json.RawMessage `json:"enabled"`
		} `json:"schedule"`
	}
	_ = json.Unmarshal(data, &body) // decoded strictly already
	var problems []Problem
	if len(body.Modes) == 0 || string(body.Modes) == "null" {
		problems = append(problems, Problem{Path: "$.modes", Message: `the modes are missing: {} extracts only; add "store", "accuracy" or "judge"`})
	}
	if body.Schedule != nil && (len(body.Schedule.Enabled) == 0 || string(body.Schedule.Enabled) == "null") {
		problems = append(problems, Problem{Path: "$.schedule.enabled", Message: "say whether the schedule is enabled: true or false"})
	}
	return problems
}

func (h *handler) getDefinition(w http.ResponseWriter, r *http.Request) {
	sc, _, ok := h.begin(w, r)
	if !ok {
		return
	}
	d, err := h.svc.GetDefinition(ctx(r), sc, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("ETag", ETag(d))
	if inm := r.Header.Get("If-None-Match"); inm != "" && matches(inm, ETag(d), true) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeJSON(w, http.StatusOK, DefinitionBody{Definition: d})
}

// precondition reads If-Match against the definition's current version:
// it returns the version to update at (0 for an unconditional update) and
// false, having answered, when the header names another version.
func (h *handler) precondition(w http.ResponseWriter, r *http.Request, sc analysis.Scope) (analysis.Definition, int64, bool) {
	d, err := h.svc.GetDefinition(ctx(r), sc, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return d, 0, false
	}
	im := r.Header.Get("If-Match")
	switch {
	case im == "":
		return d, 0, true
	case !matches(im, ETag(d), false):
		w.Header().Set("ETag", ETag(d))
		writeError(w, http.StatusPreconditionFailed, "precondition_failed",
			"the definition is at version "+strconv.FormatInt(d.Version, 10)+", not the one If-Match names", nil)
		return d, 0, false
	case strings.TrimSpace(im) == "*":
		return d, 0, true
	}
	return d, d.Version, true
}

func (h *handler) updateDefinition(w http.ResponseWriter, r *http.Request) {
	sc, _, ok := h.begin(w, r)
	if !ok {
		return
	}
	patch, ok := readBody(w, r, h.opts.MaxBodyBytes)
	if !ok {
		return
	}
	current, version, ok := h.precondition(w, r, sc)
	if !ok {
		return
	}
	var d analysis.Definition
	var err error
	if version > 0 {
		d, err = h.svc.UpdateDefinitionAt(ctx(r), sc, current.ID, version, patch)
		if errors.Is(err, analysis.ErrConflict) {
			writeError(w, http.StatusPreconditionFailed, "precondition_failed", "the definition changed meanwhile: read it again", nil)
			return
		}
	} else {
		d, err = h.svc.UpdateDefinition(ctx(r), sc, current.ID, patch)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("ETag", ETag(d))
	writeJSON(w, http.StatusOK, DefinitionBody{Definition: d})
}

func (h *handler) deleteDefinition(w http.ResponseWriter, r *http.Request) {
	sc, _, ok := h.begin(w, r)
	if !ok {
		return
	}
	current, version, ok := h.precondition(w, r, sc)
	if !ok {
		return
	}
	var err error
	if version > 0 {
		// The check and the delete are one step in the store: an update
		// landing in between fails the delete.
		err = h.svc.DeleteDefinitionAt(ctx(r), sc, current.ID, version)
		if errors.Is(err, analysis.ErrConflict) {
			writeError(w, http.StatusPreconditionFailed, "precondition_failed", "the definition changed meanwhile: read it again", nil)
			return
		}
	} else {
		err = h.svc.DeleteDefinition(ctx(r), sc, current.ID)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) startRun(w http.ResponseWriter, r *http.Request) {
	sc, _, ok := h.begin(w, r)
	if !ok {
		return
	}
	var body StartRunBody
	if !h.decode(w, r, &body) {
		return
	}
	if body.Selection == nil {
		writeError(w, http.StatusBadRequest, "invalid_argument", "the request is not valid",
			[]Problem{{Path: "$.selection", Message: "the selection is missing"}})
		return
	}
	run, err := h.svc.StartRun(ctx(r), sc, r.PathValue("id"), *body.Selection)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Location", Prefix+"/runs/"+run.ID)
	writeJSON(w, http.StatusAccepted, RunBody{Run: run})
}

func (h *handler) listSlots(w http.ResponseWriter, r *http.Request) {
	sc, q, ok := h.begin(w, r, "limit")
	if !ok {
		return
	}
	n, ok := limit(w, q)
	if !ok {
		return
	}
	d, err := h.svc.GetDefinition(ctx(r), sc, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	slots, err := h.svc.ListSlots(ctx(r), sc, d.Key, n)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, SlotsBody{Slots: orEmpty(slots)})
}

func (h *handler) listConversations(w http.ResponseWriter, r *http.Request) {
	sc, q, ok := h.begin(w, r, "search", "tag", "limit", "cursor")
	if !ok {
		return
	}
	n, ok := limit(w, q)
	if !ok {
		return
	}
	page, err := h.svc.ListConversationsPage(ctx(r), sc,
		analysis.ConversationFilter{Search: q.Get("search"), Tag: q.Get("tag"), Limit: n}, q.Get("cursor"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ConversationsBody{Conversations: orEmpty(page.Conversations), NextCursor: page.NextCursor})
}

func (h *handler) ingest(w http.ResponseWriter, r *http.Request) {
	sc, q, ok := h.begin(w, r, "onExisting")
	if !ok {
		return
	}
	mode := analysis.UpdateExisting
	if q.Has("onExisting") {
		switch v := analysis.OnExisting(q.Get("onExisting")); v {
		case analysis.UpdateExisting, analysis.SkipExisting:
			mode = v
		default:
			writeError(w, http.StatusBadRequest, "invalid_argument", "the query is not valid",
				[]Problem{{Path: "onExisting", Message: "not update or skip"}})
			return
		}
	}
	body, ok := readBody(w, r, int64(h.svc.MaxIngestBytes()))
	if !ok {
		return
	}
	res, err := h.svc.IngestWith(ctx(r), sc, body, analysis.IngestOptions{OnExisting: mode})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if res.Bulk {
		writeJSON(w, http.StatusCreated, IngestedBody{Conversations: res.Conversations,
			Created: res.Created, Updated: res.Updated, Skipped: res.Skipped})
		return
	}
	if res.Created == 0 { // updated or skipped: it was there
		writeJSON(w, http.StatusOK, KeptBody{Conversation: res.Conversations[0], Action: res.Actions[0]})
		return
	}
	w.Header().Set("Location", Prefix+"/conversations/"+res.Conversations[0].ID)
	writeJSON(w, http.StatusCreated, ConversationBody{Conversation: res.Conversations[0]})
}

func (h *handler) getConversation(w http.ResponseWriter, r *http.Request) {
	sc, _, ok := h.begin(w, r)
	if !ok {
		return
	}
	c, err := h.svc.GetConversation(ctx(r), sc, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ConversationBody{Conversation: c})
}

func (h *handler) deleteConversation(w http.ResponseWriter, r *http.Request) {
	sc, _, ok := h.begin(w, r)
	if !ok {
		return
	}
	if err := h.svc.DeleteConversation(ctx(r), sc, r.PathValue("id")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) listRuns(w http.ResponseWriter, r *http.Request) {
	sc, q, ok := h.begin(w, r, "definitionKey", "limit")
	if !ok {
		return
	}
	n, ok := limit(w, q)
	if !ok {
		return
	}
	runs, err := h.svc.ListRuns(ctx(r), sc, q.Get("definitionKey"), n)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]RunSummary, len(runs))
	for i, run := range runs {
		out[i] = RunSummary{Run: run}
	}
	writeJSON(w, http.StatusOK, RunsBody{Runs: out})
}

func (h *handler) getRun(w http.ResponseWriter, r *http.Request) {
	sc, _, ok := h.begin(w, r)
	if !ok {
		return
	}
	run, err := h.svc.GetRun(ctx(r), sc, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, RunBody{Run: run})
}

func (h *handler) listItems(w http.ResponseWriter, r *http.Request) {
	sc, q, ok := h.begin(w, r, "cursor", "limit")
	if !ok {
		return
	}
	n, ok := limit(w, q)
	if !ok {
		return
	}
	page, err := h.svc.ListRunItems(ctx(r), sc, r.PathValue("id"), q.Get("cursor"), n)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (h *handler) gaps(w http.ResponseWriter, r *http.Request) {
	sc, _, ok := h.begin(w, r)
	if !ok {
		return
	}
	tab, err := h.svc.GapTable(ctx(r), sc, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, GapsBody{Gaps: tab})
}

func (h *handler) cancelRun(w http.ResponseWriter, r *http.Request) {
	sc, _, ok := h.begin(w, r)
	if !ok {
		return
	}
	run, err := h.svc.CancelRun(ctx(r), sc, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, RunBody{Run: run})
}

// orEmpty returns s, or an empty slice for nil, so that a list is [].
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
