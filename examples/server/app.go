package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/analysis/analysishttp"
	"github.com/debrief-go/debrief/analysis/memstore"
	"github.com/debrief-go/debrief/analysis/pgstore"
	"github.com/debrief-go/debrief/internal/uuid"
	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/openai"
	"github.com/debrief-go/debrief/llm/otelllm"
	"github.com/debrief-go/debrief/session"
	"github.com/debrief-go/debrief/session/sessionhttp"
	"github.com/debrief-go/debrief/timeline"
	timelinepg "github.com/debrief-go/debrief/timeline/pgstore"
	"github.com/debrief-go/debrief/timeline/timelinehttp"
)

// tenantScope is what an API key stands for.
type tenantScope struct{ tenant, project string }

// tenantNamespace is the namespace of the UUIDs derived from tenant names.
var tenantNamespace = [16]byte{0x6b, 0x1d, 0x2f, 0x4e, 0x93, 0x0a, 0x4c, 0x51, 0x8e, 0x27, 0x5d, 0x0c, 0x3b, 0xa1, 0x72, 0xe4}

// tenantID returns the UUID a tenant stands for in the session and
// timeline APIs: itself, lower-cased, when it is one; else the name-based
// (version 5) UUID of its name, so that "demo" always maps to the same id.
func tenantID(tenant string) string {
	if uuid.Valid(tenant) {
		return strings.ToLower(tenant)
	}
	return uuid.Format(uuid.V5(tenantNamespace, tenant))
}

// app is the server's parts.
type app struct {
	handler   http.Handler
	analysis  *analysis.Service
	exec      *analysis.Executor
	sched     *analysis.Scheduler
	alerter   *analysis.Alerter
	timeline  *timeline.Service
	modelName string
	log       *slog.Logger
	shutdown  chan struct{} // closed when the server shuts down: event streams end
	closeOnce sync.Once
	pool      *pgxpool.Pool // the PostgreSQL stores' pool, or nil
}

// shuttingDown ends the event streams; safe to call more than once.
func (a *app) shuttingDown() { a.closeOnce.Do(func() { close(a.shutdown) }) }

// newApp builds the services and the handler cfg describes.
func newApp(cfg config, log *slog.Logger) (*app, error) {
	if cfg.tel == nil {
		cfg.tel = &telemetry{tracer: tracenoop.NewTracerProvider(), meter: metricnoop.NewMeterProvider(), shutdown: func(context.Context) error { return nil }}
	}
	model, name, err := newModel(cfg)
	if err != nil {
		return nil, err
	}
	a := &app{modelName: name, log: log, shutdown: make(chan struct{})}

	// The stores: in memory, or on PostgreSQL, shared by every replica.
	var store analysis.Store = memstore.New()
	var timelineStore timeline.Store = timeline.NewMemoryStore()
	owner := ""
	if cfg.postgres != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		pcfg, err := pgxpool.ParseConfig(cfg.postgres)
		if err != nil {
			return nil, fmt.Errorf("-postgres: %w", err)
		}
		if !strings.Contains(cfg.postgres, "pool_max_conns") {
			pcfg.MaxConns = int32(cfg.concurrency/2 + 8) // a worker uses the database about 1 ms per model call; some for the APIs
		}
		if a.pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
			return nil, fmt.Errorf("-postgres: %w", err)
		}
		if store, err = pgstore.New(ctx, a.pool, pgstore.Options{Schema: cfg.postgresSchema}); err != nil {
			a.pool.Close()
			return nil, fmt.Errorf("-postgres: %w", err)
		}
		if timelineStore, err = timelinepg.New(ctx, a.pool, timelinepg.Options{Schema: cfg.postgresSchema}); err != nil {
			a.pool.Close()
			return nil, fmt.Errorf("-postgres: %w", err)
		}
		host, _ := os.Hostname()
		owner = fmt.Sprintf("%s/%d", host, os.Getpid()) // the executor's name among the replicas
	}

	// The Analysis API, its executor and scheduler.
	var exec *analysis.Executor
	var redactor session.Redactor
	if cfg.redact {
		redactor = session.DefaultRedactor()
	}
	a.analysis, err = analysis.NewService(analysis.Config{
		Store: store, Logger: log, Redactor: redactor,
		DefaultExtractionModelKey: cfg.extractionModel, DefaultJudgeModelKey: cfg.judgeModel,
		Wake: func() { exec.Wake() },
	})
	if err != nil {
		return nil, err
	}
	// Alert rules: evaluated after every run and on a timer, each change
	// sent to -alert-webhook, or logged.
	var notifier analysis.Notifier = analysis.SlogNotifier{Logger: log}
	if cfg.alertWebhook != "" {
		if notifier, err = analysis.NewWebhookNotifier(analysis.WebhookConfig{URL: cfg.alertWebhook, Secret: []byte(cfg.alertSecret)}); err != nil {
			return nil, fmt.Errorf("-alert-webhook: %w", err)
		}
	}
	if a.alerter, err = analysis.NewAlerter(analysis.AlerterConfig{Store: store, Notifier: notifier, Owner: owner, Interval: cfg.alertInterval, Logger: log}); err != nil {
		return nil, err
	}
	exec, err = analysis.NewExecutor(analysis.ExecutorConfig{Store: store, Model: model, Concurrency: cfg.concurrency, Logger: log, Owner: owner,
		LeaseDuration: cfg.lease, OnRunCompleted: a.alerter.RunCompleted,
		TracerProvider: cfg.tel.tracer, MeterProvider: cfg.tel.meter, Prices: cfg.prices})
	if err != nil {
		return nil, err
	}
	a.exec = exec
	a.sched = a.analysis.Scheduler(analysis.SchedulerConfig{MeterProvider: cfg.tel.meter})

	// The session API, over the sessions of -sessions.
	sessions, err := loadSessions(cfg.sessionsFile)
	if err != nil {
		return nil, err
	}
	sh, err := sessionhttp.New(sessionhttp.Config{
		Source:       sessions,
		Organization: sessionhttp.APIKey(func(_ context.Context, key string) (string, error) { return lookupTenant(cfg, key) }),
		Logger:       log,
	})
	if err != nil {
		return nil, err
	}

	// Timeline analyses, over the flows of -flows.
	flows, err := loadFlows(cfg.flowsFile)
	if err != nil {
		return nil, err
	}
	a.timeline, err = timeline.NewService(timeline.Config{
		Source: flows, Store: timelineStore, Logger: log, TracerProvider: cfg.tel.tracer, MeterProvider: cfg.tel.meter,
		Analyzer: timeline.AnalyzerConfig{Model: model, ModelKey: cfg.judgeModel},
	})
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.Handle(analysishttp.Prefix+"/", analysishttp.New(a.analysis, func(r *http.Request) (analysis.Scope, error) {
		ts, ok := cfg.keys[r.Header.Get(sessionhttp.APIKeyHeader)]
		if !ok {
			return analysis.Scope{}, fmt.Errorf("unknown API key")
		}
		return analysis.Scope{Tenant: ts.tenant, Project: ts.project}, nil
	}, analysishttp.Options{Logger: log, Shutdown: a.shutdown}))
	mux.Handle("/v1/sessions/", sh)
	ingest := a.ingestSessions(cfg, sessions)
	mux.Handle("POST /api/analysis/sessions/{session_id}/ingest", ingest)
	mux.Handle("POST /api/analysis/sessions/ingest", ingest)
	th := timelinehttp.New(a.timeline, func(r *http.Request) (string, error) {
		return lookupTenant(cfg, r.Header.Get(sessionhttp.APIKeyHeader))
	}, timelinehttp.Options{Logger: log})
	mux.Handle("/timeline-analyses", th)
	mux.Handle("/timeline-analyses/", th)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":"not_found","message":"no such resource"}` + "\n"))
	})
	a.handler = mux
	return a, nil
}

