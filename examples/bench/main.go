// Command bench runs N conversations through debrief's whole analysis
// pipeline — ingest, a run with extraction, judge, accuracy and store
// modes, an executor with bounded concurrency — against a simulated model
// that answers after a fixed latency, and prints what it measured: how
// close the run's wall time comes to the ideal the model's latency allows,
// and what the harness costs in CPU time and allocation per conversation.
//
//	go run ./examples/bench -n 10000 -latency 20ms -concurrency 64 -baseline
//	go run ./examples/bench -n 10000 -latency 0 -json
//
// With -baseline it also runs a bare pool of as many goroutines making the
// same model calls, in the same process, so that the harness's overhead is
// read against the floor of the same machine at the same moment — once in
// lockstep, and once with the goroutines' starts spread over one latency.
//
// The conversations are sixty STAR dialogues (MIT licence, in testdata),
// repeated with unique keys.
//
// Flags:
//
//	-n            conversations to run (default 10000)
//	-latency      the model's latency, a Go duration (default 20ms; 0 for instant)
//	-concurrency  the executor's workers, and the baseline's (default 64)
//	-modes        comma list of extract,judge,accuracy,store (default all)
//	-store        memory, or a PostgreSQL URL: the run on analysis/pgstore (schema
//	              debrief_bench, a scope of its own per run)
//	-join         with -store URL: only work on the runs other bench
//	              processes start, until idle, to spread a run over processes
//	-llm-base-url an OpenAI-compatible server to call through llm/openai
//	              instead of the simulated model, so that the figures
//	              include the HTTP client; its key is $OPENAI_API_KEY, and
//	              -latency then states the server's latency, for the ideal
//	              (examples/bench/fakeserver is such a server)
//	-llm-model    the model key sent to -llm-base-url (default gpt-4o-mini)
//	-baseline     also run the bare worker pool
//	-cpuprofile   write a CPU profile of the harness run to this file
//	-json         print one JSON object instead of text
//	-sim-timer    let the simulated model wait on the runtime's timers
//
// The simulated model answers after its latency to the microsecond, as a
// model whose answer arrives over the network wakes its caller (see waker):
// the runtime's timers, which wake an idle process to the millisecond,
// would favour a pool whose calls end in lockstep. -sim-timer uses them
// all the same, to compare.
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/analysis/memstore"
	"github.com/debrief-go/debrief/analysis/pgstore"
	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/judge"
	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/openai"
)

//go:embed testdata/star-sample-60.json
var sample []byte

// config is what the flags ask for.
type config struct {
	n           int
	latency     time.Duration
	concurrency int
	modes       []string
	store       string
	llmBaseURL  string
	llmModel    string
	llmAPIKey   string
	baseline    bool
	join        bool
	cpuprofile  string
	json        bool
	simTimer    bool
}

var allModes = []string{"extract", "judge", "accuracy", "store"}

