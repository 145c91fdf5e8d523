package analysis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/extract"
)

func problemsOf(t *testing.T, err error) []extract.Problem {
	t.Helper()
	require.Error(t, err)
	assert.ErrorIs(t, err, analysis.ErrInvalid)
	var ve *extract.ValidationError
	require.ErrorAs(t, err, &ve)
	return ve.Problems
}

func paths(ps []extract.Problem) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.Path)
	}
	return out
}

func TestCreateDefinition(t *testing.T) {
	e := newEnv(t, nil)
	d, err := e.svc.CreateDefinition(context.Background(), scope, intentDefinition())
	require.NoError(t, err)
	assert.Equal(t, "call-intent-resolution", d.Key, "slugified from the name")
	assert.Equal(t, "id-0001", d.ID)
	assert.True(t, d.CreatedAt.Equal(start))
	assert.True(t, d.UpdatedAt.Equal(start))

	got, err := e.svc.GetDefinition(context.Background(), scope, d.Key)
	require.NoError(t, err)
	assert.Equal(t, d, got)
	got, err = e.svc.GetDefinition(context.Background(), scope, d.ID)
	require.NoError(t, err)
	assert.Equal(t, d, got)

	again, err := e.svc.CreateDefinition(context.Background(), scope, intentDefinition())
	require.NoError(t, err)
	assert.Equal(t, "call-intent-resolution-2", again.Key, "unique in its scope")
	third, err := e.svc.CreateDefinition(context.Background(), scope, intentDefinition())
	require.NoError(t, err)
	assert.Equal(t, "call-intent-resolution-3", third.Key)
	elsewhere, err := e.svc.CreateDefinition(context.Background(), other, intentDefinition())
	require.NoError(t, err)
	assert.Equal(t, "call-intent-resolution", elsewhere.Key, "keys are per scope")

	in := intentDefinition()
	in.Name = "通話の意図"
	d, err = e.svc.CreateDefinition(context.Background(), scope, in)
	require.NoError(t, err)
	assert.Regexp(t, `^definition-[0-9a-z]+$`, d.Key, "a key is generated when nothing of the name survives")
}

func TestSlugify(t *testing.T) {
	for in, want := range map[string]string{
		"Call intent & resolution": "call-intent-resolution",
		"  Résumé -- Qualité!  ":   "resume-qualite",
		"IVR/voice 2024":           "ivr-voice-2024",
		"***":                      "",
		"":                         "",
		strings.Repeat("ab ", 40):  strings.TrimRight(strings.Repeat("ab-", 21), "-"),
		strings.Repeat("x", 70):    strings.Repeat("x", 64),
	} {
		got := analysis.Slugify(in)
		assert.Equal(t, want, got, in)
		assert.LessOrEqual(t, len(got), 64)
	}
}

