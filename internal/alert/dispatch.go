package alert

import (
	"context"
	"time"
)

// sweepEvery is how often a running evaluator looks for undispatched
// events (one indexed query) besides after a failed enqueue or mark: an
// event whose commit a promoted standby holds but whose jobs and dispatch
// mark it lacks (the failover fell between the commit and the enqueue)
// would otherwise wait for the next start, its notifications with it.
const sweepEvery = time.Minute

// dispatch enqueues the notifications of events and marks them dispatched.
// A failure leaves them pending for the next sweep.
func (r *run) dispatch(ctx context.Context, events []Event) {
	if r.e.disp == nil {
		return
	}
	// A stop must not strand a committed event between its commit and its
	// jobs: enqueue with a bounded context that outlives ctx.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	ids := make([]int64, 0, len(events))
	for _, ev := range events {
		if err := r.e.disp.EnqueueAlert(ctx, ev); err != nil {
			r.e.l.Warn("cannot enqueue alert notifications; will retry", "event_id", ev.ID, "err", err)
			r.sweep = true
			continue
		}
		ids = append(ids, ev.ID)
	}
	if len(ids) == 0 {
		return
	}
	if err := r.e.store.MarkEventsDispatched(ctx, ids); err != nil {
		// The jobs are unique per event: enqueuing them again is harmless.
		r.e.l.Warn("cannot mark alert events dispatched", "err", err)
		r.sweep = true
	}
}

// dispatchPending enqueues events left undispatched (by a crash, or a
// failed enqueue).
func (r *run) dispatchPending(ctx context.Context) {
	if r.e.disp == nil {
		r.sweep = false
		return
	}
	r.sweep = false
	for {
		evs, err := r.e.store.PendingEvents(ctx, 100)
		if err != nil {
			r.e.l.Warn("cannot read undispatched alert events", "err", err)
			r.sweep = true
			return
		}
		if len(evs) == 0 {
			return
		}
		r.dispatch(ctx, evs)
		if r.sweep || len(evs) < 100 {
			return
		}
	}
}
