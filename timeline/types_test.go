package timeline

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The records under testdata — the documented example record (version 3), a version 1
// and a version 2 record, a failed and a progressing one — decode and
// re-encode byte for byte, white space aside.
func TestAnalysisRoundTrip(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "analysis_*.json"))
	require.NoError(t, err)
	require.Len(t, files, 5)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			in, err := os.ReadFile(file)
			require.NoError(t, err)
			dec := json.NewDecoder(bytes.NewReader(in))
			dec.DisallowUnknownFields() // every key of the record is a field of the types
			var a Analysis
			require.NoError(t, dec.Decode(&a))
			out, err := json.Marshal(a)
			require.NoError(t, err)
			var want bytes.Buffer
			require.NoError(t, json.Compact(&want, in))
			assert.Equal(t, want.String(), string(out))
		})
	}
}

func TestDocumentedExampleDecodes(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "analysis_v3.json"))
	require.NoError(t, err)
	var a Analysis
	require.NoError(t, json.Unmarshal(in, &a))
	assert.Equal(t, StatusCompleted, a.Status)
	assert.Equal(t, time.Date(2024, 3, 1, 10, 6, 20, 0, time.UTC), a.TMUpdate.UTC())
	require.NotNil(t, a.Result)
	v := a.Result
	assert.Equal(t, 3, v.Version)
	assert.Equal(t, OverallWarning, v.OverallStatus)
	require.NotNil(t, v.SessionContext)
	assert.Equal(t, []Participant{{"source", "+14155550100"}, {"destination", "+14155550199"}}, v.SessionContext.Participants)
	assert.Empty(t, v.SessionContext.OriginKind)
	require.NotNil(t, v.Metrics)
	require.NotNil(t, v.Metrics.FirstResponseMS)
	assert.EqualValues(t, 1200, *v.Metrics.FirstResponseMS)
	assert.Equal(t, map[string]string{"duration_sec": "312", "hangup_reason": "normal"}, v.Outcome.Detail)
	require.Len(t, v.Issues, 1)
	assert.Equal(t, Evidence{EvidenceIndex: 42, EventType: "call_hangup", Timestamp: "2024-03-01T10:05:12.000000Z",
		ResourceID: "c3d4e5f6-a7b8-9012-cdef-123456789012"}, v.Issues[0].Evidence[0])
}

func TestVerdictArraysAndOmittedKeys(t *testing.T) {
	tests := []struct {
		name string
		v    Verdict
		want string
	}{
		{"v3 with nothing: arrays are [], blocks omitted",
			Verdict{Version: 3, OverallStatus: OverallOK},
			`{"version":3,"overall_status":"ok","input_reduced":false,"resources_used":[],"interactions":[],"narrative":"","issues":[]}`},
		{"v2 keeps interactions as []",
			Verdict{Version: 2, OverallStatus: OverallOK},
			`{"version":2,"overall_status":"ok","input_reduced":false,"resources_used":[],"interactions":[],"narrative":"","issues":[]}`},
		{"v1 without interactions gains no key",
			Verdict{Version: 1, OverallStatus: OverallOK},
			`{"version":1,"overall_status":"ok","input_reduced":false,"resources_used":[],"narrative":"","issues":[]}`},
		{"v1 that had interactions keeps them",
			Verdict{Version: 1, OverallStatus: OverallOK, Interactions: []Interaction{}},
			`{"version":1,"overall_status":"ok","input_reduced":false,"resources_used":[],"interactions":[],"narrative":"","issues":[]}`},
		{"an issue's evidence is [] never null, empty optional fields omitted",
			Verdict{Version: 3, OverallStatus: OverallWarning, Issues: []Issue{{Severity: SeverityInfo, Area: "flow", Summary: "s"}, {
				Severity: SeverityWarning, Evidence: []Evidence{{EvidenceIndex: 0}}}}},
			`{"version":3,"overall_status":"warning","input_reduced":false,"resources_used":[],"interactions":[],"narrative":"","issues":[` +
				`{"severity":"info","area":"flow","summary":"s","evidence":[]},{"severity":"warning","area":"","summary":"","evidence":[{"evidence_index":0}]}]}`},
		{"empty optional fields of the blocks are omitted",
			Verdict{Version: 3, OverallStatus: OverallOK, SessionContext: &SessionContext{ReferenceType: "api", Channel: "api"},
				Outcome: &Outcome{Result: ResultUnknown}, Metrics: &Metrics{TurnsUser: 1}},
			`{"version":3,"overall_status":"ok","input_reduced":false,"session_context":{"reference_type":"api","channel":"api",` +
				`"multi_leg":false,"ai_handled":false,"human_involved":false},"outcome":{"result":"unknown"},` +
				`"metrics":{"turns_user":1,"turns_bot":0},"resources_used":[],"interactions":[],"narrative":"","issues":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.v)
			require.NoError(t, err)
			assert.JSONEq(t, tt.want, string(got))
			assert.Equal(t, tt.want, string(got), "key order")
		})
	}
}

func TestAnalysisOmitsResultUnlessPresent(t *testing.T) {
	a := Analysis{ID: "i", Status: StatusFailed, Error: FailTimeout, TMCreate: Timestamp{t0}, TMUpdate: Timestamp{t0.Add(1500 * time.Microsecond)}}
	got, err := json.Marshal(a)
	require.NoError(t, err)
	assert.Equal(t, `{"id":"i","customer_id":"","activeflow_id":"","status":"failed","error":"`+FailTimeout+
		`","tm_create":"2024-03-01T10:00:00.000000Z","tm_update":"2024-03-01T10:00:00.001500Z"}`, string(got))
}

func TestTimestamp(t *testing.T) {
	var ts Timestamp
	require.NoError(t, json.Unmarshal([]byte(`"2024-03-01T12:00:00.5+02:00"`), &ts))
	out, err := json.Marshal(ts)
	require.NoError(t, err)
	assert.Equal(t, `"2024-03-01T10:00:00.500000Z"`, string(out), "written in UTC with microseconds")
	for _, bad := range []string{`null`, `12`, `"yesterday"`, `"2024-03-01"`} {
		assert.Error(t, json.Unmarshal([]byte(bad), &ts), bad)
	}
}

func TestCloneIsDeep(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "analysis_v3.json"))
	require.NoError(t, err)
	var a Analysis
	require.NoError(t, json.Unmarshal(in, &a))
	before, _ := json.Marshal(a)
	c := a.Clone()
	c.Result.SessionContext.Participants[0].Address = "x"
	c.Result.Outcome.Detail["duration_sec"] = "0"
	*c.Result.Metrics.MaxGapMS = 1
	c.Result.ResourcesUsed[0].Count = 9
	c.Result.Interactions[0].Summary = "x"
	c.Result.Issues[0].Evidence[0].EventType = "x"
	after, _ := json.Marshal(a)
	assert.Equal(t, string(before), string(after))
	assert.Nil(t, (*Verdict)(nil).Clone())
}

func TestEnums(t *testing.T) {
	for _, s := range []Status{StatusProgressing, StatusCompleted, StatusFailed} {
		assert.True(t, s.Valid(), s)
	}
	assert.False(t, Status("done").Valid())
	for _, s := range []OverallStatus{OverallOK, OverallWarning, OverallError} {
		assert.True(t, s.Valid(), s)
	}
	assert.False(t, OverallStatus("fine").Valid())
	for _, s := range []Severity{SeverityInfo, SeverityWarning, SeverityError} {
		assert.True(t, s.Valid(), s)
	}
	assert.False(t, Severity("critical").Valid())
}
