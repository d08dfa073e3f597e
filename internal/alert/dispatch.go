package alert

import (
	"context"
	"time"
)

// sweepEvery is the default Config.SweepEvery.
const sweepEvery = time.Minute

// outbox sweeps for undispatched events every Config.SweepEvery until ctx
// ends. It runs beside the log's consumer, driven by its own ticker rather
// than by arriving messages: an event whose commit a promoted standby
// holds but whose jobs and dispatch mark it lacks (the failover fell
// between the commit and the enqueue) is not behind anything, and on a
// quiet log (a night, a weekend, a feed that stopped: the state after a
// disruptive failover) it would otherwise wait for the next tick or
// start, its notifications with it. A sweep may enqueue an event the
// consumer is enqueuing at the same moment: the jobs are unique per event
// and channel, so that is harmless.
func (e *Evaluator) outbox(ctx context.Context) {
	tick, stop := e.cfg.Ticker(e.cfg.SweepEvery)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			e.dispatchPending(ctx)
		}
	}
}

// dispatch enqueues the notifications of events and marks them dispatched.
// A failure leaves them pending for the next sweep; ok is false then.
func (e *Evaluator) dispatch(ctx context.Context, events []Event) (ok bool) {
	if e.disp == nil {
		return true
	}
	// A stop must not strand a committed event between its commit and its
	// jobs: enqueue with a bounded context that outlives ctx.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	ok = true
	ids := make([]int64, 0, len(events))
	for _, ev := range events {
		if err := e.disp.EnqueueAlert(ctx, ev); err != nil {
			e.l.Warn("cannot enqueue alert notifications; will retry", "event_id", ev.ID, "err", err)
			ok = false
			continue
		}
		ids = append(ids, ev.ID)
	}
	if len(ids) == 0 {
		return ok
	}
	if err := e.store.MarkEventsDispatched(ctx, ids); err != nil {
		// The jobs are unique per event: enqueuing them again is harmless.
		e.l.Warn("cannot mark alert events dispatched", "err", err)
		return false
	}
	return ok
}

// dispatchPending enqueues events left undispatched (by a crash, a failed
// enqueue, or a failover between a commit and its enqueue).
func (e *Evaluator) dispatchPending(ctx context.Context) {
	if e.disp == nil {
		return
	}
	for {
		evs, err := e.store.PendingEvents(ctx, 100)
		if err != nil {
			if ctx.Err() == nil {
				e.l.Warn("cannot read undispatched alert events", "err", err)
			}
			return
		}
		if len(evs) == 0 {
			return
		}
		if !e.dispatch(ctx, evs) || len(evs) < 100 {
			return
		}
	}
}
