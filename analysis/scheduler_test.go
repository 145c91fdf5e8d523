package analysis_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/extract"
)

// scheduled creates the intent definition with the given cron, at the
// clock's current time.
func scheduled(t *testing.T, e *env, cron string) analysis.Definition {
	t.Helper()
	in := intentDefinition()
	in.Schedule = &analysis.Schedule{Cron: cron, Enabled: true, Selection: &analysis.Selection{Strategy: analysis.SelectAll}}
	d, err := e.svc.CreateDefinition(context.Background(), scope, in)
	require.NoError(t, err)
	return d
}

// drain lets the executor finish every run there is.
func drain(t *testing.T, e *env) {
	t.Helper()
	for {
		ok, err := e.exec.RunOnce(context.Background())
		require.NoError(t, err)
		if !ok {
			return
		}
	}
}

func slotRuns(t *testing.T, e *env, defKey string) []analysis.Run {
	t.Helper()
	runs, err := e.store.ListRuns(context.Background(), scope, analysis.RunQuery{DefinitionKey: defKey, Limit: 100000})
	require.NoError(t, err)
	return runs
}

func TestSchedulerFiresNightlyOncePerNightForAYear(t *testing.T) {
	for _, year := range []int{2025, 2024} {
		t.Run(fmt.Sprint(year), func(t *testing.T) {
			e := newEnv(t, instantModel)
			e.clock.Set(time.Date(year-1, 12, 31, 12, 0, 0, 0, time.UTC))
			ingest(t, e, 2)
			d := scheduled(t, e, "0 2 * * *")
			sc := e.svc.Scheduler(analysis.SchedulerConfig{})
			end := time.Date(year+1, 1, 1, 0, 0, 0, 0, time.UTC)
			restarts := 0
			for e.clock.Now().Before(end) {
				e.clock.Advance(30 * time.Minute)
				if e.clock.Now().Minute() == 30 && e.clock.Now().Hour()%7 == 0 {
					sc = e.svc.Scheduler(analysis.SchedulerConfig{}) // a restart: nothing is kept in memory
					restarts++
				}
				rep, err := sc.Tick(context.Background())
				require.NoError(t, err)
				if len(rep.Fired) > 0 {
					drain(t, e)
				}
			}
			runs := slotRuns(t, e, d.Key)
			days := 365
			if year == 2024 {
				days = 366
			}
			require.Len(t, runs, days, "one run per night, %d restarts in between", restarts)
			seen := map[string]bool{}
			for _, r := range runs {
				require.Equal(t, analysis.TriggerSchedule, r.Trigger.Type)
				require.NotNil(t, r.Trigger.Slot)
				slot := *r.Trigger.Slot
				assert.Equal(t, 2, slot.Hour())
				assert.Equal(t, 0, slot.Minute())
				assert.Equal(t, year, slot.Year())
				assert.False(t, seen[slot.Format(time.DateOnly)], "one run for %s", slot.Format(time.DateOnly))
				seen[slot.Format(time.DateOnly)] = true
				assert.True(t, r.CreatedAt.Sub(slot) < 30*time.Minute, "fired on the first tick after the slot")
				assert.Equal(t, analysis.RunCompleted, r.Status)
			}
		})
	}
}

func TestSchedulerNewScheduleWaitsForItsFirstSlot(t *testing.T) {
	e := newEnv(t, instantModel)
	e.clock.Set(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC))
	ingest(t, e, 1)
	d := scheduled(t, e, "0 2 * * *")
	sc := e.svc.Scheduler(analysis.SchedulerConfig{})
	rep, err := sc.Tick(context.Background())
	require.NoError(t, err)
	assert.Empty(t, rep.Fired, "this morning's 02:00 came before the schedule existed")
	e.clock.Set(time.Date(2026, 5, 2, 2, 0, 0, 0, time.UTC))
	rep, err = sc.Tick(context.Background())
	require.NoError(t, err)
	require.Len(t, rep.Fired, 1)
	assert.Equal(t, d.Key, rep.Fired[0].DefinitionKey)
	assert.True(t, rep.Fired[0].Slot.Equal(time.Date(2026, 5, 2, 2, 0, 0, 0, time.UTC)))
	rep, err = sc.Tick(context.Background())
	require.NoError(t, err)
	assert.Empty(t, rep.Fired, "a slot fires at most once")
}

