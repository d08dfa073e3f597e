package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/findash/findash/internal/alert"
	"github.com/findash/findash/internal/api"
	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/auth/argon2id"
	"github.com/findash/findash/internal/config"
	"github.com/findash/findash/internal/gateway"
	"github.com/findash/findash/internal/ingest"
	"github.com/findash/findash/internal/jobs"
	"github.com/findash/findash/internal/live"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/notify"
	"github.com/findash/findash/internal/observe"
	"github.com/findash/findash/internal/persist"
	"github.com/findash/findash/internal/report"
	"github.com/findash/findash/internal/retention"
	"github.com/findash/findash/internal/watchlist"
	"github.com/findash/findash/internal/web"
)

// addrs are the listeners' bound addresses, reported once serving.
type addrs struct {
	HTTP  string
	Admin string
}

// serve runs findash with cfg until ctx ends or a component fails, then
// drains as docs/reference/operations.md says: readiness off, ingest stopped, WebSocket
// clients told to reconnect, in-flight requests finished, the log's readers
// flushed, dependencies closed. started, when not nil, is called once the
// listeners accept connections.
func serve(ctx context.Context, cfg config.Config, logw io.Writer, started func(addrs)) (err error) {
	log := observe.NewLogger(logw, logFormat(cfg), cfg.LogLevel)
	log.Info("starting findash", "version", version, "stage", cfg.Stage(), "config", cfg)
	t0 := time.Now()
	reg := observe.NewRegistry()

	// Engines.
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeLogged(log, "store", st.Close)
	b, err := openBus(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		closeLogged(log, "bus", func() error { return b.Close(cctx) })
	}()
	rc, err := openRedis(ctx, cfg, log, reg)
	if err != nil {
		return err
	}
	if rc != nil {
		defer closeLogged(log, "redis", rc.Close)
	}
	wsKey, reportKey, err := secretKeys(cfg)
	if err != nil {
		return err
	}
	if cfg.SecretKey == "" && cfg.NATSURL != "" {
		log.Warn("secret_key is not set: WebSocket tokens and report links only work on the instance that issued them")
	}

	// Roles (stage 4 splits them): ingest takes ticks in, gateway streams,
	// api answers reads and accounts, worker persists and runs background
	// work. Gateway and api both serve from the live state, so either runs
	// the live feed.
	runFeed := cfg.HasRole("gateway") || cfg.HasRole("api")
	worker := cfg.HasRole("worker")

	// Components.
	state := market.NewState()
	authCfg := auth.Config{WSTokenKey: wsKey}
	if rc != nil {
		authCfg.Sessions = auth.KVSessions(rc, nil)
	}
	users := auth.NewService(st, argon2id.New(argon2id.DefaultParams, 2), authCfg, log)
	hub := gateway.New(state, gateway.Config{AllowedOrigins: cfg.AllowedOrigins, Auth: users, SendQueue: cfg.WSSendQueue}, log, reg)
	pub := ingest.NewPublisher(b, ingest.Config{}, log, reg)
	feed := live.New(b, st, state, hub, live.Config{}, log)
	pers := persist.New(b, st, persist.Config{}, log, reg)
	janitor := retention.New(st, retention.Config{Retention: cfg.TickRetention}, time.Now, log)

	objs, objChecks, err := openObjects(ctx, cfg, log)
	if err != nil {
		return err
	}
	var handlers jobs.Handlers
	if worker {
		mailer, err := notify.NewMailer(notify.MailConfig{URL: cfg.SMTPURL}, log)
		if err != nil {
			return err
		}
		hooks := notify.NewWebhooks(notify.WebhookConfig{AllowPrivate: cfg.WebhookAllowPrivate}, log, reg)
		handlers = jobs.Handlers{
			Retention: janitor,
			Notifier:  notify.NewService(st, mailer, hooks),
			Reports:   report.NewService(st, objs, nil, report.Config{SigningKey: reportKey}, log),
		}
	}
	queue, closeQueue, err := openJobs(ctx, cfg, handlers, log, reg)
	if err != nil {
		return err
	}
	defer closeQueue()
	// Fired alerts travel over the bus to whichever gateways hold the users'
	// connections (stage 4 runs the evaluator and the gateway apart).
	evaluator := alert.NewEvaluator(b, st, st, b, queue, alert.Config{}, log, reg)

	var draining atomic.Bool
	deps := api.Deps{
		Market:     state,
		Candles:    st,
		Publisher:  roleMissing{"ingest"},
		Parse:      ingest.Parse,
		Auth:       users,
		Accounts:   users,
		Watchlists: watchlist.NewService(st, watchlist.Config{}),
		Alerts:     st,
		Reports:    report.NewService(st, objs, queue, report.Config{SigningKey: reportKey}, log),
		Draining:   draining.Load,
		Checks: append(append(st.checks,
			api.Check{Name: "event_log", Critical: true, Fn: b.Check}),
			objChecks...,
		),
		Version: version,
		Stage:   cfg.Stage(),
	}
	if rc != nil {
		deps.Cache = rc
		deps.Limiter = sharedLimiter{redis: rc, local: api.NewLocalLimiter(100_000, nil)}
		deps.Checks = append(deps.Checks, api.Check{Name: "redis", Critical: false, Fn: rc.Check})
	}
	if cfg.HasRole("ingest") {
		deps.Publisher = pub
	}
	if runFeed {
		dash, err := web.New(web.Config{}, log)
		if err != nil {
			return fmt.Errorf("dashboard: %w", err)
		}
		deps.Dashboard = dash
		deps.Checks = append(deps.Checks, api.Check{Name: "live_feed", Critical: true, Fn: caughtUp(feed.Ready())})
	}
	if cfg.HasRole("gateway") {
		deps.WebSocket = untilReady(feed.Ready(), hub)
	}
	a := api.New(deps, api.Config{
		ReadLimit:   limit(cfg.APIRateLimit),
		IngestLimit: limit(cfg.IngestRateLimit),
		TrustProxy:  cfg.TrustProxy,
	}, log.With("component", "api"), reg)
	defer a.Close()

	// Listeners.
	httpLn, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.HTTPAddr, err)
	}
	admin, err := observe.ListenAdmin(cfg.AdminAddr, reg, log.With("component", "admin"))
	if err != nil {
		httpLn.Close()
		return err
	}
	tracing, err := observe.NewTracing(ctx, cfg.Tracing, "findash", version)
	if err != nil {
		httpLn.Close()
		return err
	}
	defer func() {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		closeLogged(log, "tracing", func() error { return tracing.Shutdown(tctx) })
	}()
	handler := a.Handler()
	if tracing.Enabled() {
		handler = otelhttp.NewHandler(handler, "findash", otelhttp.WithTracerProvider(tracing.Provider))
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	// Components run on bg, which outlives ctx: they must keep working while
	// the HTTP side drains, and stop only after it has.
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	var wg sync.WaitGroup
	runBG := func(c context.Context, name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(c); err != nil && c.Err() == nil {
				fail(fmt.Errorf("%s: %w", name, err))
			}
		}()
	}
	runBG(bg, "admin", admin.Run)
	if st.run != nil {
		runBG(bg, "database upkeep", st.run)
	}
	if runFeed {
		runBG(bg, "live feed", feed.Run)
	}
	if cfg.HasRole("gateway") {
		runBG(bg, "gateway", hub.Run)
		runBG(bg, "alert relay", func(ctx context.Context) error { return b.RelayAlerts(ctx, hub) })
	}
	if worker {
		runBG(bg, "persister", pers.Run)
		runBG(bg, "alert evaluator", evaluator.Run)
		runBG(bg, "job queue", queue.Run)
	}
	feedCtx, stopFeed := context.WithCancel(bg)
	defer stopFeed()
	var feedWG sync.WaitGroup
	if cfg.Feed == "simulator" && cfg.HasRole("ingest") {
		simCfg := ingest.SimConfig{Symbols: cfg.SimulatorSymbols, Rate: cfg.SimulatorRate, Seed: cfg.SimulatorSeed}
		if runFeed {
			// Continue each walk from the last quote rather than jump back
			// to the built-in levels at every restart.
			simCfg.Start = func(sym string) (float64, bool) {
				q, ok := state.Quote(sym)
				return q.Price, ok
			}
		}
		sim := ingest.NewSimulator(pub, simCfg, time.Now, log)
		feedWG.Add(1)
		go func() {
			defer feedWG.Done()
			if runFeed {
				select { // the restored quotes are what the walks continue from
				case <-feed.Ready():
				case <-feedCtx.Done():
					return
				}
			}
			if err := sim.Run(feedCtx); err != nil && feedCtx.Err() == nil {
				fail(fmt.Errorf("simulator: %w", err))
			}
		}()
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(httpLn) }()

	url := "http://" + httpLn.Addr().String()
	log.Info("findash is serving", "url", url, "admin", admin.Addr(), "stage", cfg.Stage(), "startup", time.Since(t0).Round(time.Millisecond))
	if started != nil {
		started(addrs{HTTP: httpLn.Addr().String(), Admin: admin.Addr()})
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		fail(fmt.Errorf("http server: %w", err))
	}
	cause := context.Cause(ctx)
	if errors.Is(cause, context.Canceled) {
		cause = nil
	}
	log.Info("shutting down", "reason", reasonOf(cause), "timeout", cfg.ShutdownTimeout)

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	draining.Store(true) // /readyz answers 503 from here on
	if cfg.DrainDelay > 0 {
		// Let load balancers see the 503 and take this instance out before
		// its listeners close.
		select {
		case <-time.After(cfg.DrainDelay):
		case <-sctx.Done():
		}
	}
	stopFeed()
	feedWG.Wait()
	if err := hub.Drain(sctx); err != nil {
		log.Warn("websocket drain incomplete", "err", err)
	}
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("http drain incomplete", "err", err)
		srv.Close()
	}
	stopBG() // the persister flushes what it holds; the rest is in the log
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-sctx.Done():
		log.Warn("components did not stop within the shutdown timeout")
	}
	log.Info("stopped", "after", time.Since(t0).Round(time.Millisecond))
	return cause
}

