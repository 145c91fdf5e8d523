// Command server runs debrief's three APIs in one process: the session
// analysis input (seed 001), the Analysis API (seed 002) with its executor
// and scheduler, and timeline analyses (seed 003), on one http.ServeMux.
//
//	go run ./examples/server -keys dev-key=demo/default
//	curl -H 'x-api-key: dev-key' localhost:8080/api/analysis/definitions
//
// Every route needs the header x-api-key, naming a key of -keys; the key's
// tenant is the organisation of the session API and the customer of the
// timeline API, and tenant/project is the scope of the Analysis API. A
// tenant that is not a UUID stands for the UUID derived from its name (see
// tenantID), so that "demo" works with the APIs whose ids are UUIDs.
//
// Without -llm-base-url the models are an offline demo model, which says in
// every answer that it is one; with it, every model call goes to that
// OpenAI-compatible server (OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp)
// through llm/openai, with retries.
//
// Metrics are served at /metrics for Prometheus on a listener of their own
// (-metrics-addr, loopback by default, since they name every tenant's
// definitions); spans are sent over OTLP/HTTP when
// OTEL_EXPORTER_OTLP_ENDPOINT is set. -prices turns tokens into the cost
// metric.
//
// Logs are JSON lines on stderr. SIGINT or SIGTERM stops the server
// gracefully: requests in flight finish, the executor gives back the chunks
// it holds, to be resumed at the next start.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/llm"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(context.Background(), os.Args[1:], os.Getenv, log, nil); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			log.Error("server stopped", "error", err.Error())
		}
		os.Exit(2)
	}
}

// config is what the flags say.
type config struct {
	addr            string
	keys            map[string]tenantScope
	llmBaseURL      string
	llmAPIKey       string
	extractionModel string
	judgeModel      string
	concurrency     int
	postgres        string
	postgresSchema  string
	lease           time.Duration
	sessionsFile    string
	flowsFile       string
	redact          bool
	alertWebhook    string
	alertSecret     string
	alertInterval   time.Duration
	metricsAddr     string
	prices          llm.PriceTable
	tel             *telemetry // set by run; nil: no telemetry
}

// parseFlags reads the flags; getenv supplies OPENAI_API_KEY.
func parseFlags(args []string, getenv func(string) string, out io.Writer) (config, error) {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(out)
	var cfg config
	var keys string
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "the address to listen on")
	fs.StringVar(&keys, "keys", "dev-key=demo/default", "API keys, comma-separated KEY=TENANT/PROJECT")
	fs.StringVar(&cfg.llmBaseURL, "llm-base-url", "", "an OpenAI-compatible API base URL, such as https://api.openai.com/v1; empty: the offline demo model")
	fs.StringVar(&cfg.llmAPIKey, "llm-api-key", "", "the API key of -llm-base-url (default: $OPENAI_API_KEY when it is OpenAI's API)")
	fs.StringVar(&cfg.extractionModel, "extraction-model", "gpt-4o-mini", "the extraction model of definitions that name none")
	fs.StringVar(&cfg.judgeModel, "judge-model", "gpt-4o", "the judge model of definitions that name none, and the timeline's model")
	fs.IntVar(&cfg.concurrency, "concurrency", 8, "conversations the executor analyses at once")
	fs.DurationVar(&cfg.lease, "lease", analysis.DefaultLeaseDuration, "how long a replica's claim on a chunk of a run lasts unrenewed: the longest a killed replica's work waits for another")
	fs.StringVar(&cfg.postgres, "postgres", "", "a PostgreSQL URL for the stores, shared by every replica; empty: in memory")
	fs.StringVar(&cfg.postgresSchema, "postgres-schema", "debrief", "the PostgreSQL schema of the stores' tables")
	fs.StringVar(&cfg.sessionsFile, "sessions", "", "JSON lines of sessions to serve: {\"tenant\": …, \"moveo\": …} or {\"tenant\": …, \"capture\": …}")
	fs.BoolVar(&cfg.redact, "redact", true, "redact e-mail addresses, phone and card numbers in conversations at ingest, before they are stored or sent to a model")
	fs.StringVar(&cfg.alertWebhook, "alert-webhook", "", "a URL that receives each change of an alert rule's state, signed with $DEBRIEF_ALERT_SECRET; empty: alerts are logged")
	fs.DurationVar(&cfg.alertInterval, "alert-interval", time.Minute, "how often every alert rule is evaluated (they are also evaluated after each run)")
	fs.StringVar(&cfg.metricsAddr, "metrics-addr", "127.0.0.1:9464", "the address to serve /metrics on, for Prometheus, without an API key and apart from the APIs, since it names every tenant's definitions; empty: no metrics")
	var prices string
	fs.StringVar(&prices, "prices", "", `model prices in USD per million tokens, for the cost metric: {"gpt-4o-mini": {"input": 0.15, "cachedInput": 0.075, "output": 0.6}, …}`)
	fs.StringVar(&cfg.flowsFile, "flows", "", "JSON lines of flows to serve: {\"tenant\": …, \"flow\": {…, \"events\": […]}}")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if cfg.llmAPIKey == "" && isOpenAI(cfg.llmBaseURL) {
		// OpenAI's key goes to OpenAI only, never to another server the base
		// URL names.
		cfg.llmAPIKey = getenv("OPENAI_API_KEY")
	}
	if cfg.alertWebhook != "" {
		cfg.alertSecret = getenv("DEBRIEF_ALERT_SECRET")
		if len(cfg.alertSecret) < 16 {
			return cfg, fmt.Errorf("-alert-webhook: set DEBRIEF_ALERT_SECRET to the webhook's signing secret, at least 16 bytes")
		}
	}
	if cfg.alertInterval < time.Second {
		return cfg, fmt.Errorf("-alert-interval: %s is shorter than a second", cfg.alertInterval)
	}
	if prices != "" {
		dec := json.NewDecoder(strings.NewReader(prices))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg.prices); err != nil {
			return cfg, fmt.Errorf("-prices: %w", err)
		}
		for model, p := range cfg.prices {
			if !(p.Input >= 0 && p.Output >= 0) || (p.CachedInput != nil && !(*p.CachedInput >= 0)) {
				return cfg, fmt.Errorf("-prices: %q: a price is negative", model)
			}
		}
	}
	var err error
	if cfg.keys, err = parseKeys(keys); err != nil {
		return cfg, fmt.Errorf("-keys: %w", err)
	}
	if cfg.lease < time.Second {
		return cfg, fmt.Errorf("-lease: %s is shorter than a second", cfg.lease)
	}
	if cfg.concurrency < 1 || cfg.concurrency > 1024 {
		return cfg, fmt.Errorf("-concurrency: %d is not between 1 and 1024", cfg.concurrency)
	}
	return cfg, nil
}

