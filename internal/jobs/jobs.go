package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
	"golang.org/x/sync/semaphore"

	"github.com/findash/findash/internal/alert"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/retry"
)

// Notifier sends an alert event's notifications (notify.Service).
type Notifier interface {
	// EmailAlert e-mails the owner of event eventID.
	EmailAlert(ctx context.Context, eventID int64) error
	// WebhookAlert POSTs event eventID to its webhook URL.
	WebhookAlert(ctx context.Context, eventID int64) error
}

// ReportBuilder builds a report (report.Service). wait is the job's
// ReportArgs.Wait. lastAttempt is true when no retry follows a failure: the
// builder then records the report as failed.
type ReportBuilder interface {
	BuildReport(ctx context.Context, reportID int64, wait market.Positions, lastAttempt bool) error
}

// Sweeper deletes expired ticks (retention.Janitor).
type Sweeper interface {
	Sweep(ctx context.Context) (int64, error)
}

// Handlers are the job handlers of the worker role. A nil handler's kind
// is not worked by this process.
type Handlers struct {
	Notifier  Notifier
	Reports   ReportBuilder
	Retention Sweeper
}

// Config tunes a Queue. Zero fields take the documented defaults.
type Config struct {
	// AlertWorkers is how many alert notifications (e-mails, webhooks) run
	// at once, on their own queue (default 10).
	AlertWorkers int
	// ReportWorkers is how many reports are built at once, on their own
	// queue (default 4). Per-user caps are the report service's.
	ReportWorkers int
	// MaxAttempts bounds attempts per job (default 10).
	MaxAttempts int
	// RetryBase is the wait before the first retry; it doubles per attempt
	// up to RetryMax (defaults 2s and 1h), with ±20% jitter.
	RetryBase, RetryMax time.Duration
	// JobTimeout bounds one attempt (default 1m).
	JobTimeout time.Duration
	// PollInterval is how often idle workers look for jobs (default 1s).
	PollInterval time.Duration
	// StopTimeout is how long running jobs get to finish on stop before they
	// are cancelled (default 10s).
	StopTimeout time.Duration
	// StatsInterval is how often Run refreshes findash_jobs{state} (default 15s).
	StatsInterval time.Duration
	// RetentionEvery is the period of the tick_retention job (default 1h);
	// it also runs once when the worker starts.
	RetentionEvery time.Duration
	// PollOnly makes River poll for jobs instead of LISTENing: required
	// when the pool goes through PgBouncer in transaction pooling mode
	// (with default_query_exec_mode=exec), where a LISTEN does not
	// survive. cmd/findash gives River a direct pool instead.
	PollOnly bool
	// OneProcess says that only this process inserts jobs into the
	// database (stage 1's SQLite file, which no other process opens).
	// River then runs without its notifier, and a job this process inserts
	// wakes its queue's workers directly (River's poll-only trigger), so it
	// starts as soon as before. The SQLite driver's notifier reads its
	// notification table every 50 ms, idle or not: 20 queries a second,
	// about 5 ms of CPU a second here (docs/benchmarks/ws.md). Retries and
	// jobs whose time comes are found by the next poll (PollInterval)
	// instead of the scheduler's notification.
	OneProcess bool
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.AlertWorkers <= 0 {
		c.AlertWorkers = 10
	}
	if c.ReportWorkers <= 0 {
		c.ReportWorkers = 4
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	def(&c.RetryBase, 2*time.Second)
	def(&c.RetryMax, time.Hour)
	def(&c.JobTimeout, time.Minute)
	def(&c.PollInterval, time.Second)
	def(&c.StopTimeout, 10*time.Second)
	def(&c.StatsInterval, 15*time.Second)
	def(&c.RetentionEvery, time.Hour)
}

// Queue enqueues jobs and, with handlers, works them.
type Queue struct {
	cfg     Config
	l       *slog.Logger
	working bool

	insertMany func(ctx context.Context, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
	list       func(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
	start      func(ctx context.Context) error
	ping       func(ctx context.Context) error
	stop       func(ctx context.Context) error
	stopCancel func(ctx context.Context) error
	counts     counter
	// starting, with Config.OneProcess only (nil otherwise), is taken
	// whole by Run while River's client starts, and for one unit by every
	// insert. There an insert triggers the producers' fetch, reading what
	// the producers' start writes, without a lock in River (v0.51.2; the
	// race detector reports it): an insert waits for the start instead, or
	// for its own context. Without OneProcess River triggers no fetch on
	// insert, and an insert does not wait for a start that may hang.
	starting *semaphore.Weighted

	total *prometheus.CounterVec
	// deferredBy splits total's "deferred" outcome by reason.
	deferredBy *prometheus.CounterVec
	states     *prometheus.GaugeVec
	depth      *prometheus.GaugeVec
	running    *prometheus.GaugeVec
	// started and up say whether the workers run (River started, Run not
	// stopped); failure is why the last start attempt failed (Check).
	started prometheus.Gauge
	up      atomic.Bool
	failure atomic.Pointer[error]
}

// New runs River's migrations on driver's database (retrying for a while
// if another instance is migrating it at the same time), then returns a Queue
// on it. With h.Notifier or h.Reports set, Run works those kinds; otherwise
// the Queue only enqueues. Metrics are registered on reg when it is not nil.
func New[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], h Handlers, cfg Config, l *slog.Logger, reg prometheus.Registerer) (*Queue, error) {
	cfg.setDefaults()
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	l = l.With("component", "jobs")
	// River's migrator logs a line per version; one line says it all.
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: slog.New(atLeast{l.Handler(), slog.LevelWarn})})
	if err != nil {
		return nil, fmt.Errorf("jobs: migrator: %w", err)
	}
	res, err := migrate(ctx, m, l)
	if err != nil {
		return nil, fmt.Errorf("jobs: migrate: %w", err)
	}
	if n := len(res.Versions); n > 0 {
		l.Info("job queue migrated", "versions", n, "from", res.Versions[0].Version, "to", res.Versions[n-1].Version)
	}
	q := &Queue{
		cfg: cfg, l: l,
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "findash_jobs_total", Help: "Jobs by kind and outcome (inserted, duplicate, completed, retried, failed, cancelled, deferred).",
		}, []string{"kind", "outcome"}),
		deferredBy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "findash_jobs_deferred_total", Help: "Deferred job runs by kind and reason (user_cap: the user's running-report cap; store_behind: the store behind the live state the report must hold; other).",
		}, []string{"kind", "reason"}),
		states: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "findash_jobs", Help: "Jobs in the queue by state, sampled by the worker role.",
		}, []string{"state"}),
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "findash_jobs_queue_depth", Help: "Jobs available and waiting for a worker, per queue (alerts, reports, retention, default), sampled by the worker role.",
		}, []string{"queue"}),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "findash_jobs_queue_running", Help: "Jobs running, per queue, sampled by the worker role.",
		}, []string{"queue"}),
		started: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "findash_jobs_workers_started", Help: "1 while this instance's job workers run; 0 while their start waits for the database (each failed attempt is logged and retried), or in a role that works no jobs.",
		}),
		counts: driverCounter{driver.GetExecutor()},
	}
	rc := &river.Config{
		Logger:            l,
		MaxAttempts:       cfg.MaxAttempts,
		RetryPolicy:       retryPolicy{base: cfg.RetryBase, max: cfg.RetryMax},
		JobTimeout:        cfg.JobTimeout,
		FetchPollInterval: cfg.PollInterval,
		FetchCooldown:     min(100*time.Millisecond, cfg.PollInterval),
		PollOnly:          cfg.PollOnly,
	}
	if h.Notifier != nil || h.Reports != nil || h.Retention != nil {
		w := river.NewWorkers()
		if h.Notifier != nil {
			river.AddWorker(w, river.WorkFunc(func(ctx context.Context, j *river.Job[EmailArgs]) error {
				return q.outcome(j.JobRow, h.Notifier.EmailAlert(ctx, j.Args.EventID))
			}))
			river.AddWorker(w, river.WorkFunc(func(ctx context.Context, j *river.Job[WebhookArgs]) error {
				return q.outcome(j.JobRow, h.Notifier.WebhookAlert(ctx, j.Args.EventID))
			}))
		}
		if h.Reports != nil {
			river.AddWorker(w, river.WorkFunc(func(ctx context.Context, j *river.Job[ReportArgs]) error {
				last := j.Attempt >= j.MaxAttempts
				return q.outcome(j.JobRow, h.Reports.BuildReport(ctx, j.Args.ReportID, j.Args.Wait, last))
			}))
		}
		if h.Retention != nil {
			every := cfg.RetentionEvery
			// The sweep may run for its whole period (it archives before it
			// deletes); River rescues a job running longer than this (default
			// 1 h) and would start a second sweep beside the first, two
			// archivers rewriting one day's manifest.
			rc.RescueStuckJobsAfter = max(cfg.JobTimeout, every) + time.Hour
			river.AddWorker(w, &retentionWorker{timeout: every, work: func(ctx context.Context, j *river.Job[RetentionArgs]) error {
				n, err := h.Retention.Sweep(ctx)
				if err == nil && n > 0 {
					l.Info("deleted expired ticks", "ticks", n)
				}
				return q.outcome(j.JobRow, err)
			}})
			rc.PeriodicJobs = []*river.PeriodicJob{river.NewPeriodicJob(
				river.PeriodicInterval(every),
				func() (river.JobArgs, *river.InsertOpts) {
					return RetentionArgs{}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: every}}
				},
				&river.PeriodicJobOpts{ID: KindTickRetention, RunOnStart: true},
			)}
		}
		rc.Workers = w
		rc.Queues = map[string]river.QueueConfig{
			QueueAlerts:    {MaxWorkers: cfg.AlertWorkers},
			QueueReports:   {MaxWorkers: cfg.ReportWorkers},
			QueueRetention: {MaxWorkers: 1},
			queueLegacy:    {MaxWorkers: 1},
		}
		q.working = true
	}
	if cfg.OneProcess {
		driver = oneProcess[TTx]{driver}
		q.starting = semaphore.NewWeighted(startWeight)
	}
	c, err := river.NewClient(driver, rc)
	if err != nil {
		return nil, fmt.Errorf("jobs: client: %w", err)
	}
	q.insertMany, q.list, q.start, q.stop, q.stopCancel = c.InsertMany, c.JobList, c.Start, c.Stop, c.StopAndCancel
	q.ping = driver.GetExecutor().Ping
	if reg != nil {
		reg.MustRegister(q.total, q.deferredBy, q.states, q.depth, q.running, q.started)
	}
	return q, nil
}