func parseFlags(args []string, getenv func(string) string, errOut io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.IntVar(&cfg.n, "n", 10000, "conversations to run")
	fs.DurationVar(&cfg.latency, "latency", 20*time.Millisecond, "the simulated model's latency (0 for instant)")
	fs.IntVar(&cfg.concurrency, "concurrency", 64, "the executor's workers, and the baseline's")
	modes := fs.String("modes", strings.Join(allModes, ","), "comma list of extract,judge,accuracy,store")
	fs.StringVar(&cfg.store, "store", "memory", "memory, or a PostgreSQL URL (schema debrief_bench)")
	fs.StringVar(&cfg.llmBaseURL, "llm-base-url", "", "an OpenAI-compatible server to call instead of the simulated model (key: $OPENAI_API_KEY)")
	fs.StringVar(&cfg.llmModel, "llm-model", "gpt-4o-mini", "the model key sent to -llm-base-url")
	fs.BoolVar(&cfg.baseline, "baseline", false, "also run a bare worker pool making the same model calls")
	fs.BoolVar(&cfg.join, "join", false, "with -store URL: only work on the runs other bench processes start, until idle")
	fs.StringVar(&cfg.cpuprofile, "cpuprofile", "", "write a CPU profile of the harness run to this file")
	fs.BoolVar(&cfg.json, "json", false, "print one JSON object")
	fs.BoolVar(&cfg.simTimer, "sim-timer", false, "let the simulated model wait on the runtime's timers, which wake an idle process to the millisecond, instead of the waker, which wakes it to the microsecond as a network answer does")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	switch {
	case cfg.n < 1:
		return cfg, fmt.Errorf("-n: %d conversations: at least 1", cfg.n)
	case cfg.latency < 0:
		return cfg, fmt.Errorf("-latency: %s is negative", cfg.latency)
	case cfg.concurrency < 1:
		return cfg, fmt.Errorf("-concurrency: %d: at least 1", cfg.concurrency)
	}
	cfg.modes = []string{"extract"}
	for _, m := range strings.Split(*modes, ",") {
		m = strings.TrimSpace(m)
		switch {
		case m == "":
		case !slices.Contains(allModes, m):
			return cfg, fmt.Errorf("-modes: %q is not a mode: use extract, judge, accuracy, store", m)
		case !slices.Contains(cfg.modes, m):
			cfg.modes = append(cfg.modes, m)
		}
	}
	if cfg.store != "memory" && !strings.HasPrefix(cfg.store, "postgres://") && !strings.HasPrefix(cfg.store, "postgresql://") {
		return cfg, fmt.Errorf("-store: %q is neither memory nor a PostgreSQL URL", cfg.store)
	}
	if cfg.join && cfg.store == "memory" {
		return cfg, errors.New("-join: a process joins the runs of others on a shared PostgreSQL store: give -store a URL")
	}
	if cfg.llmBaseURL != "" {
		if _, err := openai.New(openai.Config{BaseURL: cfg.llmBaseURL}); err != nil {
			return cfg, fmt.Errorf("-llm-base-url: %w", err)
		}
		cfg.llmAPIKey = getenv("OPENAI_API_KEY")
	}
	return cfg, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	rep, err := run(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if err := rep.print(os.Stdout, cfg.json); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// report is what the bench measured. Its JSON names are a contract.
type report struct {
	// WallS is the run's wall time, from its start to its completion.
	WallS float64 `json:"wall_s"`
	// IdealS is the wall time the model's latency alone allows: each worker
	// makes its conversations' calls one after another, and the busiest
	// has ⌈n / concurrency⌉ conversations.
	IdealS float64 `json:"ideal_s"`
	// Ratio is WallS / IdealS; null with an instant model.
	Ratio *float64 `json:"ratio"`
	// BaselineRatio is the bare pool's wall time / IdealS; null without
	// -baseline or with an instant model.
	BaselineRatio *float64 `json:"baseline_ratio"`
	// BaselineWallS is the bare pool's wall time; null without -baseline.
	BaselineWallS *float64 `json:"baseline_wall_s"`
	// BaselineSpreadRatio is the ratio of the same pool with its goroutines'
	// starts spread over one latency (its ideal lengthened to match), so
	// that their simulated calls do not end in lockstep; null without
	// -baseline or with an instant model.
	BaselineSpreadRatio *float64 `json:"baseline_spread_ratio"`
	// CPUMicrosPerConv is the process's CPU time during the run, per
	// conversation, the simulated model's included.
	CPUMicrosPerConv float64 `json:"cpu_us_per_conv"`
	// BaselineCPUMicrosPerConv is the process's CPU time during the bare
	// pool's lockstep run, per conversation: what making the calls costs
	// without the harness, the simulated model's waits included. The
	// harness's own CPU is about the difference. Null without -baseline.
	BaselineCPUMicrosPerConv *float64 `json:"baseline_cpu_us_per_conv"`
	// AllocBytesPerConv is the memory allocated during the run, per
	// conversation.
	AllocBytesPerConv float64 `json:"alloc_bytes_per_conv"`
	// AllocsPerConv is the number of allocations during the run, per
	// conversation.
	AllocsPerConv float64 `json:"allocs_per_conv"`
	// GCPercentCPU is the share of the CPU time used during the run that
	// collecting garbage took, as the runtime estimates it at each
	// collection.
	GCPercentCPU float64 `json:"gc_cpu_percent"`
	// PeakRSSBytes is the process's peak resident set size, ingest and
	// stored data included.
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	// Conversations is the number of conversations run.
	Conversations int `json:"conversations"`
	// ModelCalls counts the calls the harness made to the model.
	ModelCalls int64 `json:"model_calls"`
	// Completed and Failed are the run's aggregate.
	Completed int `json:"completed"`
	Failed    int `json:"failed"`
	// Modes, LatencyMS and Concurrency repeat the settings.
	Modes       []string `json:"modes"`
	LatencyMS   float64  `json:"latency_ms"`
	Concurrency int      `json:"concurrency"`
	// GoVersion and CPUs describe the machine.
	GoVersion string `json:"go_version"`
	CPUs      int    `json:"cpus"`
}

func (r report) print(w io.Writer, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		return enc.Encode(r)
	}
	ratio := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf("%.4f", *p)
	}
	baselineCPU := ""
	if r.BaselineCPUMicrosPerConv != nil {
		baselineCPU = fmt.Sprintf(" (the bare pool's calls: %.1f µs)", *r.BaselineCPUMicrosPerConv)
	}
	_, err := fmt.Fprintf(w, `debrief bench: %d conversations, modes %s, model latency %gms, concurrency %d (%s, %d CPUs)
  run:       %.3fs wall, ideal %.3fs, ratio %s; completed %d, failed %d, %d model calls
  baseline:  ratio %s (a bare pool of %d goroutines making the same calls); %s with their starts spread
  harness:   %.1f µs CPU%s, %.0f bytes and %.1f allocations per conversation; GC %.1f%% of CPU
  memory:    peak RSS %.1f MB
`, r.Conversations, strings.Join(r.Modes, ","), r.LatencyMS, r.Concurrency, r.GoVersion, r.CPUs,
		r.WallS, r.IdealS, ratio(r.Ratio), r.Completed, r.Failed, r.ModelCalls,
		ratio(r.BaselineRatio), r.Concurrency, ratio(r.BaselineSpreadRatio),
		r.CPUMicrosPerConv, baselineCPU, r.AllocBytesPerConv, r.AllocsPerConv, r.GCPercentCPU,
		float64(r.PeakRSSBytes)/1e6)
	return err
}

