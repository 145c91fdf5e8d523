package schedule_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/schedule"
	"github.com/debrief-go/debrief/schedule/scheduletest"
)

func TestDue(t *testing.T) {
	nightly := mustParse(t, "0 2 * * *")
	never := mustParse(t, "0 0 30 2 *")
	plus2 := time.FixedZone("UTC+2", 2*60*60)
	tests := []struct {
		name     string
		s        schedule.Schedule
		now      string
		lastRun  time.Time
		wantSlot string // "" for none
		wantDue  bool
	}{
		{"never ran", nightly, "2025-03-01 10:00", time.Time{}, "2025-03-01 02:00", true},
		{"never ran, before tonight's slot", nightly, "2025-03-01 01:59", time.Time{}, "2025-02-28 02:00", true},
		{"ran before the slot", nightly, "2025-03-01 10:00", at(t, "2025-02-28 02:00:05"), "2025-03-01 02:00", true},
		{"ran a nanosecond before the slot", nightly, "2025-03-01 10:00", at(t, "2025-03-01 01:59:59.999999999"), "2025-03-01 02:00", true},
		{"ran at the slot", nightly, "2025-03-01 10:00", at(t, "2025-03-01 02:00"), "2025-03-01 02:00", false},
		{"ran after the slot", nightly, "2025-03-01 10:00", at(t, "2025-03-01 02:00:30"), "2025-03-01 02:00", false},
		{"on-demand run after the slot", nightly, "2025-03-01 23:59", at(t, "2025-03-01 14:00"), "2025-03-01 02:00", false},
		{"run at the slot, in another zone", nightly, "2025-03-01 10:00", time.Date(2025, 3, 1, 4, 0, 0, 0, plus2), "2025-03-01 02:00", false},
		{"now is the slot", nightly, "2025-03-01 02:00", at(t, "2025-02-28 02:00:10"), "2025-03-01 02:00", true},
		{"now has seconds", nightly, "2025-03-01 02:00:59.5", at(t, "2025-02-28 02:00:10"), "2025-03-01 02:00", true},
		{"a minute before the slot", nightly, "2025-03-01 01:59:59.999", at(t, "2025-02-28 02:00:10"), "2025-02-28 02:00", false},
		{"after five days down, only the latest slot", nightly, "2025-03-06 09:00", at(t, "2025-03-01 02:00:10"), "2025-03-06 02:00", true},
		{"now in another zone", nightly, "2025-03-01 10:00", at(t, "2025-02-28 02:00:10"), "2025-03-01 02:00", true},
		{"no slot at all", never, "2025-03-01 10:00", time.Time{}, "", false},
		{"no slot yet", sparse{at(t, "2030-01-01 00:00")}, "2025-03-01 10:00", time.Time{}, "", false},
		{"a host schedule", nextOnly{nightly}, "2025-03-01 10:00", at(t, "2025-02-28 02:00:05"), "2025-03-01 02:00", true},
		{"a host schedule, already run", nextOnly{nightly}, "2025-03-01 10:00", at(t, "2025-03-01 02:00:05"), "2025-03-01 02:00", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := at(t, tt.now)
			if tt.name == "now in another zone" {
				now = now.In(plus2)
			}
			slot, due := schedule.Due(tt.s, now, tt.lastRun)
			assert.Equal(t, tt.wantDue, due)
			if tt.wantSlot == "" {
				assert.True(t, slot.IsZero(), "slot %s", slot)
				return
			}
			assert.Equal(t, at(t, tt.wantSlot), slot)
		})
	}
}

func TestLate(t *testing.T) {
	slot := at(t, "2025-03-01 02:00")
	tests := []struct {
		name        string
		now         time.Time
		maxLateness time.Duration
		want        bool
	}{
		{"on time", slot, time.Hour, false},
		{"within lateness", slot.Add(59 * time.Minute), time.Hour, false},
		{"exactly the lateness", slot.Add(time.Hour), time.Hour, false},
		{"a nanosecond past", slot.Add(time.Hour + time.Nanosecond), time.Hour, true},
		{"days late", slot.Add(72 * time.Hour), time.Hour, true},
		{"zero means no limit", slot.Add(10 * 365 * 24 * time.Hour), 0, false},
		{"negative means no limit", slot.Add(72 * time.Hour), -time.Hour, false},
		{"slot in the future", slot.Add(-time.Hour), time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, schedule.Late(slot, tt.now, tt.maxLateness))
		})
	}
}

// run is one run a scheduler created.
type run struct{ slot, created time.Time }

// runStore is a host's store for one definition: its runs, and the atomic
// claim of a slot.
type runStore struct {
	mu        sync.Mutex
	enabledAt time.Time // slots before it never fire
	runs      []run
	lost      int // claims refused because the slot was already served
}

// lastRun returns the creation time of the most recent run, or when the
// schedule was enabled if there is none.
func (s *runStore) lastRun() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.runs) == 0 {
		return s.enabledAt
	}
	return s.runs[len(s.runs)-1].created
}

