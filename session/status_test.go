package session

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestIsTerminal(t *testing.T) {
	want := map[SessionStatus]bool{
		StatusActive: false, StatusPaused: false, StatusWaitingForHuman: false, StatusWithHuman: false,
		StatusCompleted: true, StatusExpired: true, StatusFailed: true,
		"": false, "closed": false, "COMPLETED": false,
	}
	for s, terminal := range want {
		assert.Equal(t, terminal, s.IsTerminal(), "%q", s)
	}
	for _, s := range AllStatuses() {
		assert.True(t, s.Valid(), "%q", s)
		_, listed := want[s]
		assert.True(t, listed, "status %q is missing from this test", s)
	}
	assert.False(t, SessionStatus("closed").Valid())
	assert.False(t, SessionTerminationReason("").Valid())
	for _, r := range AllReasons() {
		assert.True(t, r.Valid(), "%q", r)
	}
}

// TestDeriveOutcomeTable checks every (status, reason) pair, unknown values
// included, against the table documented on DeriveOutcome. An empty
// outcome in the table is "no outcome".
func TestDeriveOutcomeTable(t *testing.T) {
	type row struct{ completed, expired, failed KnowledgeGapAnalysisOutcome }
	const none KnowledgeGapAnalysisOutcome = ""
	table := map[SessionTerminationReason]row{
		ReasonUserEnded:            {none, OutcomeExpired, OutcomeError},
		ReasonAgentResolved:        {OutcomeResolved, OutcomeExpired, OutcomeError},
		ReasonAgentUnresolved:      {OutcomeUnresolved, OutcomeExpired, OutcomeError},
		ReasonHandedOff:            {OutcomeTransferred, OutcomeTransferred, OutcomeError},
		ReasonTransferred:          {OutcomeTransferred, OutcomeTransferred, OutcomeError},
		ReasonEscalated:            {OutcomeEscalated, OutcomeEscalated, OutcomeError},
		ReasonInactivityTimeout:    {OutcomeExpired, OutcomeExpired, OutcomeError},
		ReasonUserLeftBeforeAnswer: {OutcomeAbandoned, OutcomeAbandoned, OutcomeAbandoned},
		ReasonVoicemail:            {OutcomeVoicemail, OutcomeVoicemail, OutcomeVoicemail},
		ReasonNoAnswer:             {OutcomeCallFailed, OutcomeCallFailed, OutcomeCallFailed},
		ReasonBusy:                 {OutcomeCallFailed, OutcomeCallFailed, OutcomeCallFailed},
		ReasonCallFailed:           {OutcomeCallFailed, OutcomeCallFailed, OutcomeCallFailed},
		ReasonError:                {OutcomeError, OutcomeError, OutcomeError},
		"":                         {none, OutcomeExpired, OutcomeError},
		"caller_hung_up_on_hold":   {none, OutcomeExpired, OutcomeError},
		// Known reasons match case-insensitively, surrounding spaces aside.
		"USER_ENDED":          {none, OutcomeExpired, OutcomeError},
		"Agent_Resolved":      {OutcomeResolved, OutcomeExpired, OutcomeError},
		" agent_unresolved\t": {OutcomeUnresolved, OutcomeExpired, OutcomeError},
		"HANDED_OFF":          {OutcomeTransferred, OutcomeTransferred, OutcomeError},
		"Voicemail":           {OutcomeVoicemail, OutcomeVoicemail, OutcomeVoicemail},
		"agent resolved":      {none, OutcomeExpired, OutcomeError},
	}
	for _, r := range AllReasons() {
		_, listed := table[r]
		assert.True(t, listed, "reason %q is missing from the table", r)
	}
	statuses := append(AllStatuses(), "", "archived")
	for reason, want := range table {
		for _, status := range statuses {
			got, ok := DeriveOutcome(status, reason)
			var expected KnowledgeGapAnalysisOutcome
			switch status {
			case StatusCompleted:
				expected = want.completed
			case StatusExpired:
				expected = want.expired
			case StatusFailed:
				expected = want.failed
			default:
				assert.False(t, ok, "(%q, %q): a non-terminal status has no outcome", status, reason)
				assert.Empty(t, got)
				continue
			}
			assert.Equal(t, expected, got, "(%q, %q)", status, reason)
			if expected == none {
				assert.False(t, ok, "(%q, %q): no outcome is claimed without evidence", status, reason)
				continue
			}
			assert.True(t, ok, "(%q, %q)", status, reason)
			assert.True(t, got.Valid())
		}
	}
}