// theWaker is the process's one waker, started when first needed.
var theWaker = sync.OnceValue(newWaker)

// simModel answers every request after its latency: a valid extraction
// for the bench's field set, or a verdict.
type simModel struct {
	latency time.Duration
	waker   *waker // nil: the runtime's timers
}

const (
	extraction = `{"task":"apartment_schedule","completion":"complete","caller_name":"Alexis","resolved":true,` +
		`"sentiment":"neutral","turns_to_resolution":6,"follow_up_needed":false}`
	verdict = `{"reasoning":"The agent stayed polite and closed the conversation.",` +
		`"evidence":[{"turn":1,"quote":"please"}],"score":0.8}`
)

func (m *simModel) Generate(ctx context.Context, req llm.Request) (llm.Response, error) {
	switch {
	case m.latency > 0 && m.waker != nil:
		due := m.waker.after(m.latency)
		select {
		case <-ctx.Done():
			m.waker.forget(due)
			return llm.Response{}, ctx.Err()
		case <-due:
		}
	case m.latency > 0:
		t := time.NewTimer(m.latency)
		select {
		case <-ctx.Done():
			t.Stop()
			return llm.Response{}, ctx.Err()
		case <-t.C:
		}
	}
	usage := llm.Usage{InputTokens: 900, OutputTokens: 60}
	if req.SchemaName == extract.SchemaName {
		return llm.Response{Content: extraction, Usage: usage, FinishReason: llm.FinishStop}, nil
	}
	return llm.Response{Content: verdict, Usage: usage, FinishReason: llm.FinishStop}, nil
}

// definition is what the bench extracts: the two fields the STAR sample
// has references for, and five more.
func definition(cfg config) analysis.DefinitionInput {
	modes := cfg.modes
	var tasks struct {
		Conversations []struct {
			ReferenceFields map[string]any `json:"referenceFields"`
		} `json:"conversations"`
	}
	_ = json.Unmarshal(sample, &tasks) // embedded, known good
	var labels []string
	for _, c := range tasks.Conversations {
		if s, ok := c.ReferenceFields["task"].(string); ok && !slices.Contains(labels, s) {
			labels = append(labels, s)
		}
	}
	slices.Sort(labels)
	in := analysis.DefinitionInput{
		Name: "Bench",
		FieldSet: extract.FieldSet{
			{Key: "task", Type: extract.Enum, EnumValues: labels, Required: true, Description: "What the caller wants done."},
			{Key: "completion", Type: extract.Enum, EnumValues: []string{"complete", "other"}, Required: true},
			{Key: "caller_name", Type: extract.String, Description: "The caller's name, if given."},
			{Key: "resolved", Type: extract.Boolean},
			{Key: "sentiment", Type: extract.Enum, EnumValues: []string{"negative", "neutral", "positive"}},
			{Key: "turns_to_resolution", Type: extract.Number},
			{Key: "follow_up_needed", Type: extract.Boolean},
		},
		ExtractionInstructions: "Label the caller's task from the whole dialogue.",
		ExtractionModelKey:     "sim-extract",
		Modes: analysis.Modes{
			Store:    slices.Contains(modes, "store"),
			Accuracy: slices.Contains(modes, "accuracy"),
		},
	}
	if slices.Contains(modes, "judge") {
		in.Modes.Judge = &analysis.JudgeMode{Rubric: "Did the agent close the conversation politely, offering more help?"}
		in.JudgeModelKey = "sim-judge"
	}
	if cfg.llmBaseURL != "" {
		in.ExtractionModelKey = cfg.llmModel
		if in.Modes.Judge != nil {
			in.JudgeModelKey = cfg.llmModel
		}
	}
	return in
}