// oneProcess is a River driver that says it can neither listen nor
// notify (Config.OneProcess): River's client then polls, and triggers its
// own producers' fetch when it inserts jobs itself, instead of writing a
// notification for a listener to read back.
type oneProcess[TTx any] struct{ riverdriver.Driver[TTx] }

func (oneProcess[TTx]) SupportsListener() bool     { return false }
func (oneProcess[TTx]) SupportsListenNotify() bool { return false }

// migrate applies River's pending migrations, retrying a failed attempt as
// retry.JobMigration says; the last attempt's error is returned. River's
// migrator takes no lock, so instances starting at once on a fresh
// PostgreSQL database race to create the same objects and all but one fail
// a version (duplicate key on pg_type, relation exists). Each version is
// applied in its own transaction, so a failed attempt leaves nothing
// behind, and the next attempt finds the winner's versions applied; a few
// attempts converge.
func migrate[TTx any](ctx context.Context, m *rivermigrate.Migrator[TTx], l *slog.Logger) (*rivermigrate.MigrateResult, error) {
	attempt := 0
	return backoff.Retry(ctx, func() (*rivermigrate.MigrateResult, error) {
		attempt++
		return m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	}, retry.JobMigration().Options(func(err error, wait time.Duration) {
		l.Info("job queue migration failed; another instance may be migrating, retrying", "attempt", attempt, "wait", wait, "err", err)
	})...)
}

