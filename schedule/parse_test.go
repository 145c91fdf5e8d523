package schedule_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/schedule"
)

func TestParseErrors(t *testing.T) {
	const fields = "expected 5 fields (minute hour day-of-month month day-of-week)"
	tests := []struct {
		expr, field, value, msg string
	}{
		// the expression as a whole
		{"", "", "", `cron "": empty expression`},
		{" \t ", "", "", `cron " \t ": empty expression`},
		{"0 2 * *", "", "", `cron "0 2 * *": ` + fields + `, got 4`},
		{"0", "", "", `cron "0": ` + fields + `, got 1`},
		{"0 0 2 * * * * *", "", "", `cron "0 0 2 * * * * *": ` + fields + `, got 8`},
		{"0 0 2 * * *", "", "", `cron "0 0 2 * * *": ` + fields + `, got 6: a seconds field is not supported`},
		{"0 0 2 * * * 2025", "", "", `cron "0 0 2 * * * 2025": ` + fields + `, got 7: seconds and year fields are not supported`},
		{"@foo", "", "@foo", `cron "@foo": unknown macro "@foo" (want @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)`},
		{"@", "", "@", `cron "@": unknown macro "@" (want @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)`},
		{"@reboot", "", "@reboot", `cron "@reboot": @reboot has no time slots`},
		{"@every 5m", "", "@every", `cron "@every 5m": @every intervals are not supported; use a five-field expression`},
		{"@REBOOT now", "", "@REBOOT", `cron "@REBOOT now": @reboot has no time slots`},
		{"@every", "", "@every", `cron "@every": @every intervals are not supported; use a five-field expression`},
		{"@daily 0 2", "", "@daily", `cron "@daily 0 2": unexpected "0 2" after macro @daily`},
		// out of range, in every field
		{"60 * * * *", "minute", "60", `cron "60 * * * *": minute field "60": value 60 out of range 0-59`},
		{"0 25 * * *", "hour", "25", `cron "0 25 * * *": hour field "25": value 25 out of range 0-23`},
		{"0 24 * * *", "hour", "24", `cron "0 24 * * *": hour field "24": value 24 out of range 0-23`},
		{"0 0 0 * *", "day-of-month", "0", `cron "0 0 0 * *": day-of-month field "0": value 0 out of range 1-31`},
		{"0 0 32 * *", "day-of-month", "32", `cron "0 0 32 * *": day-of-month field "32": value 32 out of range 1-31`},
		{"0 0 * 0 *", "month", "0", `cron "0 0 * 0 *": month field "0": value 0 out of range 1-12`},
		{"0 0 * 13 *", "month", "13", `cron "0 0 * 13 *": month field "13": value 13 out of range 1-12`},
		{"0 0 * * 8", "day-of-week", "8", `cron "0 0 * * 8": day-of-week field "8": value 8 out of range 0-7`},
		{"99999999999999999999 * * * *", "minute", "99999999999999999999", `cron "99999999999999999999 * * * *": minute field "99999999999999999999": value 99999999999999999999 out of range 0-59`},
		{"0 1-24 * * *", "hour", "1-24", `cron "0 1-24 * * *": hour field "1-24": value 24 out of range 0-23`},
		{"0,60 * * * *", "minute", "0,60", `cron "0,60 * * * *": minute field "0,60": element "60": value 60 out of range 0-59`},
		// ranges
		{"30-10 * * * *", "minute", "30-10", `cron "30-10 * * * *": minute field "30-10": range start 30 is after end 10`},
		{"0 0 * * 5-0", "day-of-week", "5-0", `cron "0 0 * * 5-0": day-of-week field "5-0": range start 5 is after end 0 (write Sunday as 7 to end a range on it)`},
		{"0 0 * * SAT-SUN", "day-of-week", "SAT-SUN", `cron "0 0 * * SAT-SUN": day-of-week field "SAT-SUN": range start 6 is after end 0 (write Sunday as 7 to end a range on it)`},
		{"0 0 * DEC-JAN *", "month", "DEC-JAN", `cron "0 0 * DEC-JAN *": month field "DEC-JAN": range start 12 is after end 1`},
		{"1-2-3 * * * *", "minute", "1-2-3", `cron "1-2-3 * * * *": minute field "1-2-3": invalid range "1-2-3"`},
		{"-5 * * * *", "minute", "-5", `cron "-5 * * * *": minute field "-5": invalid range "-5": missing start`},
		{"5- * * * *", "minute", "5-", `cron "5- * * * *": minute field "5-": invalid range "5-": missing end`},
		{"*-5 * * * *", "minute", "*-5", `cron "*-5 * * * *": minute field "*-5": "*" cannot be part of a range`},
		{"1-* * * * *", "minute", "1-*", `cron "1-* * * * *": minute field "1-*": "*" cannot be part of a range`},
		// steps
		{"*/0 * * * *", "minute", "*/0", `cron "*/0 * * * *": minute field "*/0": step 0 out of range 1-59`},
		{"*/60 * * * *", "minute", "*/60", `cron "*/60 * * * *": minute field "*/60": step 60 out of range 1-59`},
		{"0 */24 * * *", "hour", "*/24", `cron "0 */24 * * *": hour field "*/24": step 24 out of range 1-23`},
		{"0 0 * * */8", "day-of-week", "*/8", `cron "0 0 * * */8": day-of-week field "*/8": step 8 out of range 1-7`},
		{"*/ * * * *", "minute", "*/", `cron "*/ * * * *": minute field "*/": missing step after "/"`},
		{"/5 * * * *", "minute", "/5", `cron "/5 * * * *": minute field "/5": missing value before "/"`},
		{"*/2/3 * * * *", "minute", "*/2/3", `cron "*/2/3 * * * *": minute field "*/2/3": invalid step "2/3"`},
		{"*/x * * * *", "minute", "*/x", `cron "*/x * * * *": minute field "*/x": invalid step "x"`},
		{"0 0 * */feb *", "month", "*/feb", `cron "0 0 * */feb *": month field "*/feb": invalid step "feb"`},
		{"*/-1 * * * *", "minute", "*/-1", `cron "*/-1 * * * *": minute field "*/-1": invalid step "-1"`},
		// lists
		{"1,,2 * * * *", "minute", "1,,2", `cron "1,,2 * * * *": minute field "1,,2": empty list element`},
		{"1, * * * *", "minute", "1,", `cron "1, * * * *": minute field "1,": empty list element`},
		{",1 * * * *", "minute", ",1", `cron ",1 * * * *": minute field ",1": empty list element`},
		// values and names
		{"x * * * *", "minute", "x", `cron "x * * * *": minute field "x": invalid value "x" (want 0-59)`},
		{"1x * * * *", "minute", "1x", `cron "1x * * * *": minute field "1x": invalid value "1x"`},
		{"+5 * * * *", "minute", "+5", `cron "+5 * * * *": minute field "+5": invalid value "+5"`},
		{"1.5 * * * *", "minute", "1.5", `cron "1.5 * * * *": minute field "1.5": invalid value "1.5"`},
		{"0 0 MON * *", "day-of-month", "MON", `cron "0 0 MON * *": day-of-month field "MON": invalid value "MON" (want 1-31)`},
		{"0 0 * FOO *", "month", "FOO", `cron "0 0 * FOO *": month field "FOO": unknown name "FOO" (want JAN-DEC or 1-12)`},
		{"0 0 * January *", "month", "January", `cron "0 0 * January *": month field "January": unknown name "January" (want JAN-DEC or 1-12)`},
		{"0 0 * MON *", "month", "MON", `cron "0 0 * MON *": month field "MON": unknown name "MON" (want JAN-DEC or 1-12)`},
		{"0 0 * * JAN", "day-of-week", "JAN", `cron "0 0 * * JAN": day-of-week field "JAN": unknown name "JAN" (want SUN-SAT or 0-7)`},
		{"0 0 * * monday", "day-of-week", "monday", `cron "0 0 * * monday": day-of-week field "monday": unknown name "monday" (want SUN-SAT or 0-7)`},
		{"0 0 * anf *", "month", "anf", `cron "0 0 * anf *": month field "anf": unknown name "anf" (want JAN-DEC or 1-12)`},
		{"0 0 * * unm", "day-of-week", "unm", `cron "0 0 * * unm": day-of-week field "unm": unknown name "unm" (want SUN-SAT or 0-7)`},
		{"0 0 * * ueo", "day-of-week", "ueo", `cron "0 0 * * ueo": day-of-week field "ueo": unknown name "ueo" (want SUN-SAT or 0-7)`},
		{"0 0 * * mo", "day-of-week", "mo", `cron "0 0 * * mo": day-of-week field "mo": unknown name "mo" (want SUN-SAT or 0-7)`},
		{"0 0 * * ÿon", "day-of-week", "ÿon", `cron "0 0 * * ÿon": day-of-week field "ÿon": invalid value "ÿon"`},
		// other schedulers' extensions
		{"0 0 ? * MON", "day-of-month", "?", `cron "0 0 ? * MON": day-of-month field "?": "?" is not standard cron (L, W, # and ? are not supported)`},
		{"0 0 L * *", "day-of-month", "L", `cron "0 0 L * *": day-of-month field "L": "L" is not standard cron (L, W, # and ? are not supported)`},
		{"0 0 15W * *", "day-of-month", "15W", `cron "0 0 15W * *": day-of-month field "15W": "15W" is not standard cron (L, W, # and ? are not supported)`},
		{"0 0 * * 5L", "day-of-week", "5L", `cron "0 0 * * 5L": day-of-week field "5L": "5L" is not standard cron (L, W, # and ? are not supported)`},
		{"0 0 * * MON#2", "day-of-week", "MON#2", `cron "0 0 * * MON#2": day-of-week field "MON#2": "MON#2" is not standard cron (L, W, # and ? are not supported)`},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			c, err := schedule.Parse(tt.expr)
			require.Error(t, err)
			assert.Nil(t, c)
			assert.ErrorIs(t, err, schedule.ErrInvalid)
			var pe *schedule.ParseError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tt.expr, pe.Expr)
			assert.Equal(t, tt.field, pe.Field)
			assert.Equal(t, tt.value, pe.Value)
			assert.NotEmpty(t, pe.Reason)
			assert.Equal(t, tt.msg, err.Error())
		})
	}
}