// conversations returns n conversations: the sample, repeated with unique
// keys and names.
func conversations(from, to int) ([]analysis.ConversationInput, error) {
	var body struct {
		Conversations []analysis.ConversationInput `json:"conversations"`
	}
	if err := json.Unmarshal(sample, &body); err != nil {
		return nil, err
	}
	out := make([]analysis.ConversationInput, 0, to-from)
	for i := from; i < to; i++ {
		c := body.Conversations[i%len(body.Conversations)]
		c.Key = fmt.Sprintf("bench-%07d", i)
		c.Name = fmt.Sprintf("%s #%d", c.Name, i/len(body.Conversations)+1)
		out = append(out, c)
	}
	return out, nil
}

// join works on the runs other bench processes start on the shared store,
// until it has worked and then found nothing to claim for two seconds, and
// reports what it did.
func join(ctx context.Context, cfg config, exec *analysis.Executor, model *countingModel, rep report) (report, error) {
	var idleSince time.Time
	worked := false
	start := time.Now()
	cpu0, _ := usage()
	for {
		n, err := exec.Drain(ctx)
		if err != nil {
			return rep, err
		}
		switch {
		case n > 0:
			worked, idleSince = true, time.Time{}
		case idleSince.IsZero():
			idleSince = time.Now()
		case worked && time.Since(idleSince) > 2*time.Second:
			cpu1, _ := usage()
			rep.WallS = time.Since(start).Seconds()
			rep.ModelCalls = model.calls.Load()
			if rep.ModelCalls > 0 {
				rep.CPUMicrosPerConv = float64(cpu1-cpu0) / float64(time.Microsecond) / float64(rep.ModelCalls)
			}
			rep.Conversations = 0
			_, rep.PeakRSSBytes = usage()
			return rep, nil
		}
		select {
		case <-ctx.Done():
			return rep, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// run ingests the conversations, runs the definition over them and, when
// asked, the baseline, and reports.
func run(ctx context.Context, cfg config) (report, error) {
	rep := report{Conversations: cfg.n, Modes: cfg.modes, LatencyMS: float64(cfg.latency) / float64(time.Millisecond),
		Concurrency: cfg.concurrency, GoVersion: runtime.Version(), CPUs: runtime.NumCPU()}
	model, err := newModel(cfg)
	if err != nil {
		return rep, err
	}
	var store analysis.Store = memstore.New()
	scope := analysis.Scope{Tenant: "bench", Project: "bench"}
	owner := "bench"
	if cfg.store != "memory" {
		pcfg, err := pgxpool.ParseConfig(cfg.store)
		if err != nil {
			return rep, fmt.Errorf("-store: %w", err)
		}
		if !strings.Contains(cfg.store, "pool_max_conns") {
			pcfg.MaxConns = int32(cfg.concurrency/2 + 4) // a worker uses the database about 1 ms per model call (measured: half is enough)
		}
		pool, err := pgxpool.NewWithConfig(ctx, pcfg)
		if err != nil {
			return rep, fmt.Errorf("-store: %w", err)
		}
		defer pool.Close()
		pg, err := pgstore.New(ctx, pool, pgstore.Options{Schema: "debrief_bench"})
		if err != nil {
			return rep, fmt.Errorf("-store: %w", err)
		}
		store = pg
		scope.Project = strconv.FormatInt(time.Now().UnixNano(), 36) // a scope of its own per run
		host, _ := os.Hostname()
		owner = fmt.Sprintf("bench %s/%d", host, os.Getpid())
	}
	exec, err := analysis.NewExecutor(analysis.ExecutorConfig{Store: store, Model: model, Concurrency: cfg.concurrency, Owner: owner})
	if err != nil {
		return rep, err
	}
	if cfg.join {
		return join(ctx, cfg, exec, model, rep)
	}
	svc, err := analysis.NewService(analysis.Config{Store: store, MaxRunConversations: max(cfg.n, analysis.DefaultMaxRunConversations)})
	if err != nil {
		return rep, err
	}
	for start := 0; start < cfg.n; start += analysis.DefaultMaxIngest {
		ins, err := conversations(start, min(start+analysis.DefaultMaxIngest, cfg.n))
		if err != nil {
			return rep, err
		}
		if _, err := svc.IngestConversations(ctx, scope, ins); err != nil {
			return rep, fmt.Errorf("ingest: %w", err)
		}
	}
	def, err := svc.CreateDefinition(ctx, scope, definition(cfg))
	if err != nil {
		return rep, err
	}
	callsPerConv := 1
	if def.Modes.Judge != nil {
		callsPerConv = 2
	}
	// Every worker makes its conversations' calls one after another, so the
	// run takes at least as many rounds as the busiest worker has
	// conversations.
	rounds := (cfg.n + cfg.concurrency - 1) / cfg.concurrency
	ideal := time.Duration(int64(rounds) * int64(callsPerConv) * int64(cfg.latency))
	rep.IdealS = ideal.Seconds()
	ratioOf := func(wall time.Duration) *float64 {
		if ideal <= 0 {
			return nil
		}
		r := float64(wall) / float64(ideal)
		return &r
	}

	// The harness run.
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu0, _ := usage()
	gc0 := gcCPU()
	if cfg.cpuprofile != "" {
		f, err := os.Create(cfg.cpuprofile)
		if err != nil {
			return rep, fmt.Errorf("-cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return rep, fmt.Errorf("-cpuprofile: %w", err)
		}
	}
	start := time.Now()
	r, err := svc.StartRun(ctx, scope, def.Key, analysis.Selection{Strategy: analysis.SelectAll})
	if err != nil {
		return rep, err
	}
	// Work until the run has finished: with -join processes on a shared
	// store, the last chunks may be theirs.
	for {
		if _, err := exec.Drain(ctx); err != nil {
			return rep, fmt.Errorf("run: %w", err)
		}
		cur, err := svc.GetRunStatus(ctx, scope, r.ID)
		if err != nil {
			return rep, err
		}
		if !cur.Status.InProgress() {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	wall := time.Since(start)
	if cfg.cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	cpu1, _ := usage()
	gc1 := gcCPU()
	runtime.ReadMemStats(&after)
	r, err = svc.GetRun(ctx, scope, r.ID)
	if err != nil {
		return rep, err
	}
	if r.Status != analysis.RunCompleted {
		return rep, fmt.Errorf("the run ended %s: %s", r.Status, r.Error)
	}
	n := float64(cfg.n)
	rep.WallS, rep.Ratio = wall.Seconds(), ratioOf(wall)
	rep.CPUMicrosPerConv = float64(cpu1-cpu0) / float64(time.Microsecond) / n
	rep.AllocBytesPerConv = float64(after.TotalAlloc-before.TotalAlloc) / n
	rep.AllocsPerConv = float64(after.Mallocs-before.Mallocs) / n
	if used := (gc1[1] - gc1[2]) - (gc0[1] - gc0[2]); used > 0 {
		rep.GCPercentCPU = 100 * (gc1[0] - gc0[0]) / used
	}
	rep.ModelCalls = model.calls.Load()
	rep.Completed, rep.Failed = r.Aggregate.Completed, r.Aggregate.Failed

	if cfg.baseline {
		bcpu0, _ := usage()
		b, err := baseline(ctx, cfg, def, callsPerConv, false)
		if err != nil {
			return rep, err
		}
		bcpu1, _ := usage()
		bcpu := float64(bcpu1-bcpu0) / float64(time.Microsecond) / n
		rep.BaselineCPUMicrosPerConv = &bcpu
		s := b.Seconds()
		rep.BaselineWallS, rep.BaselineRatio = &s, ratioOf(b)
		if ideal > 0 {
			spread, err := baseline(ctx, cfg, def, callsPerConv, true)
			if err != nil {
				return rep, err
			}
			r := float64(spread) / float64(ideal+spreadOffset(cfg.n, cfg.concurrency, cfg.latency))
			rep.BaselineSpreadRatio = &r
		}
	}
	_, rep.PeakRSSBytes = usage()
	return rep, nil
}

// gcCPU returns, as the runtime estimates them, the CPU seconds the
// garbage collector has used, the CPU seconds available in all
// (GOMAXPROCS × wall time) and those of them spent idle. The runtime
// updates them at each collection, so they describe the run up to its last
// one; a run too short to collect reports 0.
func gcCPU() [3]float64 {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/cpu/classes/total:cpu-seconds"},
		{Name: "/cpu/classes/idle:cpu-seconds"}}
	metrics.Read(s)
	return [3]float64{s[0].Value.Float64(), s[1].Value.Float64(), s[2].Value.Float64()}
}

// spreadOffset is how much later than the lockstep pool the spread pool
// can finish at best. Goroutine w starts w/c of a latency late, and the
// goroutines pull conversations from one counter, so the last round is
// made by the n − c·(rounds − 1) earliest: the latest of them started
// (that number − 1)/c of a latency late.
func spreadOffset(n, c int, latency time.Duration) time.Duration {
	rounds := (n + c - 1) / c
	last := n - c*(rounds-1)
	return latency * time.Duration(last-1) / time.Duration(c)
}

// baseline runs a bare pool of cfg.concurrency goroutines making the same
// model calls as the run — an extraction request and, with the judge on, a
// grading request per conversation — and returns its wall time.
//
// With spread set, goroutine w starts w/concurrency of a latency late, so
// that the pool's calls do not all end at the same instant, as the
// harness's do not: any work between calls spreads them. With the
// runtime's timers (-sim-timer) a lockstep pool's calls share one late
// wake-up, which no real workload enjoys; with the waker the two pools are
// about as fast, and the harness is read against both.
func baseline(ctx context.Context, cfg config, def analysis.Definition, callsPerConv int, spread bool) (time.Duration, error) {
	model, err := newModel(cfg)
	if err != nil {
		return 0, err
	}
	ex, err := extract.New(extract.Config{FieldSet: def.FieldSet, Model: def.ExtractionModelKey})
	if err != nil {
		return 0, err
	}
	ins, err := conversations(0, 1)
	if err != nil {
		return 0, err
	}
	reqs := []llm.Request{ex.Render(ins[0].Transcript)}
	if callsPerConv == 2 {
		g, err := judge.New(judge.Config{Rubric: def.Modes.Judge.Rubric, Model: def.JudgeModelKey})
		if err != nil {
			return 0, err
		}
		reqs = append(reqs, g.Render(ins[0].Transcript, 0))
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, cfg.concurrency)
	start := time.Now()
	for w := range cfg.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if spread {
				time.Sleep(cfg.latency * time.Duration(w) / time.Duration(cfg.concurrency))
			}
			for next.Add(1) <= int64(cfg.n) {
				for _, req := range reqs {
					if _, err := model.Generate(ctx, req); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return wall, nil
}

// countingModel counts the calls it passes on.
type countingModel struct {
	next  llm.Model
	calls atomic.Int64
}

func (m *countingModel) Generate(ctx context.Context, req llm.Request) (llm.Response, error) {
	m.calls.Add(1)
	return m.next.Generate(ctx, req)
}

// newModel returns the model of a run: the simulated one, or
// -llm-base-url through llm/openai with an HTTP client that keeps a
// connection per worker, so that connection churn does not cloud the
// figures.
func newModel(cfg config) (*countingModel, error) {
	if cfg.llmBaseURL == "" {
		sim := &simModel{latency: cfg.latency}
		if !cfg.simTimer {
			sim.waker = theWaker()
		}
		return &countingModel{next: sim}, nil
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConns = 2 * cfg.concurrency
	transport.MaxIdleConnsPerHost = 2 * cfg.concurrency
	m, err := openai.New(openai.Config{BaseURL: cfg.llmBaseURL, APIKey: cfg.llmAPIKey, HTTPClient: &http.Client{Transport: transport}})
	if err != nil {
		return nil, err
	}
	// A real provider rate-limits: retry as a host would.
	return &countingModel{next: llm.Chain(m, llm.WithRetry(llm.RetryOptions{MaxAttempts: 6, BaseDelay: 100 * time.Millisecond}))}, nil
}
