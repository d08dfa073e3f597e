// Package jobs is findash's durable job queue: River
// (github.com/riverqueue/river) on SQLite in stage 1 and on PostgreSQL from
// stage 2, through one code path — New takes River's driver
// (riversqlite.New(db) or riverpgxv5.New(pool)), built by cmd/findash.
//
// On PostgreSQL the pool given to riverpgxv5.New should be a direct one
// (to the server, not through PgBouncer in transaction pooling mode):
// River LISTENs for new jobs and leader elections, and a LISTEN does not
// survive a transaction pooler. Through one, set Config.PollOnly and give
// the pool default_query_exec_mode=exec (no prepared statements):
// TestQueueThroughPgBouncer keeps that way working. On SQLite, River's
// listener reads a notification table every 50 ms; the one process that
// opens stage 1's jobs.db sets Config.OneProcess instead, and its own
// inserts wake its workers. River needs a few
// connections of its own (a listener and the producers; pgxpool's default
// of at least 4 is enough). Several
// instances may call New at once on one database: River's migrator takes
// no lock, so New retries a migration that lost the race (see migrate).
//
// Job kinds: send_email and deliver_webhook (an alert event's
// notifications, unique per event and kind, so an event is never notified
// twice on a channel however often it is enqueued) and build_report (unique
// per report). A failed job is retried with exponential backoff and ±20%
// jitter (Config.RetryBase doubling up to Config.RetryMax) up to
// Config.MaxAttempts attempts, then left discarded — the visible failed
// state, listed by Queue.Jobs — for River's retention period (7 days). A
// handler error that says it is permanent (it has a Permanent() bool method
// returning true) cancels the job at once; one that asks for a later run
// (a RetryAfter() time.Duration method: the report service's per-user cap
// on running reports, or a store still behind the live state the report
// must hold) snoozes it without spending an attempt. Jobs live in
// the database, so they survive a restart; a job running when the process
// died is rescued and retried after River's stuck-job threshold.
//
// Queues. Each kind has its own River queue and its own workers, so no kind
// can starve another: alerts (send_email, deliver_webhook;
// Config.AlertWorkers), reports (build_report; Config.ReportWorkers) and
// retention (tick_retention; one worker). With one shared pool, one user's
// 300 queued reports held every worker and other users' alert e-mails
// waited behind them (issue 13). River's default queue keeps one worker for
// jobs an older version enqueued there.
//
// Roles. Every role that enqueues (api, worker) builds a Queue; only the
// worker role gives it Handlers and calls Run, which works jobs until its
// ctx ends and then stops gracefully: no new job is fetched and running jobs
// get until Config.StopTimeout to finish before they are cancelled.
//
// Metrics: findash_jobs_total{kind,outcome} (outcome: inserted, duplicate,
// completed, retried, failed, cancelled, deferred);
// findash_jobs_deferred_total{kind,reason} (reason: user_cap, store_behind,
// other — from the error's DeferReason method); findash_jobs{state},
// findash_jobs_queue_depth{queue} (available, waiting for a worker) and
// findash_jobs_queue_running{queue}, gauges refreshed every
// Config.StatsInterval by Run with the driver's count queries.
//
// Imports. jobs imports the alert types and River's core. It must not import
// a River driver (riversqlite, riverpgxv5) or a database driver —
// cmd/findash builds the driver — nor notify, report or retention: their
// work comes in as Notifier, ReportBuilder and Sweeper.
package jobs
