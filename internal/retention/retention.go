// Package retention deletes raw ticks older than the configured retention, in
// the background, at start-up and then periodically. Candles are kept.
package retention

import (
	"context"
	"log/slog"
	"time"
)

// Deleter removes ticks with an event time before ts (ms, UTC) and reports how many.
type Deleter interface {
	DeleteTicksBefore(ctx context.Context, ts int64) (int64, error)
}

// Config tunes the Janitor.
type Config struct {
	Retention time.Duration // ticks older than this are deleted (default 7 days)
	Every     time.Duration // how often to sweep (default 1 h)
}

// Janitor enforces the tick retention.
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
	if cfg.Every <= 0 {
		cfg.Every = time.Hour
	}
	return &Janitor{store: store, cfg: cfg, now: now, log: log.With("component", "retention")}
}

// Sweep deletes the expired ticks once.
func (j *Janitor) Sweep(ctx context.Context) (int64, error) {
	cutoff := j.now().Add(-j.cfg.Retention).UnixMilli()
	return j.store.DeleteTicksBefore(ctx, cutoff)
}

// Run sweeps at once and then every cfg.Every until ctx ends. Failures are
// logged and retried at the next sweep; they never stop the process.
func (j *Janitor) Run(ctx context.Context) error {
	t := time.NewTicker(j.cfg.Every)
	defer t.Stop()
	for {
		n, err := j.Sweep(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			j.log.Warn("tick retention sweep failed", "err", err)
		case n > 0:
			j.log.Info("deleted expired ticks", "ticks", n, "retention", j.cfg.Retention)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
