package analysis

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/internal/jsoncheck"
	"github.com/debrief-go/debrief/judge"
	"github.com/debrief-go/debrief/schedule"
)

// Limits of a definition.
const (
	MaxNameLen         = 200
	MaxInstructionsLen = 20000
	MaxModelKeyLen     = 200
)

// maxTimeZoneLen bounds a schedule's time zone name; the longest in the
// IANA database, "America/Argentina/ComodRivadavia", has 32 bytes.
const maxTimeZoneLen = 64

// DefinitionInput is the body that creates a definition — and, as a JSON
// merge patch, changes one (see [Service.UpdateDefinition]).
type DefinitionInput struct {
	// Name is required; the key is slugified from it.
	Name string `json:"name"`
	// FieldSet is required and must be valid.
	FieldSet extract.FieldSet `json:"fieldSet"`
	// ExtractionInstructions guide the extraction model.
	ExtractionInstructions string `json:"extractionInstructions,omitempty"`
	// Modes switch on store, accuracy and judge.
	Modes Modes `json:"modes"`
	// ExtractionModelKey names the extraction model; required to run.
	ExtractionModelKey string `json:"extractionModelKey,omitempty"`
	// JudgeModelKey names the grading model; required with modes.judge.
	JudgeModelKey string `json:"judgeModelKey,omitempty"`
	// Schedule runs the definition on a cron schedule.
	Schedule *Schedule `json:"schedule,omitempty" jsonschema:"nullable"`
}

func (in DefinitionInput) validate(maxConv int) error {
	var p problems
	switch {
	case strings.TrimSpace(in.Name) == "":
		p.add(-1, "$.name", "the name is missing")
	case len(in.Name) > MaxNameLen:
		p.add(-1, "$.name", fmt.Sprintf("the name is %d bytes, more than %d", len(in.Name), MaxNameLen))
	case badText(in.Name):
		p.add(-1, "$.name", notUTF8)
	}
	if err := p.merge(in.FieldSet.Validate(), -1, "$.fieldSet"); err != nil {
		return err
	}
	if len(in.ExtractionInstructions) > MaxInstructionsLen {
		p.add(-1, "$.extractionInstructions", fmt.Sprintf("the instructions are %d bytes, more than %d", len(in.ExtractionInstructions), MaxInstructionsLen))
	}
	if j := in.Modes.Judge; j != nil {
		_, err := judge.New(judge.Config{Rubric: j.Rubric, Threshold: j.Threshold})
		if err := p.merge(err, -1, "$.modes.judge"); err != nil {
			return err
		}
		if strings.TrimSpace(in.JudgeModelKey) == "" {
			p.add(-1, "$.judgeModelKey", "a judge model is required when modes.judge is set")
		}
	}
	for _, mk := range [...]struct{ path, key string }{{"$.extractionModelKey", in.ExtractionModelKey}, {"$.judgeModelKey", in.JudgeModelKey}} {
		if len(mk.key) > MaxModelKeyLen {
			p.add(-1, mk.path, fmt.Sprintf("the model key is %d bytes, more than %d", len(mk.key), MaxModelKeyLen))
		}
	}
	if sch := in.Schedule; sch != nil {
		if c, err := schedule.Parse(sch.Cron); err != nil {
			p.add(-1, "$.schedule.cron", err.Error())
		} else if sch.Enabled && c.Next(time.Unix(0, 0)).IsZero() {
			p.add(-1, "$.schedule.cron", fmt.Sprintf("%q names no day that exists (such as February 31st): an enabled schedule would never fire", sch.Cron))
		}
		if len(sch.TimeZone) > maxTimeZoneLen {
			p.add(-1, "$.schedule.timeZone", fmt.Sprintf("the time zone is %d bytes, more than %d", len(sch.TimeZone), maxTimeZoneLen))
		} else if _, err := schedule.LoadLocation(sch.TimeZone); err != nil {
			p.add(-1, "$.schedule.timeZone", err.Error())
		}
		if sch.Enabled && strings.TrimSpace(in.ExtractionModelKey) == "" {
			p.add(-1, "$.extractionModelKey", "an extraction model is required for an enabled schedule")
		}
		if sch.Selection != nil {
			if err := p.merge(checkSelection(*sch.Selection, maxConv, "$.schedule.selection"), -1, "$"); err != nil {
				return err
			}
		}
	}
	return p.err()
}