func TestCreateDefinitionValidation(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name  string
		edit  func(*analysis.DefinitionInput)
		paths []string
	}{
		{"missing name", func(d *analysis.DefinitionInput) { d.Name = " " }, []string{"$.name"}},
		{"empty field set", func(d *analysis.DefinitionInput) { d.FieldSet = nil }, []string{"$.fieldSet"}},
		{"enum without values", func(d *analysis.DefinitionInput) { d.FieldSet[0].EnumValues = nil }, []string{"$.fieldSet[0].enumValues"}},
		{"bad field type", func(d *analysis.DefinitionInput) { d.FieldSet[1].Type = "date" }, []string{"$.fieldSet[1].type"}},
		{"bad cron", func(d *analysis.DefinitionInput) { d.Schedule = &analysis.Schedule{Cron: "0 25 * * *", Enabled: true} },
			[]string{"$.schedule.cron"}},
		{"judge without rubric and model", func(d *analysis.DefinitionInput) {
			d.Modes.Judge = &analysis.JudgeMode{}
			d.JudgeModelKey = ""
		}, []string{"$.modes.judge.rubric", "$.judgeModelKey"}},
		{"judge threshold", func(d *analysis.DefinitionInput) {
			th := 1.5
			d.Modes.Judge.Threshold = &th
		}, []string{"$.modes.judge.threshold"}},
		{"schedule without model", func(d *analysis.DefinitionInput) {
			d.Schedule = &analysis.Schedule{Cron: "0 2 * * *", Enabled: true}
			d.ExtractionModelKey = ""
		}, []string{"$.extractionModelKey"}},
		{"long instructions", func(d *analysis.DefinitionInput) {
			d.ExtractionInstructions = strings.Repeat("x", analysis.MaxInstructionsLen+1)
		},
			[]string{"$.extractionInstructions"}},
		{"everything at once", func(d *analysis.DefinitionInput) {
			d.Name = ""
			d.FieldSet = extract.FieldSet{{Key: "bad key", Type: extract.String}}
			d.Schedule = &analysis.Schedule{Cron: "nope"}
		}, []string{"$.name", "$.fieldSet[0].key", "$.schedule.cron"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := intentDefinition()
			tt.edit(&in)
			_, err := e.svc.CreateDefinition(context.Background(), scope, in)
			assert.Equal(t, tt.paths, paths(problemsOf(t, err)))
		})
	}
	list, err := e.svc.ListDefinitions(context.Background(), scope, "", 0)
	require.NoError(t, err)
	assert.Empty(t, list, "nothing invalid was stored")

	_, err = e.svc.CreateDefinition(context.Background(), analysis.Scope{Tenant: "acme"}, intentDefinition())
	assert.ErrorIs(t, err, analysis.ErrInvalid, "a scope needs a project")
	in := intentDefinition()
	in.Schedule = &analysis.Schedule{Cron: "0 2 * * *", Enabled: false}
	in.ExtractionModelKey = ""
	_, err = e.svc.CreateDefinition(context.Background(), scope, in)
	assert.NoError(t, err, "the extraction model is only required to run")
}

func TestUpdateDefinitionPatch(t *testing.T) {
	e := newEnv(t, nil)
	in := intentDefinition()
	in.Schedule = &analysis.Schedule{Cron: "0 2 * * *", Enabled: true}
	d, err := e.svc.CreateDefinition(context.Background(), scope, in)
	require.NoError(t, err)
	e.clock.Advance(time.Hour)

	up, err := e.svc.UpdateDefinition(context.Background(), scope, d.Key, []byte(`{"name":"Renamed","modes":{"judge":{"threshold":0.8}}}`))
	require.NoError(t, err)
	assert.Equal(t, "Renamed", up.Name)
	assert.Equal(t, d.Key, up.Key, "the key never changes")
	assert.Equal(t, "Was the caller helped politely?", up.Modes.Judge.Rubric, "absent members are kept, nested too")
	assert.Equal(t, 0.8, *up.Modes.Judge.Threshold)
	assert.True(t, up.Modes.Store, "sibling modes are kept")
	assert.Equal(t, in.FieldSet, up.FieldSet)
	assert.True(t, up.UpdatedAt.Equal(start.Add(time.Hour)))
	assert.True(t, up.CreatedAt.Equal(start))

	up, err = e.svc.UpdateDefinition(context.Background(), scope, d.ID, []byte(`{"schedule":null,"modes":{"judge":null},"judgeModelKey":null}`))
	require.NoError(t, err)
	assert.Nil(t, up.Schedule, "null removes")
	assert.Nil(t, up.Modes.Judge)
	assert.Empty(t, up.JudgeModelKey)
	stored, err := e.svc.GetDefinition(context.Background(), scope, d.Key)
	require.NoError(t, err)
	assert.Equal(t, up, stored)

	for body, want := range map[string][]string{
		`{"fieldSet":[]}`:                                  {"$.fieldSet"},
		`{"modes":{"judge":{"rubric":""}}}`:                {"$.modes.judge.rubric", "$.judgeModelKey"},
		`{"key":"new-key","id":"x"}`:                       {"$.id", "$.key"},
		`{"schedule":{"cron":"61 * * * *"}}`:               {"$.schedule.cron"},
		`{"name":42}`:                                      {"$.name"},
		`{"unknown":true}`:                                 {"$.unknown"},
		`[1]`:                                              {"$"},
		`{"name":`:                                         {"$"},
		`{"fieldSet":[{"key":"x","type":"num"}]}`:          {"$.fieldSet[0].type"},
		`{"Name":"Changed"}`:                               {"$.Name"},
		`{"modes":{"store":"yes"}}`:                        {"$.modes.store"},
		`{"modes":{"judge":{"threshold":"high"}}}`:         {"$.modes.judge.threshold"},
		`{"fieldSet":{"key":"x"}}`:                         {"$.fieldSet"},
		`{"modes":[]}`:                                     {"$.modes"},
		`{"modes":{"Judge":{"rubric":"x"}}}`:               {"$.modes.Judge"},
		`{"schedule":{"cron":"0 2 * * *","Enabled":true}}`: {"$.schedule.Enabled"},
	} {
		_, err := e.svc.UpdateDefinition(context.Background(), scope, d.Key, []byte(body))
		assert.Equal(t, want, paths(problemsOf(t, err)), body)
	}
	after, err := e.svc.GetDefinition(context.Background(), scope, d.Key)
	require.NoError(t, err)
	assert.Equal(t, stored, after, "an invalid patch changes nothing")

	_, err = e.svc.UpdateDefinition(context.Background(), scope, "missing", []byte(`{}`))
	assert.ErrorIs(t, err, analysis.ErrNotFound)
	_, err = e.svc.UpdateDefinition(context.Background(), other, d.Key, []byte(`{"name":"x"}`))
	assert.ErrorIs(t, err, analysis.ErrNotFound, "another scope's definition is not found")
}