func TestSchedulerNoBackfillAfterDowntime(t *testing.T) {
	e := newEnv(t, instantModel)
	e.clock.Set(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC))
	ingest(t, e, 1)
	d := scheduled(t, e, "0 2 * * *")
	sc := e.svc.Scheduler(analysis.SchedulerConfig{})
	e.clock.Set(time.Date(2026, 5, 2, 2, 5, 0, 0, time.UTC))
	_, err := sc.Tick(context.Background())
	require.NoError(t, err)
	drain(t, e)
	// Down for four days.
	e.clock.Set(time.Date(2026, 5, 6, 9, 0, 0, 0, time.UTC))
	rep, err := sc.Tick(context.Background())
	require.NoError(t, err)
	require.Len(t, rep.Fired, 1, "only the latest missed slot")
	assert.True(t, rep.Fired[0].Slot.Equal(time.Date(2026, 5, 6, 2, 0, 0, 0, time.UTC)))
	drain(t, e)
	rep, err = sc.Tick(context.Background())
	require.NoError(t, err)
	assert.Empty(t, rep.Fired)
	assert.Len(t, slotRuns(t, e, d.Key), 2)
}

func TestSchedulerManualRunSuppressesTheSlot(t *testing.T) {
	e := newEnv(t, instantModel)
	e.clock.Set(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC))
	ingest(t, e, 1)
	d := scheduled(t, e, "0 2 * * *")
	sc := e.svc.Scheduler(analysis.SchedulerConfig{})
	e.clock.Set(time.Date(2026, 5, 2, 2, 30, 0, 0, time.UTC))
	_, err := e.svc.StartRun(context.Background(), scope, d.Key, analysis.Selection{Strategy: analysis.SelectAll})
	require.NoError(t, err)
	drain(t, e)
	rep, err := sc.Tick(context.Background())
	require.NoError(t, err)
	assert.Empty(t, rep.Fired, "a run created after the slot has served it")
}

func TestSchedulerWaitsForARunInProgress(t *testing.T) {
	e := newEnv(t, instantModel)
	e.clock.Set(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC))
	ingest(t, e, 1)
	d := scheduled(t, e, "0 2 * * *")
	sc := e.svc.Scheduler(analysis.SchedulerConfig{})
	e.clock.Set(time.Date(2026, 5, 2, 1, 55, 0, 0, time.UTC))
	manual, err := e.svc.StartRun(context.Background(), scope, d.Key, analysis.Selection{Strategy: analysis.SelectAll})
	require.NoError(t, err)

	e.clock.Set(time.Date(2026, 5, 2, 2, 0, 0, 0, time.UTC))
	for range 3 {
		rep, err := sc.Tick(context.Background())
		require.NoError(t, err)
		require.Len(t, rep.Waiting, 1, "due, but a run is in progress")
		assert.Empty(t, rep.Fired)
		e.clock.Advance(10 * time.Minute)
	}
	drain(t, e)
	rep, err := sc.Tick(context.Background())
	require.NoError(t, err)
	require.Len(t, rep.Fired, 1, "it fires once the run is done")
	assert.True(t, rep.Fired[0].Slot.Equal(time.Date(2026, 5, 2, 2, 0, 0, 0, time.UTC)))
	assert.NotEqual(t, manual.ID, rep.Fired[0].RunID)
}