// CreateDefinition validates in and stores it as a new definition of the
// scope. Its key is slugified from the name ("Call intent & resolution"
// becomes "call-intent-resolution"), with "-2", "-3", ... appended when the
// key is taken, or generated when nothing of the name survives. Problems are
// reported as an [*extract.ValidationError] matching [ErrInvalid]: a missing
// name, an empty or invalid field set, an enum without values, a judge mode
// without rubric or judge model, a bad cron expression or time zone.
func (s *Service) CreateDefinition(ctx context.Context, scope Scope, in DefinitionInput) (Definition, error) {
	if err := scope.Validate(); err != nil {
		return Definition{}, err
	}
	s.defaultModels(&in)
	if err := in.validate(s.cfg.MaxRunConversations); err != nil {
		return Definition{}, err
	}
	now := s.cfg.Clock.Now().UTC()
	d := definitionFrom(in)
	d.ID, d.Version, d.CreatedAt, d.UpdatedAt = s.cfg.NewID(), 1, now, now
	base := Slugify(in.Name)
	if base == "" {
		base = "definition-" + shortID(d.ID)
	}
	for n := 1; ; n++ {
		d.Key = base
		if n > 1 {
			d.Key = withSuffix(base, n)
		}
		err := s.cfg.Store.CreateDefinition(ctx, scope, d)
		if err == nil {
			return d, nil
		}
		if !errors.Is(err, ErrConflict) || n >= 100 {
			return Definition{}, wrap(err, "create definition %q", d.Key)
		}
	}
}

func definitionFrom(in DefinitionInput) Definition {
	return Definition{
		Name: strings.TrimSpace(in.Name), FieldSet: in.FieldSet, ExtractionInstructions: in.ExtractionInstructions,
		Modes: in.Modes, ExtractionModelKey: in.ExtractionModelKey, JudgeModelKey: in.JudgeModelKey, Schedule: in.Schedule,
	}
}

func inputFrom(d Definition) DefinitionInput {
	return DefinitionInput{
		Name: d.Name, FieldSet: d.FieldSet, ExtractionInstructions: d.ExtractionInstructions, Modes: d.Modes,
		ExtractionModelKey: d.ExtractionModelKey, JudgeModelKey: d.JudgeModelKey, Schedule: d.Schedule,
	}
}

func shortID(id string) string {
	id = strings.ReplaceAll(id, "-", "")
	return strings.ToLower(id[:min(len(id), 12)])
}

// GetDefinition returns the definition whose ID or key is idOrKey;
// ErrNotFound if the scope has none.
func (s *Service) GetDefinition(ctx context.Context, scope Scope, idOrKey string) (Definition, error) {
	if err := scope.Validate(); err != nil {
		return Definition{}, err
	}
	d, err := s.cfg.Store.GetDefinition(ctx, scope, idOrKey)
	return d, about(err, "definition %q", idOrKey)
}

// ListDefinitions returns the scope's definitions whose name or key contains
// search, ignoring case, newest first, at most limit of them (0 for the
// default limit; larger limits are capped).
func (s *Service) ListDefinitions(ctx context.Context, scope Scope, search string, limit int) ([]Definition, error) {
	if err := scope.Validate(); err != nil {
		return nil, err
	}
	n, err := s.limit(limit)
	if err != nil {
		return nil, err
	}
	return s.cfg.Store.ListDefinitions(ctx, scope, ListQuery{Search: strings.TrimSpace(search), Limit: n})
}

