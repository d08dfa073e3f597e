// Package retention deletes what findash keeps only for a while: raw ticks
// older than the configured retention (candles are kept) and expired
// sessions. The worker's job queue runs a sweep periodically (job kind
// tick_retention).
//
// It imports only the standard library and must not import a store or the
// job queue: it deletes through Deleter, and cmd/findash registers Sweep as
// the job.
package retention

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Deleter removes ticks with an event time before ts (ms, UTC) and reports how many.
type Deleter interface {
	DeleteTicksBefore(ctx context.Context, ts int64) (int64, error)
}

// sessionDeleter is implemented by stores that keep sessions (SQL stores;
// Redis expires its own).
type sessionDeleter interface {
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error)
}

// Config tunes the Janitor.
type Config struct {
	Retention time.Duration // ticks older than this are deleted (default 7 days)
}

// Janitor enforces the retention.
type Janitor struct {
	store Deleter
	cfg   Config
	now   func() time.Time
	log   *slog.Logger
}

// New returns a Janitor over store; now is the clock.
func New(store Deleter, cfg Config, now func() time.Time, log *slog.Logger) *Janitor {
	if cfg.Retention <= 0 {
		cfg.Retention = 7 * 24 * time.Hour
	}
	return &Janitor{store: store, cfg: cfg, now: now, log: log.With("component", "retention")}
}

// Sweep deletes the expired ticks, and the expired sessions when the store
// keeps sessions, once. It returns how many ticks it deleted.
func (j *Janitor) Sweep(ctx context.Context) (int64, error) {
	now := j.now()
	n, err := j.store.DeleteTicksBefore(ctx, now.Add(-j.cfg.Retention).UnixMilli())
	if err != nil {
		return n, fmt.Errorf("tick retention: %w", err)
	}
	if sd, ok := j.store.(sessionDeleter); ok {
		s, err := sd.DeleteExpiredSessions(ctx, now)
		if err != nil {
			return n, fmt.Errorf("expired sessions: %w", err)
		}
		if s > 0 {
			j.log.Info("deleted expired sessions", "sessions", s)
		}
	}
	return n, nil
}