func TestSchedulerSkipsALateSlot(t *testing.T) {
	e := newEnv(t, instantModel)
	e.clock.Set(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC))
	ingest(t, e, 1)
	d := scheduled(t, e, "0 2 * * *")
	sc := e.svc.Scheduler(analysis.SchedulerConfig{MaxLateness: time.Hour})
	e.clock.Set(time.Date(2026, 5, 2, 1, 55, 0, 0, time.UTC))
	_, err := e.svc.StartRun(context.Background(), scope, d.Key, analysis.Selection{Strategy: analysis.SelectAll})
	require.NoError(t, err)
	e.clock.Set(time.Date(2026, 5, 2, 2, 30, 0, 0, time.UTC))
	rep, err := sc.Tick(context.Background())
	require.NoError(t, err)
	assert.Len(t, rep.Waiting, 1)
	e.clock.Set(time.Date(2026, 5, 2, 3, 1, 0, 0, time.UTC))
	rep, err = sc.Tick(context.Background())
	require.NoError(t, err)
	require.Len(t, rep.Skipped, 1)
	assert.Equal(t, "the slot was more than 1h0m0s late", rep.Skipped[0].Skipped)
	drain(t, e)
	rep, err = sc.Tick(context.Background())
	require.NoError(t, err)
	assert.Empty(t, rep.Fired, "a skipped slot never fires")
	assert.Empty(t, rep.Skipped, "and is skipped once")

	slots, err := e.svc.ListSlots(context.Background(), scope, d.Key, 0)
	require.NoError(t, err)
	require.Len(t, slots, 1)
	assert.Equal(t, "the slot was more than 1h0m0s late", slots[0].Skipped, "the skip is recorded")
	assert.True(t, slots[0].At.Equal(time.Date(2026, 5, 2, 3, 1, 0, 0, time.UTC)))
	_, err = e.svc.ListSlots(context.Background(), other, d.Key, 0)
	assert.ErrorIs(t, err, analysis.ErrNotFound)
}

func TestSchedulerSkipsASlotWhoseRunCannotStart(t *testing.T) {
	e := newEnv(t, instantModel, func(c *analysis.Config, _ *analysis.ExecutorConfig) { c.MaxRunConversations = 2 })
	e.clock.Set(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC))
	ingest(t, e, 3)
	d := scheduled(t, e, "0 2 * * *")
	sc := e.svc.Scheduler(analysis.SchedulerConfig{})
	e.clock.Set(time.Date(2026, 5, 2, 2, 0, 0, 0, time.UTC))
	rep, err := sc.Tick(context.Background())
	require.NoError(t, err)
	require.Len(t, rep.Skipped, 1)
	assert.Contains(t, rep.Skipped[0].Skipped, "the selection has 3 conversations, more than the 2")
	rep, err = sc.Tick(context.Background())
	require.NoError(t, err)
	assert.Empty(t, rep.Skipped, "not retried every tick")
	assert.Empty(t, slotRuns(t, e, d.Key))
}

func TestSchedulerDefaultSelectionIsUnanalyzed(t *testing.T) {
	e := newEnv(t, instantModel)
	e.clock.Set(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC))
	ingest(t, e, 3)
	in := intentDefinition()
	in.Schedule = &analysis.Schedule{Cron: "0 2 * * *", Enabled: true}
	d, err := e.svc.CreateDefinition(context.Background(), scope, in)
	require.NoError(t, err)
	sc := e.svc.Scheduler(analysis.SchedulerConfig{})
	e.clock.Set(time.Date(2026, 5, 2, 2, 0, 0, 0, time.UTC))
	_, err = sc.Tick(context.Background())
	require.NoError(t, err)
	drain(t, e)
	_, err = e.svc.IngestConversations(context.Background(), scope, []analysis.ConversationInput{{Name: "Late call",
		Transcript: extract.Transcript{{Role: "caller", Content: "about billing"}}}})
	require.NoError(t, err)
	e.clock.Set(time.Date(2026, 5, 3, 2, 0, 0, 0, time.UTC))
	rep, err := sc.Tick(context.Background())
	require.NoError(t, err)
	require.Len(t, rep.Fired, 1)
	r, err := e.svc.GetRun(context.Background(), scope, rep.Fired[0].RunID)
	require.NoError(t, err)
	assert.Equal(t, analysis.SelectUnanalyzed, r.Selection.Strategy)
	assert.Equal(t, []string{"late-call"}, runKeys(t, e, r), "the second night covers only what came in since")
	assert.Equal(t, d.Key, r.DefinitionKey)
}

