// Package retention deletes what findash keeps only for a while: raw ticks
// older than the configured retention (candles are kept) and expired
// sessions. The worker's job queue runs a sweep periodically (job kind
// tick_retention).
//
// With an Archiver (the tick archive, internal/archive) a sweep archives
// before it deletes, and deletes only what the archiver reports archived:
// whole UTC days, so with an archive ticks stay up to a day longer than
// the retention. A sweep that stops anywhere (a crash, a failing store or
// bucket) leaves every tick not yet archived in the database; the next
// sweep archives it again, idempotently.
//
// It imports only the standard library and must not import a store or the
// job queue: it deletes through Deleter, and cmd/findash registers Sweep as
// the job.
package retention

import (
	"context"
	"errors"
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

// Archiver keeps ticks before they are deleted.
type Archiver interface {
	// ArchiveUntil archives the ticks stored before cut (ms, UTC) as far
	// as it can and returns until: every tick stored with ts < until is
	// archived (until <= cut). With an error, until says how far it got.
	ArchiveUntil(ctx context.Context, cut int64) (until int64, err error)
}

// Config tunes the Janitor.
type Config struct {
	Retention time.Duration // ticks older than this are deleted (default 7 days)
	// Archive, when set, archives ticks before they are deleted; nil
	// deletes them unarchived.
	Archive Archiver
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
	cut := now.Add(-j.cfg.Retention).UnixMilli()
	var archErr error
	if j.cfg.Archive != nil {
		// Delete only what is archived, even when the archive failed
		// midway: the days before the failure are safe to delete.
		until, err := j.cfg.Archive.ArchiveUntil(ctx, cut)
		if err != nil {
			archErr = fmt.Errorf("tick retention: archive: %w", err)
		}
		cut = min(cut, until)
	}
	n, err := j.store.DeleteTicksBefore(ctx, cut)
	if err != nil {
		return n, errors.Join(archErr, fmt.Errorf("tick retention: %w", err))
	}
	if archErr != nil {
		return n, archErr
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