// isOpenAI reports a base URL of OpenAI's own API.
func isOpenAI(base string) bool {
	u, err := url.Parse(base)
	return err == nil && u.Scheme == "https" && (u.Hostname() == "api.openai.com")
}

// redacted is a URL fit for a log: scheme, host and path, without
// credentials or query.
func redacted(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return "(not a URL)"
	}
	return u.Scheme + "://" + u.Host + u.Path
}

// parseKeys reads KEY=TENANT/PROJECT,...
func parseKeys(s string) (map[string]tenantScope, error) {
	out := map[string]tenantScope{}
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		key, rest, ok := strings.Cut(entry, "=")
		tenant, project, ok2 := strings.Cut(rest, "/")
		key, tenant, project = strings.TrimSpace(key), strings.TrimSpace(tenant), strings.TrimSpace(project)
		if !ok || !ok2 || key == "" || tenant == "" || project == "" || strings.Contains(project, "/") {
			return nil, fmt.Errorf("%q is not KEY=TENANT/PROJECT", entry)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("the key %q is given twice", key)
		}
		out[key] = tenantScope{tenant: tenant, project: project}
	}
	if len(out) == 0 {
		return nil, errors.New("no key given")
	}
	return out, nil
}

// run starts the server and serves until ctx ends or a signal comes. When
// ready is set it receives the address listened on.
func run(ctx context.Context, args []string, getenv func(string) string, log *slog.Logger, ready chan<- string) error {
	cfg, err := parseFlags(args, getenv, os.Stderr)
	if err != nil {
		return err
	}
	if cfg.tel, err = newTelemetry(ctx, getenv); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := cfg.tel.shutdown(sctx); err != nil {
			log.Warn("telemetry not flushed", "error", err.Error())
		}
	}()
	a, err := newApp(cfg, log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: a.handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	metricsAddr := ""
	if cfg.metricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.metricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("-metrics-addr: %w", err)
		}
		metricsAddr = mln.Addr().String()
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", cfg.tel.metrics)
		msrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		go func() { _ = msrv.Serve(mln) }()
		defer msrv.Close()
	}
	srv.RegisterOnShutdown(a.shuttingDown) // event streams end, so that Shutdown is not held by them
	workers, stopWorkers := context.WithCancel(context.Background())
	done := a.start(workers)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("server listening", "addr", ln.Addr().String(), "metrics", metricsAddr, "model", a.modelName, "keys", len(cfg.keys))
	if ready != nil {
		ready <- ln.Addr().String()
	}

	select {
	case err = <-serveErr:
	case <-ctx.Done():
		log.Info("server shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = srv.Shutdown(sctx)
		cancel()
	}
	stopWorkers() // the executor gives back the chunks it holds
	<-done
	a.close()
	log.Info("server stopped")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