func TestParseErrorIsOnlyErrInvalid(t *testing.T) {
	_, err := schedule.Parse("0 25 * * *")
	require.Error(t, err)
	assert.ErrorIs(t, err, schedule.ErrInvalid)
	assert.NotErrorIs(t, err, errors.New("schedule: invalid cron expression"))
	wrapped := errors.Join(errors.New("definition \"nightly\""), err)
	assert.ErrorIs(t, wrapped, schedule.ErrInvalid)
}

func TestParseCanonicalString(t *testing.T) {
	for in, want := range map[string]string{
		"0 2 * * *":           "0 2 * * *",
		"  0\t2   * *  mon  ": "0 2 * * mon",
		"@Daily":              "@daily",
		" @weekly ":           "@weekly",
	} {
		c, err := schedule.Parse(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, c.String())
		again, err := schedule.Parse(c.String())
		require.NoError(t, err)
		assert.Equal(t, c, again, "String must parse back to the same schedule")
	}
}

func TestCronText(t *testing.T) {
	type definition struct {
		Cron *schedule.Cron `json:"cron"`
	}
	var d definition
	require.NoError(t, json.Unmarshal([]byte(`{"cron":"0 2 * * *"}`), &d))
	require.NotNil(t, d.Cron)
	assert.Equal(t, "0 2 * * *", d.Cron.String())
	out, err := json.Marshal(d)
	require.NoError(t, err)
	assert.JSONEq(t, `{"cron":"0 2 * * *"}`, string(out))

	err = json.Unmarshal([]byte(`{"cron":"0 25 * * *"}`), &d)
	assert.ErrorIs(t, err, schedule.ErrInvalid)
	var pe *schedule.ParseError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "hour", pe.Field)

	// A failed UnmarshalText leaves the Cron as it was.
	c, err := schedule.Parse("@hourly")
	require.NoError(t, err)
	require.Error(t, c.UnmarshalText([]byte("nope")))
	assert.Equal(t, "@hourly", c.String())
}
