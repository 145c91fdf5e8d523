package timeline

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/debrief-go/debrief/llm"
)

// The default staging thresholds of an [Analyzer].
const (
	// DefaultStagedFromEvents: flows with this many analysed events or more
	// are analysed in three stages.
	DefaultStagedFromEvents = 50
	// DefaultStagedFromBytes: flows whose rendered events reach this many
	// bytes are analysed in three stages.
	DefaultStagedFromBytes = 24 * 1024
)

// AnalyzerConfig configures an [Analyzer].
type AnalyzerConfig struct {
	// Model answers the prompts. Required.
	Model llm.Model
	// ModelKey is sent as [llm.Request.Model] (the diagnosis stage and the
	// single call).
	ModelKey string
	// InventoryModelKey, when set, is sent instead of ModelKey in stage 1,
	// the inventory (a cheaper model, say).
	InventoryModelKey string
	// ContentModelKey, when set, is sent instead of ModelKey in stage 2, the
	// content summary.
	ContentModelKey string
	// Limits bound the events the model receives (see [Prepare]).
	Limits Limits
	// StagedFromEvents: a flow with at least this many analysed events is
	// analysed in stages; 0 means [DefaultStagedFromEvents], a negative
	// value disables this criterion.
	StagedFromEvents int
	// StagedFromBytes: a flow whose rendered events reach this many bytes is
	// analysed in stages; 0 means [DefaultStagedFromBytes], a negative value
	// disables this criterion.
	StagedFromBytes int
	// MaxAttempts bounds the answers asked for per call, repairs included
	// (see [llm.WithMaxAttempts]); 0 means [llm.DefaultMaxAttempts].
	MaxAttempts int
	// MaxOutputTokens bounds each answer; 0 leaves the provider's default.
	MaxOutputTokens int
	// Temperature is the sampling temperature; nil means 0.
	Temperature *float64
}

// An Analyzer runs the analysis pipeline of one flow: [Prepare], then the
// model-written parts, validated against the frozen event list. It is safe
// for concurrent use.
type Analyzer struct {
	cfg AnalyzerConfig
}

