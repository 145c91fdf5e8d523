package analysishttp

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/debrief-go/debrief/analysis"
)

// The bodies of the alert routes.
type (
	// AlertRuleBody wraps one alert rule.
	AlertRuleBody struct {
		// Rule is the rule, with its state.
		Rule analysis.AlertRule `json:"rule"`
	}
	// AlertRulesBody wraps a list of alert rules.
	AlertRulesBody struct {
		// Rules are the rules, by name.
		Rules []analysis.AlertRule `json:"rules"`
	}
	// AlertNotificationsBody wraps a rule's delivery log.
	AlertNotificationsBody struct {
		// Notifications are the rule's notifications, newest first.
		Notifications []analysis.AlertNotification `json:"notifications"`
	}
)

// ruleETag is the entity tag of a rule's version.
func ruleETag(r analysis.AlertRule) string { return `"v` + strconv.FormatInt(r.Version, 10) + `"` }

func (h *handler) listAlertRules(w http.ResponseWriter, r *http.Request) {
	sc, q, ok := h.begin(w, r, "limit")
	if !ok {
		return
	}
	n, ok := limit(w, q)
	if !ok {
		return
	}
	rules, err := h.svc.ListAlertRules(ctx(r), sc, n)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, AlertRulesBody{Rules: rules})
}

// readRule reads a rule's body.
func (h *handler) readRule(w http.ResponseWriter, r *http.Request) (analysis.AlertRuleInput, bool) {
	data, ok := readBody(w, r, h.opts.MaxBodyBytes)
	if !ok {
		return analysis.AlertRuleInput{}, false
	}
	var in analysis.AlertRuleInput
	if err := analysis.DecodeJSON(data, &in); err != nil {
		h.fail(w, r, err)
		return analysis.AlertRuleInput{}, false
	}
	return in, true
}

func (h *handler) createAlertRule(w http.ResponseWriter, r *http.Request) {
	sc, _, ok := h.begin(w, r)
	if !ok {
		return
	}
	in, ok := h.readRule(w, r)
	if !ok {
		return
	}
	rule, err := h.svc.CreateAlertRule(ctx(r), sc, in)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Location", Prefix+"/alerts/"+rule.ID)
	w.Header().Set("ETag", ruleETag(rule))
	writeJSON(w, http.StatusCreated, AlertRuleBody{Rule: rule})
}

func (h *handler) getAlertRule(w http.ResponseWriter, r *http.Request) {
	sc, _, ok := h.begin(w, r)
	if !ok {
		return
	}
	rule, err := h.svc.GetAlertRule(ctx(r), sc, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("ETag", ruleETag(rule))
	writeJSON(w, http.StatusOK, AlertRuleBody{Rule: rule})
}

func (h *handler) updateAlertRule(w http.ResponseWriter, r *http.Request) {
	sc, _, ok := h.begin(w, r)
	if !ok {
		return
	}
	in, ok := h.readRule(w, r)
	if !ok {
		return
	}
	current, err := h.svc.GetAlertRule(ctx(r), sc, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var version int64
	if im := r.Header.Get("If-Match"); im != "" && im != "*" {
		if !matches(im, ruleETag(current), false) {
			w.Header().Set("ETag", ruleETag(current))
			writeError(w, http.StatusPreconditionFailed, "precondition_failed",
				"the rule is at version "+strconv.FormatInt(current.Version, 10)+", not the one If-Match names", nil)
			return
		}
		version = current.Version
	}
	rule, err := h.svc.UpdateAlertRule(ctx(r), sc, current.ID, in, version)
	if errors.Is(err, analysis.ErrConflict) && version > 0 {
		// A conflict is the version's only when the rule moved on; at the
		// same version it is the name, another rule's (409 below).
		if now, gerr := h.svc.GetAlertRule(ctx(r), sc, current.ID); gerr == nil && now.Version != version {
			writeError(w, http.StatusPreconditionFailed, "precondition_failed", "the rule changed meanwhile: read it again", nil)
			return
		}
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("ETag", ruleETag(rule))
	writeJSON(w, http.StatusOK, AlertRuleBody{Rule: rule})
}

func (h *handler) deleteAlertRule(w http.ResponseWriter, r *http.Request) {
	sc, _, ok := h.begin(w, r)
	if !ok {
		return
	}
	if err := h.svc.DeleteAlertRule(ctx(r), sc, r.PathValue("id")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) listAlertNotifications(w http.ResponseWriter, r *http.Request) {
	sc, q, ok := h.begin(w, r, "limit")
	if !ok {
		return
	}
	n, ok := limit(w, q)
	if !ok {
		return
	}
	log, err := h.svc.ListAlertNotifications(ctx(r), sc, r.PathValue("id"), n)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, AlertNotificationsBody{Notifications: log})
}
