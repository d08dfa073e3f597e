package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/findash/findash/internal/alert"
	"github.com/findash/findash/internal/api"
	"github.com/findash/findash/internal/archive"
	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/auth/argon2id"
	"github.com/findash/findash/internal/bus"
	"github.com/findash/findash/internal/config"
	"github.com/findash/findash/internal/connlimit"
	"github.com/findash/findash/internal/feed"
	"github.com/findash/findash/internal/gateway"
	"github.com/findash/findash/internal/ingest"
	"github.com/findash/findash/internal/jobs"
	"github.com/findash/findash/internal/live"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/notify"
	"github.com/findash/findash/internal/observe"
	"github.com/findash/findash/internal/persist"
	"github.com/findash/findash/internal/portfolio"
	"github.com/findash/findash/internal/report"
	"github.com/findash/findash/internal/report/pdf"
	"github.com/findash/findash/internal/retention"
	"github.com/findash/findash/internal/symbol"
	"github.com/findash/findash/internal/watchlist"
)

// tickLimits maps the tick_* settings onto the bounds ingest checks and
// the log's readers re-check (docs/security.md, "Input (ticks)").
func tickLimits(cfg config.Config) market.Limits {
	return market.Limits{
		MinPrice: cfg.TickMinPrice, MaxPrice: cfg.TickMaxPrice,
		MaxSize: cfg.TickMaxSize, MaxNotional: cfg.TickMaxNotional,
		MaxAhead: cfg.TickMaxAhead, MaxAge: cmp.Or(cfg.TickMaxAge, cfg.TickRetention),
	}
}

// addrs are the listeners' bound addresses, reported once serving.
type addrs struct {
	HTTP  string
	Admin string
}

// serve runs findash with cfg until ctx ends or a service fails, then
// drains as docs/reference/operations.md ("Signals and the drain") says:
// readiness off, feeds stopped, WebSocket clients told to reconnect,
// in-flight requests finished, the log's readers flushed, resources closed.
// The package documentation ("Serving") shows how the runner's layers give
// that order. started, when not nil, is called once the listeners accept
// connections.
func serve(ctx context.Context, cfg config.Config, logw io.Writer, started func(addrs)) error {
	log := observe.NewLogger(logw, logFormat(cfg), cfg.LogLevel)
	if cfg.Region != "" {
		// Logs of both regions usually end up in one place: each line says
		// where it comes from.
		log = log.With("region", cfg.Region)
	}
	log.Info("starting findash", "version", version, "stage", cfg.Stage(), "config", cfg)
	t0 := time.Now()
	unlock, err := lockDataDir(cfg) // before SQLite or the JetStream store
	if err != nil {
		return err
	}
	defer unlock()
	r := newRunner(cfg.ShutdownTimeout, log)
	defer r.close()
	in, err := wire(ctx, cfg, log, r)
	if err != nil {
		return err
	}
	err = r.Run(ctx, func() {
		a := addrs{HTTP: in.httpLn.Addr().String(), Admin: in.admin.Addr()}
		log.Info("findash is serving", "url", "http://"+a.HTTP, "admin", a.Admin, "stage", cfg.Stage(), "startup", time.Since(t0).Round(time.Millisecond))
		if started != nil {
			started(a)
		}
	})
	log.Info("stopped", "after", time.Since(t0).Round(time.Millisecond))
	return err
}

// app is one findash process being wired: its resources, the
// components every role shares, and what the roles add to the API.
type app struct {
	cfg config.Config
	log *slog.Logger
	reg *prometheus.Registry
	r   *runner

	st    *backend
	bus   *bus.Bus
	state *market.State
	hub   *gateway.Hub
	pub   *ingest.Publisher
	feed  *live.Feed
	// region is the mirror region's link watch; nil in the primary region.
	region *regionWatch
	pers   *persist.Persister // nil with a partitioned log
	// persCfg and evalCfg configure the persisters and evaluators.
	persCfg persist.Config
	evalCfg alert.Config
	queue   *jobs.Queue
	eval    *alert.Evaluator // nil with a partitioned log
	syms    *symbol.Registry
	feeds   []*feed.Feed // the exchange feeds (ingest role)
	deps    api.Deps

	httpLn net.Listener
	admin  *observe.Admin
	ws     drainer // the hub, when the instance runs the gateway
}

