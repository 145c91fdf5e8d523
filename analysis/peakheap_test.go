package analysis_test

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/llm"
)

// gatedModel answers instantly, but every `every` calls it pauses all
// model calls while measure runs: a quiet moment in which a garbage
// collection finds what the run really holds, without the garbage that
// a busy heap floats.
type gatedModel struct {
	gate    sync.RWMutex
	calls   atomic.Int64
	every   int64
	measure func()
}

func (g *gatedModel) Generate(ctx context.Context, req llm.Request) (llm.Response, error) {
	if n := g.calls.Add(1); n%g.every == 0 {
		g.gate.Lock()
		g.measure()
		g.gate.Unlock()
	}
	g.gate.RLock()
	defer g.gate.RUnlock()
	return instantModel.Generate(ctx, req)
}

// peakSampler records, while it runs, the largest live heap a garbage
// collection measured. Collections are made frequent (GOGC=10) so that
// short-lived peaks are seen; the figure includes the garbage allocated
// while a collection marks, which grows with the heap's size.
type peakSampler struct {
	stop chan struct{}
	done sync.WaitGroup
	peak uint64
	gogc int
}

func lastLive() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func startPeakSampler() *peakSampler {
	p := &peakSampler{stop: make(chan struct{}), gogc: debug.SetGCPercent(10)}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		t := time.NewTicker(100 * time.Microsecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.peak = max(p.peak, lastLive())
			}
		}
	}()
	return p
}

func (p *peakSampler) Stop() uint64 {
	close(p.stop)
	p.done.Wait()
	debug.SetGCPercent(p.gogc)
	return max(p.peak, lastLive())
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkRunPeakHeap runs the whole pipeline — extraction, judge,
// accuracy, store mode — over n conversations against memstore with an
// instant model and reports:
//   - "stored-MB": what is live after the run (the store's conversations
//     and items);
//   - "peak-MB": the largest live heap any garbage collection measured
//     during the run, with collections made frequent (GOGC=10) so that
//     short-lived peaks show; it includes the garbage allocated while a
//     collection marks, which grows with the heap;
//   - "working-MB": the run's own working memory, which must not grow with
//     n. Twenty times during the run every model call is paused, a full
//     collection measures the live heap, and the excess over what the
//     store held at that moment is taken (the live heap once the run was
//     created, plus the store's growth per item — from the final
//     measurement — times the items saved so far). After the run, the
//     same excess is measured once more.
func BenchmarkRunPeakHeap(b *testing.B) {
	for _, n := range []int{1000, 10000, 50000} {
		b.Run(fmt.Sprint("n=", n), func(b *testing.B) {
			var peak, stored, working float64
			for b.Loop() {
				b.StopTimer()
				model := &gatedModel{every: int64(2 * n / 20)} // two calls per conversation
				e := newEnv(b, nil, func(c *analysis.Config, _ *analysis.ExecutorConfig) { c.MaxRunConversations = n })
				// An executor on the store itself: the test's claim recorder
				// would grow with n.
				var err error
				e.exec, err = analysis.NewExecutor(analysis.ExecutorConfig{Store: e.store, Model: model, Clock: e.clock, Concurrency: 8, LeaseDuration: time.Hour})
				require.NoError(b, err)
				ingestBulk(b, e, n)
				d, err := e.svc.CreateDefinition(context.Background(), scope, intentDefinition())
				require.NoError(b, err)
				var base uint64
				type sample struct {
					live  uint64
					items int
				}
				var samples []sample
				var runID string
				model.measure = func() {
					r, err := e.store.GetRun(context.Background(), scope, runID)
					require.NoError(b, err)
					items := r.Counters.Items
					r = analysis.Run{}
					samples = append(samples, sample{liveHeap(), items})
				}
				b.StartTimer()
				ps := startPeakSampler()
				r, err := e.svc.StartRun(context.Background(), scope, d.Key, analysis.Selection{Strategy: analysis.SelectAll})
				require.NoError(b, err)
				model.gate.Lock()
				runID, r = r.ID, analysis.Run{}
				base = liveHeap() // the run and its keys are stored
				model.gate.Unlock()
				_, err = e.exec.Drain(context.Background())
				require.NoError(b, err)
				b.StopTimer()
				peak = float64(ps.Stop()) / 1e6
				final := liveHeap()
				perItem := float64(final-base) / float64(n)
				samples = append(samples, sample{final, n})
				stored, working = float64(final)/1e6, 0
				for _, s := range samples {
					working = max(working, (float64(s.live)-float64(base)-perItem*float64(s.items))/1e6)
				}
				runtime.KeepAlive(e)
				b.StartTimer()
			}
			b.ReportMetric(peak, "peak-MB")
			b.ReportMetric(stored, "stored-MB")
			b.ReportMetric(working, "working-MB")
		})
	}
}

// ingestBulk stores n small conversations in batches.
func ingestBulk(t testing.TB, e *env, n int) {
	t.Helper()
	const batch = 5000
	for start := 0; start < n; start += batch {
		var ins []analysis.ConversationInput
		for i := start; i < min(start+batch, n); i++ {
			ins = append(ins, analysis.ConversationInput{
				Key: fmt.Sprintf("call-%06d", i),
				Transcript: extract.Transcript{
					{Role: "caller", Content: fmt.Sprintf("Hello, this is about billing. Ticket %d.", i)},
					{Role: "agent", Content: "Done, anything else?"},
				},
				ReferenceFields: map[string]any{"intent": "billing", "resolved": true},
			})
		}
		_, err := e.svc.IngestConversations(context.Background(), scope, ins)
		require.NoError(t, err)
	}
}
