package jobs

// Run: the workers' start, waited out while the database is unreachable,
// and their graceful stop.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/findash/findash/internal/retry"
)

// Run works jobs until ctx ends, then stops fetching and gives running jobs
// Config.StopTimeout to finish before cancelling them. It returns nil after
// a clean stop. Without handlers it returns at once. A database unreachable
// when the workers start is waited out (retry.Database), not returned.
func (q *Queue) Run(ctx context.Context) error {
	if !q.working {
		return nil
	}
	if !q.startWorkers(ctx) {
		return nil // ctx ended before the database answered
	}
	q.l.Info("job workers started", "alert_workers", q.cfg.AlertWorkers, "report_workers", q.cfg.ReportWorkers)
	q.up.Store(true)
	q.started.Set(1)
	defer func() {
		q.up.Store(false)
		q.started.Set(0)
	}()
	t := time.NewTicker(q.cfg.StatsInterval)
	defer t.Stop()
	q.sample(ctx)
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-t.C:
			q.sample(ctx)
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), q.cfg.StopTimeout)
	defer cancel()
	if err := q.stop(sctx); err != nil {
		q.l.Warn("jobs still running at the stop timeout; cancelling them", "err", err)
		cctx, cancel2 := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel2()
		if err := q.stopCancel(cctx); err != nil {
			return fmt.Errorf("jobs: stop: %w", err)
		}
	}
	q.l.Info("job workers stopped")
	return nil
}

// startPing bounds the ping before each attempt to start the workers.
const startPing = 5 * time.Second

// startWeight is the weight of Queue.starting that a start takes: all of
// it, while an insert takes one unit.
const startWeight = 1 << 30

// startWorkers starts River's client, retrying until it starts (true) or
// ctx ends (false). River's Start pings the database and fetches each
// queue's settings, so it fails while the database is unreachable: that is
// an outage the instance rides out (ingest goes on, issue 13 item 5), not a
// reason to stop it. Returned as Run's error, it stopped the whole instance,
// its public listener and every kept-alive connection included, whenever
// the database went away while the workers were still starting.
func (q *Queue) startWorkers(ctx context.Context) bool {
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		// River's Start cannot take a deadline: its context becomes the
		// workers' (below). A ping bounded by startPing, and by ctx,
		// comes first: a pooled connection to a server that vanished
		// without a reset waits for the kernel's TCP timeout (about 15
		// minutes), and the bounded ping closes it, so River's own ping
		// dials anew, under the pool's connect timeout.
		pctx, cancel := context.WithTimeout(ctx, startPing)
		err := q.ping(pctx)
		cancel()
		if err != nil {
			return struct{}{}, fmt.Errorf("ping: %w", err)
		}
		// River cancels the running jobs of a client whose Start context
		// ends (a hard stop): start it on a context that outlives ctx, so
		// that Run's stop is graceful and StopTimeout applies. Inserts
		// wait for each attempt (starting), not for the waits between.
		if q.starting != nil {
			if err := q.starting.Acquire(ctx, startWeight); err != nil {
				return struct{}{}, backoff.Permanent(err)
			}
			defer q.starting.Release(startWeight)
		}
		return struct{}{}, q.start(context.WithoutCancel(ctx))
	}, retry.Database().Options(func(err error, wait time.Duration) {
		q.failure.Store(&err)
		q.l.Warn("cannot start the job workers; retrying", "err", err, "retry_in", wait)
	})...)
	if err == nil {
		q.failure.Store(nil)
	}
	return err == nil
}

// Check returns nil while the job workers run, or when this queue works
// no jobs; otherwise why they do not (a readiness check: cmd/findash
// reports it as job_workers, not critical, since ingest, reads and inserts
// go on without workers). Start errors are retried until the context ends,
// so one that no retry fixes (a River schema migrated past this version, a
// missing privilege) shows here and in findash_jobs_workers_started.
func (q *Queue) Check(context.Context) error {
	if !q.working || q.up.Load() {
		return nil
	}
	if p := q.failure.Load(); p != nil {
		return fmt.Errorf("job workers not started: %w", *p)
	}
	return errors.New("job workers not started yet")
}