// permanent is implemented by errors that no retry can fix.
type permanent interface{ Permanent() bool }

// deferred is implemented by errors that ask for the job to run again
// later without spending an attempt: the work may not start yet (the
// report service's per-user cap on running reports, a store behind the
// live state a report must hold).
type deferred interface{ RetryAfter() time.Duration }

// deferReason is implemented by deferral errors that say why the job must
// wait, so an operator tells a user at the report cap from a store that
// lags (findash_jobs_deferred_total{reason}).
type deferReason interface{ DeferReason() string }

// reasonOf is err's deferral reason: one of a fixed set, so the label's
// values stay bounded, and "other" for anything else.
func reasonOf(err error) string {
	var r deferReason
	if !errors.As(err, &r) {
		return "other"
	}
	switch why := r.DeferReason(); why {
	case "user_cap", "store_behind":
		return why
	default:
		return "other"
	}
}

// outcome counts a job attempt's result, turns a permanent error into a
// cancellation and a deferral into a snooze (River does not count a
// snoozed run as an attempt).
func (q *Queue) outcome(j *rivertype.JobRow, err error) error {
	var (
		p permanent
		d deferred
	)
	switch {
	case err == nil:
		q.total.WithLabelValues(j.Kind, "completed").Inc()
		return nil
	case errors.As(err, &d) && d.RetryAfter() >= 0:
		q.total.WithLabelValues(j.Kind, "deferred").Inc()
		q.deferredBy.WithLabelValues(j.Kind, reasonOf(err)).Inc()
		q.l.Debug("job deferred", "kind", j.Kind, "job_id", j.ID, "for", d.RetryAfter(), "why", err)
		return river.JobSnooze(d.RetryAfter())
	case errors.As(err, &p) && p.Permanent():
		q.total.WithLabelValues(j.Kind, "cancelled").Inc()
		q.l.Warn("job failed permanently", "kind", j.Kind, "job_id", j.ID, "attempt", j.Attempt, "err", err)
		return river.JobCancel(err)
	case j.Attempt >= j.MaxAttempts:
		q.total.WithLabelValues(j.Kind, "failed").Inc()
		q.l.Error("job failed; no attempts left", "kind", j.Kind, "job_id", j.ID, "attempt", j.Attempt, "err", err)
	default:
		q.total.WithLabelValues(j.Kind, "retried").Inc()
		q.l.Warn("job failed; will retry", "kind", j.Kind, "job_id", j.ID, "attempt", j.Attempt, "err", err)
	}
	return err
}