// NewAnalyzer validates cfg and returns its analyzer. A missing model or a
// negative limit is a [*ValidationError].
func NewAnalyzer(cfg AnalyzerConfig) (*Analyzer, error) {
	var v validator
	if cfg.Model == nil {
		v.add("$.model", "the model is missing")
	}
	cfg.Limits.validate(&v, "$.limits")
	if cfg.MaxAttempts < 0 {
		v.add("$.max_attempts", fmt.Sprintf("%d is negative", cfg.MaxAttempts))
	}
	if cfg.MaxOutputTokens < 0 {
		v.add("$.max_output_tokens", fmt.Sprintf("%d is negative", cfg.MaxOutputTokens))
	}
	if t := cfg.Temperature; t != nil && (*t < 0 || *t > 2) {
		v.add("$.temperature", fmt.Sprintf("%v is outside [0, 2]", *t))
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	if cfg.StagedFromEvents == 0 {
		cfg.StagedFromEvents = DefaultStagedFromEvents
	}
	if cfg.StagedFromBytes == 0 {
		cfg.StagedFromBytes = DefaultStagedFromBytes
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = llm.DefaultMaxAttempts
	}
	if cfg.InventoryModelKey == "" {
		cfg.InventoryModelKey = cfg.ModelKey
	}
	if cfg.ContentModelKey == "" {
		cfg.ContentModelKey = cfg.ModelKey
	}
	return &Analyzer{cfg: cfg}, nil
}

// A Report is what an analysis produced: the verdict and how it was made.
type Report struct {
	// Verdict is the result (version 3).
	Verdict Verdict
	// Staged reports that the flow was analysed in three stages.
	Staged bool
	// Calls counts the model calls made, repairs included.
	Calls int
	// Usage sums their tokens.
	Usage llm.Usage
	// Model names the model that answered last, as the provider reported it.
	Model string
	// TotalEvents counts the events received; Duplicates those removed;
	// AnalysedEvents those the model saw (the frozen list).
	TotalEvents, Duplicates, AnalysedEvents int
	// EvidenceDropped counts the evidence indexes the model cited that were
	// out of range or repeated within an issue; they were dropped.
	EvidenceDropped int
	// IssuesDropped counts the issues dropped for having no valid evidence
	// left in a verdict that is not ok.
	IssuesDropped int
	// OutlineDropped counts the stage-1 outline entries dropped for citing
	// an index out of range or already cited.
	OutlineDropped int
	// InteractionsDropped counts the interactions dropped for an empty
	// summary.
	InteractionsDropped int
}

// Analyze runs the whole pipeline over flow and its events: [Prepare]
// (whose errors it returns as they are), then [Analyzer.AnalyzePrepared].
func (a *Analyzer) Analyze(ctx context.Context, flow Flow, events []Event) (Report, error) {
	p, err := Prepare(flow, events, a.cfg.Limits)
	if err != nil {
		return Report{}, err
	}
	return a.AnalyzePrepared(ctx, p)
}

// AnalyzePrepared asks the model for the parts it writes and assembles the
// verdict.
//
// The deterministic blocks reach the model as read-only facts, and the
// events as a JSON data block after the instructions (see [DataBlockStart]).
// A small flow — fewer analysed events than StagedFromEvents and a rendering
// smaller than StagedFromBytes — is analysed in one call. A larger one goes
// through three calls, each seeing less than the whole: inventory (every
// analysed event → an outline of the significant ones), content (the
// outline and the events carrying communication → interactions), diagnosis
// (the outline, the content and every error and hang-up event → narrative,
// issues and overall_status).
//
// Every call goes through [llm.GenerateStructured] with a strict schema:
// an answer that is prose around JSON is accepted, one that is not valid,
// breaks an enum or the consistency rules (an ok verdict lists no issues; any
// other verdict's issues each cite an event) is repaired up to MaxAttempts.
// Then, in Go: evidence indexes out of range or repeated are dropped and
// counted, an issue of a verdict that is not ok left without evidence is
// dropped and counted, and each evidence's event_type, timestamp and
// resource_id are copied from the cited event. resources_used and the other
// blocks are Prepare's, never the model's.
//
// Model errors keep their class ([llm.ErrRateLimited], ...; see
// [FailureMessage]); the Report still counts the calls and tokens spent.
//
// p should come from [Prepare]. A nil p, or one whose events break the
// rules of [ValidateEvents], is a [*ValidationError] and no model is
// called.
func (a *Analyzer) AnalyzePrepared(ctx context.Context, p *Prepared) (Report, error) {
	if p == nil {
		return Report{}, &ValidationError{Problems: []Problem{{Path: "$", Message: "the prepared flow is missing; make one with Prepare"}}}
	}
	var v validator
	validateEvents(&v, "$.events", p.Events)
	if err := v.err(); err != nil {
		return Report{}, err
	}
	rep := Report{TotalEvents: p.TotalEvents, Duplicates: p.Duplicates, AnalysedEvents: len(p.Events)}
	events := modelEvents(p, nil)
	block, err := renderBlock(struct {
		Flow   dataFlow     `json:"flow"`
		Facts  dataFacts    `json:"facts"`
		Events []modelEvent `json:"events"`
	}{flowOf(p), factsOf(p), events})
	if err != nil {
		return rep, fmt.Errorf("timeline: rendering the data block: %w", err)
	}
	rep.Staged = (a.cfg.StagedFromEvents > 0 && len(p.Events) >= a.cfg.StagedFromEvents) ||
		(a.cfg.StagedFromBytes > 0 && len(block) >= a.cfg.StagedFromBytes)

	var (
		interactions []AnswerInteraction
		narrative    string
		issues       []AnswerIssue
		status       string
	)
	if !rep.Staged {
		ans, err := generate[VerdictAnswer](ctx, a, verdictSchema, verdictRules,
			a.request(a.cfg.ModelKey, verdictSystem, "Analyse this flow.", block), &rep)
		if err != nil {
			return rep, err
		}
		interactions, narrative, issues, status = ans.Interactions, ans.Narrative, ans.Issues, ans.OverallStatus
	} else {
		interactions, narrative, issues, status, err = a.staged(ctx, p, block, &rep)
		if err != nil {
			return rep, err
		}
	}
	rep.Verdict, err = assemble(p, status, interactions, narrative, issues, &rep)
	return rep, err
}

// staged runs the three stages.
func (a *Analyzer) staged(ctx context.Context, p *Prepared, block string, rep *Report) (
	[]AnswerInteraction, string, []AnswerIssue, string, error) {
	inv, err := generate[InventoryAnswer](ctx, a, inventorySchema, nil,
		a.request(a.cfg.InventoryModelKey, inventorySystem, "Stage 1: inventory of this flow.", block), rep)
	if err != nil {
		return nil, "", nil, "", fmt.Errorf("timeline: inventory stage: %w", err)
	}
	type outlineEntry struct {
		EvidenceIndex int    `json:"evidence_index"`
		Label         string `json:"label"`
	}
	outline := []outlineEntry{}
	cited := map[int]bool{}
	for _, o := range inv.Outline {
		if o.EvidenceIndex < 0 || o.EvidenceIndex >= len(p.Events) || cited[o.EvidenceIndex] {
			rep.OutlineDropped++
			continue
		}
		cited[o.EvidenceIndex] = true
		outline = append(outline, outlineEntry{EvidenceIndex: o.EvidenceIndex, Label: strings.TrimSpace(o.Label)})
	}

	block2, err := renderBlock(struct {
		Flow          dataFlow       `json:"flow"`
		Facts         dataFacts      `json:"facts"`
		Outline       []outlineEntry `json:"outline"`
		ContentEvents []modelEvent   `json:"content_events"`
	}{flowOf(p), factsOf(p), outline, modelEvents(p, isContentEvent)})
	if err != nil {
		return nil, "", nil, "", fmt.Errorf("timeline: rendering the data block: %w", err)
	}
	content, err := generate[ContentAnswer](ctx, a, contentSchema, nil,
		a.request(a.cfg.ContentModelKey, contentSystem, "Stage 2: content of this flow.", block2), rep)
	if err != nil {
		return nil, "", nil, "", fmt.Errorf("timeline: content stage: %w", err)
	}

	type contentBlock struct {
		Interactions []AnswerInteraction `json:"interactions"`
		Narrative    string              `json:"narrative"`
	}
	block3, err := renderBlock(struct {
		Flow         dataFlow       `json:"flow"`
		Facts        dataFacts      `json:"facts"`
		Outline      []outlineEntry `json:"outline"`
		Content      contentBlock   `json:"content"`
		SignalEvents []modelEvent   `json:"signal_events"`
	}{flowOf(p), factsOf(p), outline, contentBlock{nonNil(content.Interactions), content.Narrative}, modelEvents(p, isSignalEvent)})
	if err != nil {
		return nil, "", nil, "", fmt.Errorf("timeline: rendering the data block: %w", err)
	}
	diag, err := generate[DiagnosisAnswer](ctx, a, diagnosisSchema, diagnosisRules,
		a.request(a.cfg.ModelKey, diagnosisSystem, "Stage 3: diagnosis of this flow.", block3), rep)
	if err != nil {
		return nil, "", nil, "", fmt.Errorf("timeline: diagnosis stage: %w", err)
	}
	return content.Interactions, diag.Narrative, diag.Issues, diag.OverallStatus, nil
}

// request builds one call's request: the instructions, then the data block.
func (a *Analyzer) request(key, system, lead, block string) llm.Request {
	temp := 0.0
	if a.cfg.Temperature != nil {
		temp = *a.cfg.Temperature
	}
	return llm.Request{
		Model:           key,
		System:          system,
		Messages:        []llm.Message{{Role: llm.RoleUser, Content: lead + "\n" + block}},
		Temperature:     &temp,
		MaxOutputTokens: a.cfg.MaxOutputTokens,
	}
}

// generate makes one structured call and accounts for it in rep.
func generate[T any](ctx context.Context, a *Analyzer, schema, rules *llm.Schema, req llm.Request, rep *Report) (T, error) {
	opts := []llm.StructuredOption{llm.WithMaxAttempts(a.cfg.MaxAttempts)}
	if rules != nil {
		opts = append(opts, llm.WithValidation(rules))
	}
	res, err := llm.GenerateStructured[T](ctx, a.cfg.Model, schema, req, opts...)
	rep.Calls += res.Attempts
	rep.Usage = rep.Usage.Add(res.Usage)
	if res.Response.Model != "" {
		rep.Model = res.Response.Model
	}
	if err != nil {
		err = &modelError{err: err}
	}
	return res.Value, err
}

// A modelError is the failure of a model call: its text may hold what a
// provider wrote, so logs show it only through [llm.SafeText].
type modelError struct{ err error }

// Error is the model's error text, unfiltered.
func (e *modelError) Error() string { return e.err.Error() }

// Unwrap returns the model's error.
func (e *modelError) Unwrap() error { return e.err }

// errBadStatus reports a status outside the enum that got past the schema.
var errBadStatus = errors.New("overall_status is not ok, warning or error")

// assemble validates the model-written parts against the frozen events and
// builds the verdict around the deterministic blocks.
func assemble(p *Prepared, status string, interactions []AnswerInteraction, narrative string,
	issues []AnswerIssue, rep *Report) (Verdict, error) {
	st := OverallStatus(status)
	if !st.Valid() {
		schema := SchemaVerdict
		if rep.Staged {
			schema = SchemaDiagnosis // the stage that wrote the status
		}
		return Verdict{}, &llm.InvalidOutputError{Schema: schema, Attempts: rep.Calls,
			Problems: []llm.Problem{{Path: "$.overall_status", Message: errBadStatus.Error()}}}
	}
	v := Verdict{
		Version:        CurrentVersion,
		OverallStatus:  st,
		InputReduced:   p.InputReduced,
		SessionContext: p.SessionContext,
		Outcome:        p.Outcome,
		Metrics:        p.Metrics,
		ResourcesUsed:  nonNil(p.ResourcesUsed),
		Interactions:   []Interaction{},
		Narrative:      strings.TrimSpace(narrative),
		Issues:         []Issue{},
	}
	for _, in := range interactions {
		sum := strings.TrimSpace(in.Summary)
		if sum == "" {
			rep.InteractionsDropped++
			continue
		}
		v.Interactions = append(v.Interactions, Interaction{ResourceType: strings.TrimSpace(in.ResourceType), Summary: sum})
	}
	for _, is := range issues {
		sev := Severity(is.Severity)
		ev := resolveEvidence(p, is.EvidenceIndex, rep)
		if !sev.Valid() || (st != OverallOK && len(ev) == 0) || st == OverallOK {
			rep.IssuesDropped++
			continue
		}
		v.Issues = append(v.Issues, Issue{
			Severity: sev,
			Area:     strings.TrimSpace(is.Area),
			Summary:  strings.TrimSpace(is.Summary),
			Evidence: ev,
		})
	}
	return v, nil
}

// resolveEvidence turns cited indexes into evidence copied from the frozen
// events, dropping (and counting) those out of range or repeated.
func resolveEvidence(p *Prepared, idx []int, rep *Report) []Evidence {
	out := make([]Evidence, 0, len(idx))
	for k, i := range idx {
		if i < 0 || i >= len(p.Events) || containsInt(idx[:k], i) {
			rep.EvidenceDropped++
			continue
		}
		e := &p.Events[i]
		out = append(out, Evidence{
			EvidenceIndex: i,
			EventType:     e.Type,
			Timestamp:     e.Timestamp.UTC().Format(TimestampLayout),
			ResourceID:    e.ResourceID,
		})
	}
	return out
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