// claim creates a run at now for slot iff no run was created at or after
// slot — the due rule, re-checked atomically.
func (s *runStore) claim(slot, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.runs); n > 0 && !s.runs[n-1].created.Before(slot) {
		s.lost++
		return false
	}
	s.runs = append(s.runs, run{slot: slot, created: now})
	return true
}

// scheduler is the loop a host runs on each replica: it knows only the last
// run's creation time, which it loads when it starts.
type scheduler struct {
	sched       schedule.Schedule
	clock       schedule.Clock
	store       *runStore
	maxLateness time.Duration
	lastRun     time.Time
}

func startScheduler(s schedule.Schedule, clock schedule.Clock, store *runStore, maxLateness time.Duration) *scheduler {
	return &scheduler{sched: s, clock: clock, store: store, maxLateness: maxLateness, lastRun: store.lastRun()}
}

func (l *scheduler) tick() {
	now := l.clock.Now()
	slot, due := schedule.Due(l.sched, now, l.lastRun)
	if !due || schedule.Late(slot, now, l.maxLateness) {
		return
	}
	l.store.claim(slot, now)
	l.lastRun = l.store.lastRun() // ours, or the replica's that won the claim
}

// simulation drives one or more replicas with a fake clock ticking every
// 30 seconds.
type simulation struct {
	expr        string
	from, to    time.Time
	maxLateness time.Duration
	replicas    int
	offset      time.Duration             // replica i ticks i*offset after replica 0
	down        func(now time.Time) bool  // no replica ticks while down; each restarts after
	restart     func(rng *rand.Rand) bool // restart a replica before its tick
}

func (sim simulation) run(t *testing.T) *runStore {
	t.Helper()
	c := mustParse(t, sim.expr)
	clock := scheduletest.NewClock(sim.from)
	store := &runStore{enabledAt: sim.from}
	rng := rand.New(rand.NewPCG(7, 8))
	replicas := max(sim.replicas, 1)
	loops := make([]*scheduler, replicas)
	for i := range loops {
		loops[i] = startScheduler(c, clock, store, sim.maxLateness)
	}
	wasDown := false
	for now := sim.from; now.Before(sim.to); now = now.Add(30 * time.Second) {
		if sim.down != nil && sim.down(now) {
			wasDown = true
			continue
		}
		for i := range loops {
			if wasDown || (sim.restart != nil && sim.restart(rng)) {
				loops[i] = startScheduler(c, clock, store, sim.maxLateness)
			}
			clock.Set(now.Add(time.Duration(i) * sim.offset))
			loops[i].tick()
		}
		wasDown = false
	}
	return store
}

// checkNightly asserts one run per day of [from, to), each for that day's
// 02:00 slot and created within 30 seconds of it.
func checkNightly(t *testing.T, runs []run, from, to time.Time) {
	t.Helper()
	days := int(to.Sub(from) / (24 * time.Hour))
	require.Equal(t, days, len(runs), "number of runs")
	for i, r := range runs {
		want := from.AddDate(0, 0, i).Add(2 * time.Hour)
		require.Equal(t, want, r.slot, "run %d", i)
		require.False(t, r.created.Before(r.slot), "run %d created before its slot", i)
		require.Less(t, r.created.Sub(r.slot), 30*time.Second, "run %d late", i)
	}
}

func TestNightlyOverAYear(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		year, days int
	}{{2025, 365}, {2024, 366}} {
		from := time.Date(tt.year, 1, 1, 0, 0, 0, 0, time.UTC)
		to := from.AddDate(1, 0, 0)
		t.Run(fmt.Sprintf("%d/steady", tt.year), func(t *testing.T) {
			store := simulation{expr: "0 2 * * *", from: from, to: to}.run(t)
			require.Len(t, store.runs, tt.days)
			checkNightly(t, store.runs, from, to)
		})
		t.Run(fmt.Sprintf("%d/restarts", tt.year), func(t *testing.T) {
			restarts := 0
			store := simulation{
				expr: "0 2 * * *", from: from, to: to,
				// about one restart an hour, some in the very tick of a slot
				restart: func(rng *rand.Rand) bool {
					if rng.IntN(120) == 0 {
						restarts++
						return true
					}
					return false
				},
			}.run(t)
			require.Greater(t, restarts, 8000)
			require.Len(t, store.runs, tt.days)
			checkNightly(t, store.runs, from, to)
		})
	}
}

// TestRestartEveryTick: a scheduler that remembers nothing between ticks
// (it reloads the last run every time) still fires each slot once.
func TestRestartEveryTick(t *testing.T) {
	from := at(t, "2025-01-01 00:00")
	to := from.AddDate(0, 2, 0)
	store := simulation{expr: "0 2 * * *", from: from, to: to, restart: func(*rand.Rand) bool { return true }}.run(t)
	checkNightly(t, store.runs, from, to)
}