func TestUpdateDefinitionDuringARun(t *testing.T) {
	e := newEnv(t, fakeModel())
	ingest(t, e, 1)
	d, err := e.svc.CreateDefinition(context.Background(), scope, intentDefinition())
	require.NoError(t, err)
	_, err = e.svc.StartRun(context.Background(), scope, d.Key, analysis.Selection{Strategy: analysis.SelectAll})
	require.NoError(t, err)
	_, err = e.svc.UpdateDefinition(context.Background(), scope, d.Key, []byte(`{"name":"New"}`))
	assert.ErrorIs(t, err, analysis.ErrRunInProgress, "the 409: a run works with the definition as it started")
	_, err = e.exec.RunOnce(context.Background())
	require.NoError(t, err)
	up, err := e.svc.UpdateDefinition(context.Background(), scope, d.Key, []byte(`{"name":"New"}`))
	require.NoError(t, err)
	assert.Equal(t, "New", up.Name)
}

func TestDeletedDefinitionKeysAreNotReused(t *testing.T) {
	e := newEnv(t, fakeModel())
	ingest(t, e, 2)
	d, err := e.svc.CreateDefinition(context.Background(), scope, intentDefinition())
	require.NoError(t, err)
	_, err = e.svc.StartRun(context.Background(), scope, d.Key, analysis.Selection{Strategy: analysis.SelectAll})
	require.NoError(t, err)
	_, err = e.exec.RunOnce(context.Background())
	require.NoError(t, err)
	require.NoError(t, e.svc.DeleteDefinition(context.Background(), scope, d.Key))

	again, err := e.svc.CreateDefinition(context.Background(), scope, intentDefinition())
	require.NoError(t, err)
	assert.Equal(t, d.Key+"-2", again.Key, "a new definition gets a key of its own")
	runs, err := e.svc.ListRuns(context.Background(), scope, again.Key, 0)
	require.NoError(t, err)
	assert.Empty(t, runs, "it inherits no run")
	r, err := e.svc.StartRun(context.Background(), scope, again.Key, analysis.Selection{Strategy: analysis.SelectUnanalyzed})
	require.NoError(t, err)
	assert.Len(t, runKeys(t, e, r), 2, "nor the old definition's analysis marks")
}

