// Package retention deletes what findash keeps only for a while: raw ticks
// older than the configured retention (candles are kept) and expired
// sessions. The worker's job queue runs a sweep periodically (job kind
// tick_retention).
//
// With an Archiver (the tick archive, internal/archive) a sweep archives
// before it deletes, and deletes only what the archiver reports archived:
// whole UTC days, so with an archive ticks stay up to a day longer than
// the retention. It deletes (symbol, day) by (symbol, day), each only
// while the store holds exactly the ticks the archiver read of it: a tick
// imported into the day meanwhile is archived before it is deleted. A
// sweep that stops anywhere (a crash, a failing store or bucket) leaves
// every tick not yet archived in the database; the next sweep archives it
// again, idempotently.
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

// Deleter removes ticks.
type Deleter interface {
	// DeleteTicksBefore removes ticks with an event time before ts (ms,
	// UTC) and reports how many: the sweep without an archive.
	DeleteTicksBefore(ctx context.Context, ts int64) (int64, error)
	// DeleteTicksCounted removes symbol's ticks with ts in [from, to) in
	// one transaction if exactly want of them are stored, and nothing
	// otherwise; it reports how many it found and whether it deleted
	// them. The sweep with an archive deletes through it only what the
	// archiver read.
	DeleteTicksCounted(ctx context.Context, symbol string, from, to, want int64) (n int64, deleted bool, err error)
}

// emptyDayDropper is a store that keeps ticks in per-day partitions
// (PostgreSQL): after the counted deletes it drops the partitions before
// ts that are left empty.
type emptyDayDropper interface {
	DropEmptyTickDays(ctx context.Context, before int64) (int, error)
}

// sessionDeleter is implemented by stores that keep sessions (SQL stores;
// Redis expires its own).
type sessionDeleter interface {
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error)
}

// Archiver keeps ticks before they are deleted.
type Archiver interface {
	// ArchiveUntil archives the ticks stored before cut (ms, UTC) as far
	// as it can and returns until (<= cut): how far it got. It calls
	// archived for every (symbol, UTC day) whose stored ticks it archived,
	// with the day's start (ms) and how many ticks it read from the store.
	ArchiveUntil(ctx context.Context, cut int64, archived func(symbol string, day, stored int64)) (until int64, err error)
	// ArchiveDay archives symbol's stored ticks of the UTC day starting at
	// day again and returns how many it read from the store.
	ArchiveDay(ctx context.Context, symbol string, day int64) (stored int64, err error)
}

// dayMs is a UTC day in milliseconds: the archive's unit.
const dayMs = 24 * 60 * 60 * 1000

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
	var n int64
	var err error
	if j.cfg.Archive != nil {
		n, err = j.archiveAndDelete(ctx, cut)
	} else if n, err = j.store.DeleteTicksBefore(ctx, cut); err != nil {
		err = fmt.Errorf("tick retention: %w", err)
	}
	if err != nil {
		return n, err
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

// day is one (symbol, UTC day) the archiver archived.
type day struct {
	symbol     string
	from       int64 // ms, the day's start
	stored     int64 // ticks read from the store
	reArchived bool
}

// archiveAndDelete archives the whole days before cut and deletes what the
// archiver read, (symbol, day) by (symbol, day): each only while the store
// holds exactly the ticks the archiver read of it. A day whose count
// changed (an import wrote into it after the archiver read it) is archived
// again and its delete tried once more; if it changed again it stays for
// the next sweep. So no tick is deleted that the archive does not hold,
// whatever imports run meanwhile (decision 0027). Days before a failure
// of the archive are deleted; the error is returned after.
func (j *Janitor) archiveAndDelete(ctx context.Context, cut int64) (int64, error) {
	var days []day
	until, archErr := j.cfg.Archive.ArchiveUntil(ctx, cut, func(symbol string, from, stored int64) {
		days = append(days, day{symbol: symbol, from: from, stored: stored})
	})
	if archErr != nil {
		archErr = fmt.Errorf("tick retention: archive: %w", archErr)
	}
	var total int64
	for _, d := range days {
		if d.from+dayMs > until {
			continue // not reported archived (cannot happen: only whole days are)
		}
		for {
			n, ok, err := j.store.DeleteTicksCounted(ctx, d.symbol, d.from, d.from+dayMs, d.stored)
			if err != nil {
				return total, errors.Join(archErr, fmt.Errorf("tick retention: delete %s of %s: %w", d.symbol, time.UnixMilli(d.from).UTC().Format(time.DateOnly), err))
			}
			if ok {
				total += n
				break
			}
			if d.reArchived {
				j.log.Warn("ticks kept: their day changed while it was archived, twice; the next sweep archives it again",
					"symbol", d.symbol, "day", time.UnixMilli(d.from).UTC().Format(time.DateOnly), "stored", n)
				break
			}
			// An import wrote into the day since the archiver read it.
			stored, err := j.cfg.Archive.ArchiveDay(ctx, d.symbol, d.from)
			if err != nil {
				return total, errors.Join(archErr, fmt.Errorf("tick retention: archive %s again: %w", d.symbol, err))
			}
			d.stored, d.reArchived = stored, true
		}
	}
	if dd, ok := j.store.(emptyDayDropper); ok {
		if _, err := dd.DropEmptyTickDays(ctx, until); err != nil {
			return total, errors.Join(archErr, fmt.Errorf("tick retention: %w", err))
		}
	}
	return total, archErr
}