func TestDowntime(t *testing.T) {
	t.Parallel()
	from := at(t, "2025-03-01 00:00")
	to := from.AddDate(0, 1, 0) // 31 nights
	downFrom, downTo := at(t, "2025-03-10 01:00"), at(t, "2025-03-13 05:00")
	down := func(now time.Time) bool { return !now.Before(downFrom) && now.Before(downTo) }
	slotsOf := func(runs []run) map[string]time.Time {
		m := map[string]time.Time{}
		for _, r := range runs {
			m[r.slot.Format("2006-01-02")] = r.created
		}
		return m
	}

	t.Run("only the latest missed slot fires", func(t *testing.T) {
		store := simulation{expr: "0 2 * * *", from: from, to: to, down: down}.run(t)
		require.Len(t, store.runs, 31-3, "the slots of Mar 10, 11 and 12 are lost")
		slots := slotsOf(store.runs)
		require.Len(t, slots, len(store.runs), "no slot fires twice")
		for _, day := range []string{"2025-03-10", "2025-03-11", "2025-03-12"} {
			assert.NotContains(t, slots, day)
		}
		assert.Equal(t, downTo, slots["2025-03-13"], "Mar 13's slot fires, late, on the first tick back")
		assert.Equal(t, at(t, "2025-03-14 02:00"), slots["2025-03-14"])
		assert.Equal(t, at(t, "2025-03-09 02:00"), slots["2025-03-09"])
	})
	t.Run("a slot older than the lateness is skipped", func(t *testing.T) {
		store := simulation{expr: "0 2 * * *", from: from, to: to, down: down, maxLateness: time.Hour}.run(t)
		require.Len(t, store.runs, 31-4)
		slots := slotsOf(store.runs)
		assert.NotContains(t, slots, "2025-03-13")
		assert.Equal(t, at(t, "2025-03-14 02:00"), slots["2025-03-14"], "the next slot fires on time")
	})
	t.Run("a slot within the lateness fires", func(t *testing.T) {
		store := simulation{expr: "0 2 * * *", from: from, to: to, down: down, maxLateness: 4 * time.Hour}.run(t)
		require.Len(t, store.runs, 31-3)
		assert.Equal(t, downTo, slotsOf(store.runs)["2025-03-13"])
	})
	t.Run("down over a slot, back before the next", func(t *testing.T) {
		store := simulation{expr: "0 2 * * *", from: from, to: to,
			down: func(now time.Time) bool {
				return !now.Before(at(t, "2025-03-20 01:59")) && now.Before(at(t, "2025-03-20 02:10"))
			}}.run(t)
		require.Len(t, store.runs, 31)
		assert.Equal(t, at(t, "2025-03-20 02:10"), slotsOf(store.runs)["2025-03-20"])
	})
}

func TestReplicas(t *testing.T) {
	t.Parallel()
	from := at(t, "2025-01-01 00:00")
	to := from.AddDate(0, 3, 0)
	t.Run("same instant", func(t *testing.T) {
		store := simulation{expr: "0 2 * * *", from: from, to: to, replicas: 3}.run(t)
		checkNightly(t, store.runs, from, to)
		assert.Equal(t, 2*len(store.runs), store.lost, "both other replicas lose every claim")
	})
	t.Run("staggered, with restarts", func(t *testing.T) {
		store := simulation{expr: "0 2 * * *", from: from, to: to, replicas: 3, offset: 7 * time.Second,
			restart: func(rng *rand.Rand) bool { return rng.IntN(50) == 0 }}.run(t)
		checkNightly(t, store.runs, from, to)
	})
	t.Run("concurrent ticks", func(t *testing.T) {
		// Replicas tick at the same moment from their own goroutines; the
		// claim alone keeps each slot to one run.
		c := mustParse(t, "*/5 * * * *")
		clock := scheduletest.NewClock(from)
		store := &runStore{enabledAt: from}
		loops := make([]*scheduler, 4)
		for i := range loops {
			loops[i] = startScheduler(c, clock, store, 0)
		}
		end := from.Add(24 * time.Hour)
		for ; clock.Now().Before(end); clock.Advance(30 * time.Second) {
			var wg sync.WaitGroup
			for _, l := range loops {
				wg.Add(1)
				go func() { defer wg.Done(); l.tick() }()
			}
			wg.Wait()
		}
		// Every 5-minute slot after the enabling time (which serves the first).
		const slots = 24*12 - 1
		require.Equal(t, slots, len(store.runs))
		for i, r := range store.runs {
			require.Equal(t, from.Add(time.Duration(i+1)*5*time.Minute), r.slot)
		}
		assert.Equal(t, 3*slots, store.lost)
	})
}

// TestSlotsBeforeEnabling: with no run yet, the latest slot before the
// schedule was enabled fires unless the enabling time stands in for the
// last run.
func TestSlotsBeforeEnabling(t *testing.T) {
	c := mustParse(t, "0 2 * * *")
	enabled := at(t, "2025-03-01 10:00")
	slot, due := schedule.Due(c, enabled, time.Time{})
	assert.True(t, due)
	assert.Equal(t, at(t, "2025-03-01 02:00"), slot)

	_, due = schedule.Due(c, enabled, enabled)
	assert.False(t, due)
	slot, due = schedule.Due(c, at(t, "2025-03-02 02:00:30"), enabled)
	assert.True(t, due)
	assert.Equal(t, at(t, "2025-03-02 02:00"), slot)
}