// wire opens the resources cfg names (registering their closing with r),
// builds the components, adds the services of cfg's roles to r and binds
// the listeners. Nothing runs until r.Run.
func wire(ctx context.Context, cfg config.Config, log *slog.Logger, r *runner) (*app, error) {
	reg := observe.NewRegistry()
	in := &app{cfg: cfg, log: log, reg: reg, r: r}
	p := partsOf(cfg)
	addAdaptiveProcs(cfg, r, reg, log)

	// Resources.
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	r.onClose("store", st.Close)
	reg.MustRegister(st.collectors...)
	b, err := openBus(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	r.onClose("bus", func() error {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return b.Close(cctx)
	})
	rc, err := openRedis(ctx, cfg, log, reg)
	if err != nil {
		return nil, err
	}
	if rc != nil {
		r.onClose("redis", rc.Close)
	}
	wsKey, reportKey, err := secretKeys(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.SecretKey == "" && cfg.NATSURL != "" {
		log.Warn("secret_key is not set: WebSocket tokens and report links only work on the instance that issued them")
	}
	objs, objChecks, err := openObjects(ctx, cfg, log)
	if err != nil {
		return nil, err
	}

	// Components: constructors start nothing, so every instance builds them
	// all; the roles decide what runs.
	in.st, in.bus, in.state = st, b, market.NewState()
	// Account mails (verification, password reset) leave through a bounded
	// outbox on every instance that serves the API.
	mailer, err := notify.NewMailer(notify.MailConfig{URL: cfg.SMTPURL, From: cfg.SMTPFrom}, log)
	if err != nil {
		return nil, err
	}
	outbox := notify.NewOutbox(mailer, 0, log, reg)
	r.add(layerBase, "mail outbox", outbox)
	authCfg := auth.Config{WSTokenKey: wsKey, Mailer: outbox, PublicURL: cfg.PublicURL}
	if rc != nil {
		authCfg.Sessions = auth.KVSessions(rc, nil)
	}
	if cfg.APIKeyCacheTTL > 0 {
		keys := auth.NewKeyCache(st, auth.KeyCacheConfig{
			TTL:         cfg.APIKeyCacheTTL,
			MaxStale:    orNone(cfg.APIKeyCacheMaxStale),
			NegativeTTL: orNone(cfg.APIKeyCacheNegativeTTL),
			MaxEntries:  cfg.APIKeyCacheSize,
		}, log, reg)
		r.onClose("api key cache", func() error { keys.Close(); return nil })
		authCfg.KeyCache, authCfg.Revocations = keys, b
		// Every instance drops a key deleted anywhere at once.
		r.add(layerBase, "api key revocations", serviceFunc(func(ctx context.Context) error {
			return b.RelayKeyRevocations(ctx, keys.Revoke)
		}))
	}
	// Every gateway closes the WebSockets of a user one of whose sessions
	// ended anywhere (the relay is added below, once the hub exists).
	authCfg.SessionRevocations = b
	users := auth.NewService(st, argon2id.New(argon2id.DefaultParams, 2), authCfg, log)
	in.hub = gateway.New(in.state, gateway.Config{
		AllowedOrigins: cfg.AllowedOrigins,
		// GET /ws counts a session token that failed (decision 0084).
		Auth:             api.CountTokenFailures(users),
		SendQueueBytes:   cfg.WSSendQueueBytes,
		MaxLag:           cfg.WSMaxLag,
		WriteTimeout:     cfg.WSWriteTimeout,
		IOURingOff:       !cfg.WSIOURing,
		MaxSubscriptions: cfg.WSMaxSubscriptions,
		History:          b, // a client behind the replay ring reads the rest from the log
		HistoryReaders:   cfg.WSLogReaders,
		PingRate:         cfg.WSPingRate,
		PingBurst:        cfg.WSPingBurst,
		// The backstop of the revocation relay below: a session ended
		// while this instance was cut from NATS, or expired.
		SessionCheckInterval: cfg.WSSessionCheckInterval,
		RevocationMemory:     auth.DefaultWSTokenTTL, // authCfg.WSTokenTTL
	}, log, reg)
	r.add(layerBase, "session revocations", serviceFunc(func(ctx context.Context) error {
		return b.RelaySessionRevocations(ctx, func(userID int64) {
			users.SessionsEnded(userID) // first: a reconnect after the close is refused
			in.hub.CloseUser(userID)
		})
	}))
	in.pub = ingest.NewPublisher(b, ingest.Config{}, log, reg)
	limits := tickLimits(cfg)
	parser := ingest.NewParser(ingest.ParserConfig{Limits: limits}, reg)
	liveCfg := live.Config{Limits: limits, IdleAfter: cfg.SymbolIdleAfter}
	if n := cfg.LogPartitions; n > 0 {
		liveCfg.Partitions = n
		liveCfg.PartitionOf = func(sym string) int { return bus.PartitionOfSymbol(sym, n) }
	}
	in.feed = live.New(b, st, in.state, in.hub, liveCfg, log, reg)
	in.persCfg = persist.Config{Limits: limits, Linger: cfg.PersistLinger}
	if cfg.LogPartitions == 0 { // else one per owned partition (addPartitionedWorker)
		in.pers = persist.New(b, st, in.persCfg, log, reg)
	}
	symCfg := symbol.Config{Max: cfg.MaxSymbols, Strict: cfg.StrictSymbols}
	if p.live {
		symCfg.Loaded = in.feed.Forget // unregistered symbols leave the live state
	}
	in.syms = symbol.New(st, symCfg, log, reg)
	rcfg := retention.Config{Retention: cfg.TickRetention}
	var arch *archive.Archiver
	if p.work || cfg.HasRole("api") { // the worker's retention job writes it, the api reads it
		if arch, err = openArchive(ctx, cfg, st, log, reg); err != nil {
			return nil, err
		}
		if arch != nil && p.work {
			rcfg.Archive = arch
		}
	}
	janitor := retention.New(st, rcfg, time.Now, log)
	if d, ok := st.database.(interface{ TickDropsSkipped() uint64 }); ok { // PostgreSQL's day partitions
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "findash_tick_partition_drops_skipped_total",
			Help: "Sweeps that kept empty tick partitions because ticks stayed locked past the drop's lock timeout (the next sweep drops them)."},
			func() float64 { return float64(d.TickDropsSkipped()) }))
	}
	// One report service: the API creates reports with it and the worker's
	// job builds them with it. The job queue, opened next, needs it as a
	// handler, so it reaches the queue through a reference set right after.
	queueRef := &laterQueue{}
	reportCfg := report.Config{SigningKey: reportKey, MaxQueued: cfg.ReportsMaxQueued, MaxRunning: cfg.ReportsMaxRunning,
		Persisted: st,
		// A build holds its worker for the persister's usual batch, the
		// linger included, before it gives the worker back (decision 0071).
		StoreWaitHold: max(time.Second, in.persCfg.StoredWithin())}
	if p.live { // a report holds every tick this instance's API showed (decision 0057)
		reportCfg.Applied = in.feed
	}
	if p.work {
		reportCfg.PDF = pdf.New(pdf.Config{}) // only the worker builds reports
	}
	reports := report.NewService(st, objs, queueRef, reportCfg, log)
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "findash_report_store_wait_timeouts_total",
		Help: "Report builds that stopped waiting for the store to hold every tick the live state showed when the report was requested, 30s after the request, and were built from what it held."},
		func() float64 { return float64(reports.StoreWaitTimeouts()) }))
	var handlers jobs.Handlers // the queue works jobs only in the worker role
	if p.work {
		if handlers, err = workerHandlers(cfg, st, janitor, reports, log, reg); err != nil {
			return nil, err
		}
	}
	queue, closeQueue, err := openJobs(ctx, cfg, handlers, log, reg)
	if err != nil {
		return nil, err
	}
	r.onClose("job queue", func() error { closeQueue(); return nil })
	in.queue, queueRef.q = queue, queue
	// Fired alerts travel over the bus to whichever gateways hold the users'
	// connections (stage 4 runs the evaluator and the gateway apart).
	in.evalCfg = alert.Config{IdleAfter: cfg.SymbolIdleAfter}
	if cfg.LogPartitions == 0 {
		in.eval = alert.NewEvaluator(b, st, st, b, queue, in.evalCfg, log, reg)
	}

	gate := newReadinessGate(cfg.DrainDelay, r.budget)
	in.deps = api.Deps{
		Market:        in.state,
		Candles:       st,
		Ticks:         st,
		TickRetention: cfg.TickRetention,
		Publisher:     roleMissing{"ingest"},
		Parse:         parser.Parse,
		Auth:          users,
		Accounts:      users,
		Watchlists:    watchlist.NewService(st, watchlist.Config{}),
		Portfolio:     portfolio.NewService(st, nil),
		Alerts:        st,
		AlertLog:      b,
		Reports:       reports,
		Draining:      gate.Draining,
		Checks: append(append(st.checks,
			api.Check{Name: "event_log", Critical: true, Fn: b.Check}),
			objChecks...,
		),
		Version: version,
		Stage:   cfg.Stage(),
	}
	if p.work {
		// Workers waiting for the database to start (decision 0068) leave
		// ingest and reads serving: degraded, not down.
		in.deps.Checks = append(in.deps.Checks, api.Check{Name: "job_workers", Critical: false, Fn: queue.Check})
	}
	if arch != nil {
		in.deps.Archive = archivedTicks{arch}
	}
	if rc != nil {
		in.deps.Cache = rc
		shared := sharedLimiter{redis: rc, local: api.NewLocalLimiter(100_000, nil)}
		in.deps.Limiter, in.deps.Failures = shared, shared
		in.deps.Checks = append(in.deps.Checks, api.Check{Name: "redis", Critical: false, Fn: rc.Check})
	}

	if cfg.StreamMirrorDomain != "" {
		in.addRegionWatch(p)
	}

	// Services.
	if err := in.addRoles(ctx, p); err != nil {
		return nil, err
	}
	if st.run != nil {
		r.add(layerBase, "database upkeep", serviceFunc(st.run))
	}
	r.add(layerReadiness, "readiness", gate)
	if err := in.listen(ctx); err != nil {
		return nil, err
	}
	return in, nil
}