func TestListAndDeleteDefinitions(t *testing.T) {
	e := newEnv(t, nil)
	for _, name := range []string{"Call intent", "Refund audit", "Intent v2", "Tone"} {
		in := intentDefinition()
		in.Name = name
		_, err := e.svc.CreateDefinition(context.Background(), scope, in)
		require.NoError(t, err)
		e.clock.Advance(time.Minute)
	}
	got, err := e.svc.ListDefinitions(context.Background(), scope, "intent", 0)
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, "intent-v2", got[0].Key, "newest first")
	got, err = e.svc.ListDefinitions(context.Background(), scope, "", 1)
	require.NoError(t, err)
	assert.Len(t, got, 1)
	_, err = e.svc.ListDefinitions(context.Background(), scope, "", -1)
	assert.Equal(t, []string{"$.limit"}, paths(problemsOf(t, err)))

	require.NoError(t, e.svc.DeleteDefinition(context.Background(), scope, "tone"))
	assert.ErrorIs(t, e.svc.DeleteDefinition(context.Background(), scope, "tone"), analysis.ErrNotFound)
	assert.ErrorIs(t, e.svc.DeleteDefinition(context.Background(), other, "call-intent"), analysis.ErrNotFound)
	_, err = e.svc.GetDefinition(context.Background(), other, "call-intent")
	assert.ErrorIs(t, err, analysis.ErrNotFound)
}

func TestDefaultModelKeysFillWhatADefinitionLacks(t *testing.T) {
	e := newEnv(t, nil, func(c *analysis.Config, _ *analysis.ExecutorConfig) {
		c.DefaultExtractionModelKey, c.DefaultJudgeModelKey = "small", "large"
	})
	in := intentDefinition()
	in.ExtractionModelKey, in.JudgeModelKey = "", ""
	d, err := e.svc.CreateDefinition(context.Background(), scope, in)
	require.NoError(t, err, "a judge mode without a judge model is fine when there is a default")
	assert.Equal(t, "small", d.ExtractionModelKey)
	assert.Equal(t, "large", d.JudgeModelKey)
	in.Name, in.ExtractionModelKey, in.Modes.Judge = "Own", "mine", nil
	d, err = e.svc.CreateDefinition(context.Background(), scope, in)
	require.NoError(t, err)
	assert.Equal(t, "mine", d.ExtractionModelKey, "a definition's own key is kept")
	assert.Empty(t, d.JudgeModelKey, "no judge, no judge model")
	d, err = e.svc.UpdateDefinition(context.Background(), scope, d.Key, []byte(`{"extractionModelKey":null,"modes":{"judge":{"rubric":"r"}}}`))
	require.NoError(t, err)
	assert.Equal(t, "small", d.ExtractionModelKey)
	assert.Equal(t, "large", d.JudgeModelKey)
}

func TestDeleteDefinitionAt(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	d, err := e.svc.CreateDefinition(ctx, scope, intentDefinition())
	require.NoError(t, err)
	_, err = e.svc.UpdateDefinition(ctx, scope, d.Key, []byte(`{"name":"Renamed"}`))
	require.NoError(t, err)
	assert.ErrorIs(t, e.svc.DeleteDefinitionAt(ctx, scope, d.Key, 1), analysis.ErrConflict, "an update landed since version 1")
	assert.ErrorIs(t, e.svc.DeleteDefinitionAt(ctx, scope, d.Key, 0), analysis.ErrInvalid)
	assert.ErrorIs(t, e.svc.DeleteDefinitionAt(ctx, other, d.Key, 2), analysis.ErrNotFound)
	_, err = e.svc.GetDefinition(ctx, scope, d.Key)
	require.NoError(t, err, "nothing was deleted")
	require.NoError(t, e.svc.DeleteDefinitionAt(ctx, scope, d.ID, 2))
	_, err = e.svc.GetDefinition(ctx, scope, d.Key)
	assert.ErrorIs(t, err, analysis.ErrNotFound)
}