// limit maps a configured rate (0 = none) onto the API's limit, with a
// burst of two seconds' worth.
func limit(perSecond float64) api.Limit {
	if perSecond == 0 {
		return api.Limit{Rate: -1}
	}
	return api.Limit{Rate: perSecond, Burst: max(1, int(2*perSecond))}
}

// roleMissing stands in for a component whose role this instance does not
// run: its routes answer 503.
type roleMissing struct{ role string }

func (r roleMissing) Publish(context.Context, []market.Tick) error {
	return fmt.Errorf("this instance does not run the %s role: %w", r.role, market.ErrUnavailable)
}

// untilReady answers 503 to WebSocket upgrades until ready is closed: before
// the live feed has caught up with the log, the replay ring would hand a
// resuming client an incomplete history.
func untilReady(ready <-chan struct{}, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-ready:
			h.ServeHTTP(w, r)
		default:
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":{"code":"unavailable","message":"catching up with the event log; retry shortly"}}`+"\n")
		}
	})
}

// caughtUp is a readiness check that fails until ready is closed.
func caughtUp(ready <-chan struct{}) func(context.Context) error {
	return func(context.Context) error {
		select {
		case <-ready:
			return nil
		default:
			return errors.New("catching up with the event log")
		}
	}
}

func reasonOf(cause error) string {
	if cause == nil {
		return "signal"
	}
	return cause.Error()
}

func closeLogged(log *slog.Logger, what string, fn func() error) {
	if err := fn(); err != nil {
		log.Warn("close failed", "what", what, "err", err)
	}
}