// listen builds the API from the wired dependencies, binds the HTTP and
// admin listeners and adds their services.
func (in *app) listen(ctx context.Context) error {
	cfg, log, r := in.cfg, in.log, in.r
	a := api.New(in.deps, api.Config{
		ReadLimit:   limit(cfg.APIRateLimit),
		IngestLimit: limit(cfg.IngestRateLimit),
		TrustProxy:  cfg.TrustProxy,
		// Per minute, a burst of one minute's worth.
		AuthIPLimit:      perMinute(cfg.AuthRateLimit),
		AuthAccountLimit: perMinute(cfg.AuthAccountRateLimit),
		AuthFailLimit:    perMinute(cfg.AuthFailRateLimit),
		HeaderTimeout:    cfg.HTTPHeaderTimeout,
		BodyTimeout:      cfg.HTTPBodyTimeout,
		WriteTimeout:     cfg.HTTPWriteTimeout,
		IdleTimeout:      cfg.HTTPIdleTimeout,
		MaxInFlightPerIP: cfg.HTTPMaxInFlightPerIP,
		Roles:            apiRoles(cfg),
		ClosedGrace:      closedGrace(in.persCfg),
	}, log.With("component", "api"), in.reg)
	r.onClose("api", func() error { a.Close(); return nil })

	ln, err := listenTCP(ctx, cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.HTTPAddr, err)
	}
	ln = a.Listener(ln) // counts the header and idle deadlines (ConfigureServer); innermost, so connlimit's conns stay outermost
	// Connection caps, with descriptors held back: at the cap /readyz still
	// answers here, /metrics on the admin listener (issue 13 item 8).
	// Behind a load balancer (--trust-proxy) every peer is the balancer:
	// the per-address cap is the balancer's to enforce.
	perIP := cfg.MaxConnsPerIP
	if cfg.TrustProxy {
		perIP = 0
	}
	httpLn := connlimit.New(ln, connlimit.Config{Max: cfg.MaxConns, MaxPerIP: perIP, Reserve: cfg.FDReserve}, in.reg)
	admin, err := observe.ListenAdmin(cfg.AdminAddr, in.reg, log.With("component", "admin"))
	if err != nil {
		httpLn.Close()
		return err
	}
	if cfg.ProfileBlockRate > 0 || cfg.ProfileMutexFraction > 0 {
		restore := observe.ContentionProfiles(cfg.ProfileBlockRate, cfg.ProfileMutexFraction)
		r.onClose("contention profiles", func() error { restore(); return nil })
		log.Info("contention profiles on", "block_rate_ns", cfg.ProfileBlockRate, "mutex_fraction", cfg.ProfileMutexFraction)
	}
	tracing, err := observe.NewTracing(ctx, cfg.Tracing, "findash", version)
	if err != nil {
		httpLn.Close()
		return err
	}
	r.onClose("tracing", func() error {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return tracing.Shutdown(tctx)
	})
	handler := a.Handler()
	if tracing.Enabled() {
		handler = otelhttp.NewHandler(handler, "findash", otelhttp.WithTracerProvider(tracing.Provider))
	}
	srv := &http.Server{
		Handler:     connlimit.Restrict(handler, "/livez", "/readyz"),
		ConnContext: httpLn.ConnContext,
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	a.ConfigureServer(srv) // header, write and idle deadlines (the body's is per request)
	in.httpLn, in.admin = httpLn, admin
	r.add(layerBase, "admin", admin)
	if cfg.MetricsAddr != "" {
		metrics, err := observe.ListenMetrics(cfg.MetricsAddr, in.reg, log.With("component", "metrics"))
		if err != nil {
			httpLn.Close()
			admin.Close()
			return err
		}
		r.add(layerBase, "metrics listener", metrics)
	}
	// GET /ws upgrades are read and handed to srv's handler before net/http
	// (decision 0058); every other connection goes on to net/http.
	front := gateway.NewFront(httpLn, srv, gateway.FrontConfig{}, log.With("component", "ws-front"), in.reg)
	r.add(layerHTTP, "http server", newHTTPService(srv, front, in.ws, r.budget, log))
	return nil
}