// retryPolicy is exponential backoff with ±20% jitter.
type retryPolicy struct{ base, max time.Duration }

// NextRetry implements river.ClientRetryPolicy.
func (p retryPolicy) NextRetry(j *rivertype.JobRow) time.Time {
	return time.Now().Add(p.backoff(j.Attempt))
}

// backoff is the wait after failed attempt n (1-based).
func (p retryPolicy) backoff(n int) time.Duration {
	d := p.base << min(max(n-1, 0), 30)
	if d <= 0 || d > p.max {
		d = p.max
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// insert enqueues jobs, counting inserts and duplicates.
func (q *Queue) insert(ctx context.Context, args ...river.JobArgs) error {
	params := make([]river.InsertManyParams, len(args))
	for i, a := range args {
		params[i] = river.InsertManyParams{Args: a}
	}
	if q.starting != nil {
		if err := q.starting.Acquire(ctx, 1); err != nil {
			return fmt.Errorf("enqueue %d jobs: waiting for the workers' start: %w", len(args), err)
		}
		defer q.starting.Release(1)
	}
	res, err := q.insertMany(ctx, params)
	if err != nil {
		return fmt.Errorf("enqueue %d jobs: %w", len(args), err)
	}
	for i, r := range res {
		outcome := "inserted"
		if r.UniqueSkippedAsDuplicate {
			outcome = "duplicate"
		}
		q.total.WithLabelValues(args[i].Kind(), outcome).Inc()
	}
	return nil
}

// EnqueueAlert enqueues ev's notifications: a send_email job if ev.Notify
// has email, a deliver_webhook job if it has webhook. Each is unique per
// event, so calling it again for the same event adds nothing.
func (q *Queue) EnqueueAlert(ctx context.Context, ev alert.Event) error {
	var args []river.JobArgs
	for _, c := range ev.Notify {
		switch c {
		case alert.ChannelEmail:
			args = append(args, EmailArgs{EventID: ev.ID})
		case alert.ChannelWebhook:
			args = append(args, WebhookArgs{EventID: ev.ID})
		}
	}
	if len(args) == 0 {
		return nil
	}
	return q.insert(ctx, args...)
}

// EnqueueReport enqueues the build of report id (unique per report), to
// start once the store's log positions reach wait (ReportArgs.Wait).
func (q *Queue) EnqueueReport(ctx context.Context, id int64, wait market.Positions) error {
	return q.insert(ctx, ReportArgs{ReportID: id, Wait: wait})
}

// Job is a job as listed by Jobs.
type Job struct {
	ID          int64
	Kind        string
	State       string // available, scheduled, running, retryable, completed, cancelled, discarded
	Attempt     int
	MaxAttempts int
	Args        string // compact JSON, the same on every driver (PostgreSQL's jsonb adds spaces)
	Errors      []string
	CreatedAt   time.Time
}

// Jobs lists up to limit jobs in the given states (all states when none),
// oldest first. Discarded jobs are the ones that failed for good.
func (q *Queue) Jobs(ctx context.Context, limit int, states ...string) ([]Job, error) {
	p := river.NewJobListParams().First(limit)
	if len(states) > 0 {
		st := make([]rivertype.JobState, len(states))
		for i, s := range states {
			st[i] = rivertype.JobState(s)
		}
		p = p.States(st...)
	} else {
		p = p.States(rivertype.JobStates()...)
	}
	res, err := q.list(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	out := make([]Job, 0, len(res.Jobs))
	for _, j := range res.Jobs {
		job := Job{ID: j.ID, Kind: j.Kind, State: string(j.State), Attempt: j.Attempt, MaxAttempts: j.MaxAttempts,
			Args: compactJSON(j.EncodedArgs), CreatedAt: j.CreatedAt}
		for _, e := range j.Errors {
			job.Errors = append(job.Errors, e.Error)
		}
		out = append(out, job)
	}
	return out, nil
}

// compactJSON is b without insignificant spaces, or b as is if it is not JSON.
func compactJSON(b []byte) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return string(b)
	}
	return buf.String()
}

// retentionWorker runs tick_retention with its own timeout, the retention
// period, instead of JobTimeout: a sweep archives whole days of ticks
// before it deletes them (internal/archive), which for a busy feed takes
// more than the minute other jobs get, and a day cut short by a timeout
// would be started over on every attempt and never finish.
type retentionWorker struct {
	river.WorkerDefaults[RetentionArgs]
	timeout time.Duration
	work    func(context.Context, *river.Job[RetentionArgs]) error
}

// Work runs the sweep.
func (w *retentionWorker) Work(ctx context.Context, j *river.Job[RetentionArgs]) error {
	return w.work(ctx, j)
}

// Timeout is the retention period.
func (w *retentionWorker) Timeout(*river.Job[RetentionArgs]) time.Duration { return w.timeout }