// UpdateDefinition changes the definition whose ID or key is idOrKey with a
// JSON merge patch (RFC 7396) over its [DefinitionInput] form: a member
// present in patch replaces the current value, a null removes it (so
// {"schedule": null} drops the schedule and {"modes": {"judge": null}}
// turns the judge off), an absent member keeps it. The id, key, version and
// timestamps cannot be patched. The result is validated as a whole, like a
// new definition, and nothing is stored when it is invalid.
//
// The patch applies to the latest version: when another update lands
// between the read and the write, the read-merge-write is done again over
// it, so that no concurrent change is lost. To apply a patch only to the
// version the caller read, use [Service.UpdateDefinitionAt].
func (s *Service) UpdateDefinition(ctx context.Context, scope Scope, idOrKey string, patch []byte) (Definition, error) {
	return s.updateDefinition(ctx, scope, idOrKey, 0, patch)
}

// UpdateDefinitionAt is [Service.UpdateDefinition] conditional on the
// definition being at version (an HTTP If-Match): it fails with ErrConflict,
// changing nothing, when the stored definition's Version is not version.
func (s *Service) UpdateDefinitionAt(ctx context.Context, scope Scope, idOrKey string, version int64, patch []byte) (Definition, error) {
	if version < 1 {
		return Definition{}, invalid("$.version", fmt.Sprintf("%d is not a version: versions start at 1", version))
	}
	return s.updateDefinition(ctx, scope, idOrKey, version, patch)
}

// maxUpdateRetries bounds the read-merge-write rounds of an unconditional
// update that keeps losing races.
const maxUpdateRetries = 20

func (s *Service) updateDefinition(ctx context.Context, scope Scope, idOrKey string, version int64, patch []byte) (Definition, error) {
	if err := scope.Validate(); err != nil {
		return Definition{}, err
	}
	if !json.Valid(patch) {
		var doc any
		return Definition{}, decodeError(json.Unmarshal(patch, &doc), "$")
	}
	if bad := jsoncheck.CheckLimits(patch, "$", definitionLimits); bad != nil {
		return Definition{}, invalid(bad.Path, bad.Message)
	}
	var patchDoc any
	dec := json.NewDecoder(bytes.NewReader(patch))
	dec.UseNumber() // a number is checked where it lands, against the field's type
	if err := dec.Decode(&patchDoc); err != nil {
		return Definition{}, decodeError(err, "$")
	}
	patchObj, ok := patchDoc.(map[string]any)
	if !ok {
		return Definition{}, invalid("$", "the patch must be a JSON object")
	}
	var p problems
	for _, k := range []string{"id", "key", "version", "createdAt", "updatedAt"} {
		if _, ok := patchObj[k]; ok {
			p.add(-1, "$."+k, "cannot be changed")
		}
	}
	if err := p.err(); err != nil {
		return Definition{}, err
	}
	for attempt := 1; ; attempt++ {
		current, err := s.cfg.Store.GetDefinition(ctx, scope, idOrKey)
		if err != nil {
			return Definition{}, about(err, "definition %q", idOrKey)
		}
		if version > 0 && current.Version != version {
			return Definition{}, wrap(ErrConflict, "definition %q is at version %d, not %d", current.Key, current.Version, version)
		}
		d, err := s.merged(current, patchObj)
		if err != nil {
			return Definition{}, err
		}
		err = s.cfg.Store.UpdateDefinition(ctx, scope, d, current.Version)
		switch {
		case err == nil:
			return d, nil
		case errors.Is(err, ErrConflict) && version == 0 && attempt < maxUpdateRetries:
			continue // another update landed first: merge over it
		}
		return Definition{}, wrap(err, "update definition %q", current.Key)
	}
}