// workerHandlers builds the worker role's job handlers: alert e-mails and
// webhooks, report builds, tick retention.
func workerHandlers(cfg config.Config, st *backend, janitor *retention.Janitor, reports *report.Service, log *slog.Logger, reg prometheus.Registerer) (jobs.Handlers, error) {
	mailer, err := notify.NewMailer(notify.MailConfig{URL: cfg.SMTPURL, From: cfg.SMTPFrom}, log)
	if err != nil {
		return jobs.Handlers{}, err
	}
	hooks := notify.NewWebhooks(notify.WebhookConfig{AllowPrivate: cfg.WebhookAllowPrivate}, log, reg)
	return jobs.Handlers{
		Retention: janitor,
		Notifier:  notify.NewService(st, mailer, hooks, cfg.PublicURL),
		Reports:   reports,
	}, nil
}

// laterQueue is the report service's way to the job queue, which is opened
// after the service (its worker builds reports with it). q is set before
// anything runs.
type laterQueue struct{ q *jobs.Queue }

// EnqueueReport enqueues report id's build on the queue.
func (l *laterQueue) EnqueueReport(ctx context.Context, id int64, wait market.Positions) error {
	return l.q.EnqueueReport(ctx, id, wait)
}

// limit maps a configured rate (0 = none) onto the API's limit, with a
// burst of two seconds' worth.
func limit(perSecond float64) api.Limit {
	if perSecond == 0 {
		return api.Limit{Rate: -1}
	}
	return api.Limit{Rate: perSecond, Burst: max(1, int(2*perSecond))}
}

// perMinute maps a configured rate per minute (0 = none) onto the API's
// limit, with a burst of one minute's worth.
func perMinute(n float64) api.Limit {
	if n == 0 {
		return api.Limit{Rate: -1}
	}
	return api.Limit{Rate: n / 60, Burst: max(1, int(n))}
}

// orNone maps a configured duration where 0 means "none" onto a
// constructor's, where 0 means "the default" and a negative value none.
func orNone(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// closedGrace is how long after a range's end the API waits before it
// caches the range as closed (for ClosedTTL, 10 s): the persister's
// StoredWithin (an on-time tick's wait for its batch, lingering included)
// plus a second for the write and the consumer, and never under the 2 s it
// was before the linger. Shorter, a range cached while one of its ticks
// still lingered would hide that acknowledged tick until ClosedTTL
// (decision 0071).
func closedGrace(p persist.Config) time.Duration {
	return max(2*time.Second, p.StoredWithin()+time.Second)
}