func TestSchedulerLeapDays(t *testing.T) {
	e := newEnv(t, instantModel)
	e.clock.Set(time.Date(2023, 12, 31, 0, 0, 0, 0, time.UTC))
	ingest(t, e, 1)
	d := scheduled(t, e, "0 0 29 2 *")
	sc := e.svc.Scheduler(analysis.SchedulerConfig{})
	for e.clock.Now().Year() < 2030 {
		e.clock.Advance(12 * time.Hour)
		_, err := sc.Tick(context.Background())
		require.NoError(t, err)
		drain(t, e)
	}
	var slots []string
	for _, r := range slotRuns(t, e, d.Key) {
		slots = append(slots, r.Trigger.Slot.Format(time.DateOnly))
	}
	assert.ElementsMatch(t, []string{"2024-02-29", "2028-02-29"}, slots)
}

func TestSchedulerMonthEnds(t *testing.T) {
	e := newEnv(t, instantModel)
	e.clock.Set(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ingest(t, e, 1)
	d := scheduled(t, e, "30 23 31 * *")
	sc := e.svc.Scheduler(analysis.SchedulerConfig{})
	for e.clock.Now().Year() < 2027 {
		e.clock.Advance(time.Hour)
		_, err := sc.Tick(context.Background())
		require.NoError(t, err)
		drain(t, e)
	}
	var months []time.Month
	for _, r := range slotRuns(t, e, d.Key) {
		months = append(months, r.Trigger.Slot.Month())
	}
	assert.ElementsMatch(t, []time.Month{1, 3, 5, 7, 8, 10, 12}, months, "only months with a 31st")
}

func TestThreeReplicasFireEachSlotExactlyOnce(t *testing.T) {
	e := newEnv(t, instantModel)
	e.clock.Set(time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC))
	ingest(t, e, 2)
	d := scheduled(t, e, "0 * * * *") // hourly: 1,000 slots
	replicas := []*analysis.Scheduler{
		e.svc.Scheduler(analysis.SchedulerConfig{}),
		e.svc.Scheduler(analysis.SchedulerConfig{}),
		e.svc.Scheduler(analysis.SchedulerConfig{}),
	}
	fired := make([]int, len(replicas))
	for range 1000 {
		e.clock.Advance(time.Hour)
		var wg sync.WaitGroup
		for i, sc := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rep, err := sc.Tick(context.Background())
				assert.NoError(t, err)
				fired[i] += len(rep.Fired)
			}()
		}
		wg.Wait()
		drain(t, e)
	}
	runs := slotRuns(t, e, d.Key)
	require.Len(t, runs, 1000, "each of 1,000 slots fired exactly once")
	seen := map[time.Time]bool{}
	for _, r := range runs {
		assert.False(t, seen[*r.Trigger.Slot])
		seen[*r.Trigger.Slot] = true
	}
	assert.Equal(t, 1000, fired[0]+fired[1]+fired[2])
	t.Logf("slots fired per replica: %v", fired)
}

func TestSchedulerRunStopsOnCancellation(t *testing.T) {
	e := newEnv(t, instantModel)
	e.clock.Set(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC))
	ingest(t, e, 1)
	d := scheduled(t, e, "* * * * *")
	e.clock.Advance(time.Minute)
	sc := e.svc.Scheduler(analysis.SchedulerConfig{Tick: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- sc.Run(ctx) }()
	require.Eventually(t, func() bool { return len(slotRuns(t, e, d.Key)) == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	assert.NoError(t, <-done)
}