// lookupTenant returns the tenant id of an API key, or session.ErrNotFound.
func lookupTenant(cfg config, key string) (string, error) {
	ts, ok := cfg.keys[key]
	if !ok {
		return "", session.ErrNotFound
	}
	return tenantID(ts.tenant), nil
}

// newModel returns the model every API uses, and its name for the logs.
//
// Every call goes through otelllm outermost, so that its span and metrics
// cover the whole call, the retries it needed included.
func newModel(cfg config) (llm.Model, string, error) {
	traced := otelllm.Middleware(otelllm.Config{TracerProvider: cfg.tel.tracer, MeterProvider: cfg.tel.meter, ProviderName: "debrief.demo"})
	if cfg.llmBaseURL == "" {
		return llm.Chain(demoModel, traced), "offline demo model", nil
	}
	m, err := openai.New(openai.Config{BaseURL: cfg.llmBaseURL, APIKey: cfg.llmAPIKey, Timeout: 2 * time.Minute})
	if err != nil {
		return nil, "", fmt.Errorf("-llm-base-url: %w", err)
	}
	host, port := hostPort(cfg.llmBaseURL)
	traced = otelllm.Middleware(otelllm.Config{TracerProvider: cfg.tel.tracer, MeterProvider: cfg.tel.meter, ServerAddress: host, ServerPort: port})
	return llm.Chain(m, traced, llm.WithRetry(llm.RetryOptions{MaxAttempts: 6, BaseDelay: 250 * time.Millisecond})), redacted(cfg.llmBaseURL), nil
}

// hostPort returns the host name of a URL and its port, the scheme's when
// it names none; "" and 0 for what is not a URL.
func hostPort(base string) (string, int) {
	u, err := url.Parse(base)
	if err != nil {
		return "", 0
	}
	port, err := strconv.Atoi(u.Port())
	switch {
	case err == nil:
	case u.Scheme == "https":
		port = 443
	case u.Scheme == "http":
		port = 80
	}
	return u.Hostname(), port
}

// start runs the executor and the scheduler until ctx ends; the channel
// closes when both have stopped.
func (a *app) start(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		if err := a.alerter.Run(ctx); err != nil && ctx.Err() == nil {
			a.log.Error("alerter stopped", "error", err.Error())
		}
	}()
	go func() {
		defer wg.Done()
		if err := a.exec.Run(ctx); err != nil {
			a.log.Error("executor stopped", "error", err.Error())
		}
	}()
	go func() {
		defer wg.Done()
		if err := a.sched.Run(ctx); err != nil {
			a.log.Error("scheduler stopped", "error", err.Error())
		}
	}()
	go func() {
		wg.Wait()
		close(done)
	}()
	return done
}

// close stops the timeline service, cancelling what has not finished in
// ten seconds.
func (a *app) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.timeline.Close(ctx); err != nil {
		a.log.Warn("timeline analyses cancelled at shutdown", "error", err.Error())
	}
	if a.pool != nil {
		a.pool.Close()
	}
}

// line is one line of a -sessions or -flows file.
type line struct {
	Tenant  string          `json:"tenant"`
	Moveo   json.RawMessage `json:"moveo"`
	Capture json.RawMessage `json:"capture"`
	Flow    json.RawMessage `json:"flow"`
}