// merged applies patch to current and validates the result.
func (s *Service) merged(current Definition, patch map[string]any) (Definition, error) {
	currentJSON, err := json.Marshal(inputFrom(current))
	if err != nil {
		return Definition{}, err
	}
	var doc any
	if err := json.Unmarshal(currentJSON, &doc); err != nil {
		return Definition{}, err
	}
	// mergePatch changes doc in place only: patch is never modified, so it
	// can be applied again in the next round.
	merged, err := json.Marshal(mergePatch(doc, patch))
	if err != nil {
		return Definition{}, err
	}
	var in DefinitionInput
	if err := decodeStrict(merged, &in, "$", definitionLimits); err != nil {
		return Definition{}, err
	}
	s.defaultModels(&in)
	if err := in.validate(s.cfg.MaxRunConversations); err != nil {
		return Definition{}, err
	}
	d := definitionFrom(in)
	d.ID, d.Key, d.Version = current.ID, current.Key, current.Version+1
	d.CreatedAt, d.UpdatedAt = current.CreatedAt, s.cfg.Clock.Now().UTC()
	return d, nil
}

// mergePatch applies an RFC 7396 merge patch to target.
func mergePatch(target any, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = mergePatch(t[k], v)
	}
	return t
}

// decodeError turns an encoding/json error into a validation problem
// located under root.
func decodeError(err error, root string) error {
	var ute *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &ute):
		path := root
		if ute.Field != "" {
			path += "." + ute.Field
		}
		want := jsonTypeName(ute.Type.Kind().String())
		if n, isNumber := strings.CutPrefix(ute.Value, "number "); isNumber {
			switch ute.Type.Kind() {
			case reflect.Float32, reflect.Float64:
				return invalid(path, fmt.Sprintf("%s is out of the range of a number", n))
			case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
				reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
				return invalid(path, fmt.Sprintf("%s does not fit: want a whole number in the range of a %s", n, ute.Type.Kind()))
			}
		}
		return invalid(path, fmt.Sprintf("got %s, want %s", ute.Value, want))
	case errors.As(err, &se):
		return invalid(root, fmt.Sprintf("not valid JSON: %v (at byte %d)", se, se.Offset))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return invalid(root+"."+field, "unknown member")
	}
	return invalid(root, "not valid JSON: "+err.Error())
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct", "ptr":
		return "an object"
	case "float64", "float32", "int", "int64", "int32", "uint64":
		return "a number"
	}
	return kind
}

// DeleteDefinition deletes the definition whose ID or key is idOrKey. It
// fails with ErrNotFound when there is none and with ErrRunInProgress while
// it has a run in progress. Its runs are kept.
func (s *Service) DeleteDefinition(ctx context.Context, scope Scope, idOrKey string) error {
	return s.deleteDefinition(ctx, scope, idOrKey, 0)
}

// DeleteDefinitionAt is [Service.DeleteDefinition] conditioned on the
// definition being at version (an HTTP If-Match): it fails with
// ErrConflict, deleting nothing, when the stored definition's Version is
// not version — also when an update lands between the check and the
// delete, which are one step in the store.
func (s *Service) DeleteDefinitionAt(ctx context.Context, scope Scope, idOrKey string, version int64) error {
	if version < 1 {
		return invalid("$.version", fmt.Sprintf("%d is not a version: versions start at 1", version))
	}
	return s.deleteDefinition(ctx, scope, idOrKey, version)
}

func (s *Service) deleteDefinition(ctx context.Context, scope Scope, idOrKey string, version int64) error {
	if err := scope.Validate(); err != nil {
		return err
	}
	d, err := s.cfg.Store.GetDefinition(ctx, scope, idOrKey)
	if err != nil {
		return about(err, "definition %q", idOrKey)
	}
	if version > 0 && d.Version != version {
		return wrap(ErrConflict, "definition %q is at version %d, not %d", d.Key, d.Version, version)
	}
	return wrap(s.cfg.Store.DeleteDefinition(ctx, scope, d.ID, version), "delete definition %q", d.Key)
}

// defaultModels gives in the configured default model keys it lacks.
func (s *Service) defaultModels(in *DefinitionInput) {
	if strings.TrimSpace(in.ExtractionModelKey) == "" {
		in.ExtractionModelKey = s.cfg.DefaultExtractionModelKey
	}
	if in.Modes.Judge != nil && strings.TrimSpace(in.JudgeModelKey) == "" {
		in.JudgeModelKey = s.cfg.DefaultJudgeModelKey
	}
}
