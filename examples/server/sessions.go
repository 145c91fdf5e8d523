package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/session"
)

// ingestSessions serves
//
//	POST /api/analysis/sessions/{session_id}/ingest
//	POST /api/analysis/sessions/ingest
//
// which assemble the served sessions (-sessions) of the caller's
// organisation — one, or all of them — convert each into a conversation
// with its evidence (analysis.ConversationFromSession) and ingest it into
// the caller's scope of the Analysis API, redacted as every ingest is.
// Ingesting a session again updates its conversation, or leaves it with
// ?onExisting=skip. One session answers 201 {"conversation", "action"}
// when created, 200 otherwise; all answer 200 with the counts, ingested in
// batches of analysis.DefaultMaxIngest. A session the service refuses
// answers 400, a conflict 409.
func (a *app) ingestSessions(cfg config, src sessionSource) http.Handler {
	mux := http.NewServeMux()
	scopeOf := func(w http.ResponseWriter, r *http.Request) (analysis.Scope, string, analysis.IngestOptions, bool) {
		ts, ok := cfg.keys[r.Header.Get("x-api-key")]
		if !ok {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized", "message": "a valid x-api-key header is required"})
			return analysis.Scope{}, "", analysis.IngestOptions{}, false
		}
		opts := analysis.IngestOptions{OnExisting: analysis.OnExisting(r.URL.Query().Get("onExisting"))}
		switch opts.OnExisting {
		case "", analysis.UpdateExisting, analysis.SkipExisting:
		default:
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "message": "onExisting: use update or skip"})
			return analysis.Scope{}, "", analysis.IngestOptions{}, false
		}
		return analysis.Scope{Tenant: ts.tenant, Project: ts.project}, tenantID(ts.tenant), opts, true
	}
	assembler := &session.Assembler{Logger: a.log}
	mux.HandleFunc("POST /api/analysis/sessions/{session_id}/ingest", func(w http.ResponseWriter, r *http.Request) {
		scope, org, opts, ok := scopeOf(w, r)
		if !ok {
			return
		}
		in, err := assembler.Load(r.Context(), src, org, r.PathValue("session_id"))
		switch {
		case errors.Is(err, session.ErrNotFound):
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "message": "no such session"})
			return
		case errors.Is(err, session.ErrNotTerminal):
			writeJSON(w, http.StatusConflict, map[string]string{"error": "session_not_terminal", "message": "the session has not ended"})
			return
		case err != nil:
			a.serverError(w, r, err)
			return
		}
		conv, err := analysis.ConversationFromSession(in)
		if err != nil {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": "invalid_session", "message": err.Error()})
			return
		}
		res, err := a.analysis.IngestConversationsWith(r.Context(), scope, []analysis.ConversationInput{conv}, opts)
		if err != nil {
			a.ingestError(w, r, err)
			return
		}
		status := http.StatusOK
		if res.Actions[0] == analysis.PutCreated {
			status = http.StatusCreated
		}
		writeJSON(w, status, map[string]any{"conversation": res.Conversations[0], "action": res.Actions[0]})
	})
	mux.HandleFunc("POST /api/analysis/sessions/ingest", func(w http.ResponseWriter, r *http.Request) {
		scope, org, opts, ok := scopeOf(w, r)
		if !ok {
			return
		}
		var ids []string
		for k := range src {
			if k[0] == strings.ToLower(org) {
				ids = append(ids, k[1])
			}
		}
		sort.Strings(ids)
		var convs []analysis.ConversationInput
		notEnded := 0
		for _, id := range ids {
			in, err := assembler.Load(r.Context(), src, org, id)
			if errors.Is(err, session.ErrNotTerminal) {
				notEnded++
				continue
			}
			if err != nil {
				a.serverError(w, r, err)
				return
			}
			conv, err := analysis.ConversationFromSession(in)
			if err != nil {
				writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": "invalid_session", "message": fmt.Sprintf("session %s: %v", id, err)})
				return
			}
			convs = append(convs, conv)
		}
		// In batches an ingest takes; a batch that fails leaves the ones
		// before it stored, and ingesting again takes up where it stopped.
		created, updated, skipped := 0, 0, 0
		for len(convs) > 0 {
			batch := convs[:min(len(convs), analysis.DefaultMaxIngest)]
			convs = convs[len(batch):]
			res, err := a.analysis.IngestConversationsWith(r.Context(), scope, batch, opts)
			if err != nil {
				a.ingestError(w, r, err)
				return
			}
			created, updated, skipped = created+res.Created, updated+res.Updated, skipped+res.Skipped
		}
		writeJSON(w, http.StatusOK, map[string]any{"created": created, "updated": updated, "skipped": skipped, "notEnded": notEnded})
	})
	return mux
}

// ingestError answers an ingest's failure: 400 for a conversation the
// service refused (with its problems' paths), 409 for a conflict, and 500
// for anything else.
func (a *app) ingestError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, analysis.ErrInvalid):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_argument", "message": err.Error()})
	case errors.Is(err, analysis.ErrConflict):
		writeJSON(w, http.StatusConflict, map[string]string{"error": "conflict", "message": err.Error()})
	default:
		a.serverError(w, r, err)
	}
}

// serverError logs err and answers 500 without its text.
func (a *app) serverError(w http.ResponseWriter, r *http.Request, err error) {
	a.log.ErrorContext(r.Context(), "ingesting sessions failed", "path", r.URL.Path, "error", err)
	writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal", "message": "the sessions could not be ingested"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
