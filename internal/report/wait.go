package report

import (
	"context"
	"fmt"
	"time"

	"github.com/findash/findash/internal/market"
)

// Applied says how far the live state has applied the event log
// (*live.Feed): the positions, by partition of symbols, whose ticks the
// API's live answers (GET /candles, decision 0048) already show.
type Applied interface {
	Applied(symbols []string) market.Positions
}

// Persisted reads how far the persister has written the event log into the
// store: partition part's position, market.Positions.Of (the SQL stores).
type Persisted interface {
	LogPosition(ctx context.Context, part int) (uint64, error)
}

// waitStore waits until the store's persister positions reach wait (the
// live state's when report r was requested), so the report holds every
// tick the API showed then (decision 0057). It looks every
// Config.StoreWaitEvery, for at most Config.StoreWaitHold in this attempt:
// a store still behind then returns a *storeBehind, whose RetryAfter gives
// the worker back and runs the job again later without spending an
// attempt. Config.StoreWaitAtMost after the request (r.CreatedAt, not this
// attempt's start: a deferred or retried build does not wait again from
// zero) it gives up and returns a *storeTimeout saying how far behind the
// store was: the report is built from what the store holds, and
// BuildReport warns and counts it once the build starts (every attempt
// after the bound, each deferred by its user's MaxRunning, gives it up
// again). It returns ctx's error when ctx ends first, or the store's.
func (s *Service) waitStore(ctx context.Context, r Report, wait market.Positions) (*storeTimeout, error) {
	if len(wait) == 0 || s.cfg.Persisted == nil {
		return nil, nil
	}
	deadline := r.CreatedAt.Add(s.cfg.StoreWaitAtMost)
	hold := s.cfg.Now().Add(s.cfg.StoreWaitHold)
	for {
		part, have, want, err := s.behind(ctx, wait)
		if err != nil {
			return nil, err
		} else if have >= want {
			return nil, nil
		}
		now := s.cfg.Now()
		if !now.Before(deadline) {
			return &storeTimeout{part: part, have: have, want: want, waited: now.Sub(r.CreatedAt)}, nil
		}
		if !now.Before(hold) {
			return nil, &storeBehind{id: r.ID, part: part, have: have, want: want, after: min(s.cfg.StoreWaitHold, deadline.Sub(now))}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for the store to reach position %d of partition %d: %w", want, part, ctx.Err())
		case <-s.cfg.After(s.cfg.StoreWaitEvery):
		}
	}
}

// storeTimeout is a wait for the store that gave up Config.StoreWaitAtMost
// after the request: the first partition still behind, its store and live
// positions, and the time since the request.
type storeTimeout struct {
	part       int
	have, want uint64
	waited     time.Duration
}

// storeWaitTimedOut warns that report r is built from a store behind the
// live state (t), and counts it (StoreWaitTimeouts).
func (s *Service) storeWaitTimedOut(r Report, t *storeTimeout) {
	s.storeWaitTimeouts.Add(1)
	s.l.Warn("the store is still behind the live state; building the report from what it holds",
		"report_id", r.ID, "partition", t.part, "store_position", t.have, "live_position", t.want, "waited", t.waited)
}

// behind returns the first partition of wait whose store position is below
// its wanted one, with both; have >= want when none is.
func (s *Service) behind(ctx context.Context, wait market.Positions) (part int, have, want uint64, err error) {
	for p, w := range wait {
		pos, err := s.cfg.Persisted.LogPosition(ctx, p)
		if err != nil {
			return p, 0, w, fmt.Errorf("read the store's log position: %w", err)
		}
		if pos < w {
			return p, pos, w, nil
		}
	}
	return 0, 0, 0, nil
}

// StoreWaitTimeouts counts the builds that stopped waiting for the store
// Config.StoreWaitAtMost after their report was requested
// (findash_report_store_wait_timeouts_total).
func (s *Service) StoreWaitTimeouts() uint64 { return s.storeWaitTimeouts.Load() }

// storeBehind says a build must wait for the store: it held its worker
// Config.StoreWaitHold and the store is still behind the live state. The
// job queue runs it again after RetryAfter without counting an attempt,
// as it does a waitTurn.
type storeBehind struct {
	id         int64
	part       int
	have, want uint64
	after      time.Duration
}

func (e *storeBehind) Error() string {
	return fmt.Sprintf("report %d: the store is at position %d of partition %d, the live state was at %d when it was requested; looking again in %v",
		e.id, e.have, e.part, e.want, e.after)
}

// RetryAfter is how long the build waits before it looks again.
func (e *storeBehind) RetryAfter() time.Duration { return e.after }

// DeferReason names the deferral in findash_jobs_deferred_total.
func (e *storeBehind) DeferReason() string { return "store_behind" }
