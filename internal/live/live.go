// Package live keeps the live market projection: it folds the event log into
// a market.State and hands every tick, with what it changed, to a Sink (the
// WebSocket gateway's hub).
//
// Start-up: the State is restored from the store's snapshot, taken at log
// position P. The log is then read from min(P+1, the first message of the
// last ReplayWindow): messages at or below P only warm the sink's replay
// buffers (the State already holds them), later ones are applied to the
// State and then published with the resulting market.Update.
//
// Concurrency. Run owns one goroutine (its own, through Log.Consume); Sink
// methods are called from it, one at a time, in log order. The sink must not
// block for long (it slows the whole projection; the log keeps everything, so
// nothing is lost) and must not keep the ticks or the Update after Publish
// returns: both are reused.
//
// Imports. live imports only the domain (market). It must not import the
// bus, a store or the gateway: it reads through Log and Restorer and
// publishes through Sink.
package live

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/retry"
)

// Log is the event log, read in order; *bus.Bus implements it.
type Log interface {
	// Consume calls fn for every message from stream sequence from on, in
	// order, until ctx ends or fn fails.
	Consume(ctx context.Context, from uint64, fn func(streamSeq uint64, ticks []market.Tick) error) error
	// SeqAt returns the stream sequence of the first message stored at or after t.
	SeqAt(ctx context.Context, t time.Time) (uint64, error)
	// LastSeq returns the stream sequence of the newest message.
	LastSeq(ctx context.Context) (uint64, error)
}

// Sink receives the live ticks; the gateway hub implements it.
type Sink interface {
	// Publish hands over one log message's ticks (one symbol, seq order)
	// and what applying them changed. u is empty for ticks replayed only to
	// warm replay buffers. Neither may be kept after Publish returns.
	Publish(ticks []market.Tick, u *market.Update)
	// SetFloor says the sink will receive every tick with a seq above seq
	// (called once, before the first Publish).
	SetFloor(seq uint64)
}

// Restorer returns the persisted state to start from; the store implements it.
type Restorer interface {
	RestoreState(ctx context.Context) (candles []market.Candle, logSeq uint64, err error)
}

// Config tunes a Feed.
type Config struct {
	// ReplayWindow is how much recent history is replayed into the sink on
	// start (default 5m).
	ReplayWindow time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Feed projects the log into a State and a Sink.
type Feed struct {
	log      Log
	restorer Restorer
	state    *market.State
	sink     Sink
	cfg      Config
	l        *slog.Logger

	readyOnce sync.Once
	ready     chan struct{}
}

// New returns a Feed; Run starts it.
func New(log Log, restorer Restorer, state *market.State, sink Sink, cfg Config, l *slog.Logger) *Feed {
	if cfg.ReplayWindow <= 0 {
		cfg.ReplayWindow = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Feed{log: log, restorer: restorer, state: state, sink: sink, cfg: cfg,
		l: l.With("component", "live"), ready: make(chan struct{})}
}

// Ready is closed once the feed has applied every message that was in the
// log when it started: the State is current.
func (f *Feed) Ready() <-chan struct{} { return f.ready }

func (f *Feed) markReady() { f.readyOnce.Do(func() { close(f.ready) }) }

// Run restores the State, then follows the log until ctx ends, and returns
// nil. Failures of the store or the log at start-up are retried with backoff;
// the log consumer resumes by itself after connection failures.
func (f *Feed) Run(ctx context.Context) error {
	var (
		candles []market.Candle
		pos     uint64
	)
	if !f.retry(ctx, retry.Database(), "restore state", func() (err error) {
		candles, pos, err = f.restorer.RestoreState(ctx)
		return err
	}) {
		return nil
	}
	f.state.Restore(candles)

	var windowStart, last uint64
	if !f.retry(ctx, retry.Log(), "find the replay window", func() (err error) {
		if windowStart, err = f.log.SeqAt(ctx, f.cfg.Now().Add(-f.cfg.ReplayWindow)); err != nil {
			return err
		}
		last, err = f.log.LastSeq(ctx)
		return err
	}) {
		return nil
	}
	start := min(pos+1, windowStart)
	f.l.Info("live feed started", "restored_candles", len(candles), "position", pos, "from", start, "log_last", last)
	if last < start {
		f.markReady()
	}
	// Seq of a tick = streamSeq<<16 | index (bus.TickSeq): the sink holds
	// every tick above the last one of message start-1.
	f.sink.SetFloor(start<<16 - 1)

	var u, empty market.Update
	err := f.log.Consume(ctx, start, func(seq uint64, ticks []market.Tick) error {
		if seq <= pos {
			f.sink.Publish(ticks, &empty)
		} else {
			u.Reset()
			f.state.Apply(ticks, &u)
			f.sink.Publish(ticks, &u)
		}
		if seq >= last {
			f.markReady()
		}
		return nil
	})
	if ctx.Err() == nil {
		f.l.Error("live feed stopped", "err", err)
		return err
	}
	return nil
}

// retry calls fn until it succeeds (true) or ctx ends (false), waiting
// between attempts as policy p says and logging each failure.
func (f *Feed) retry(ctx context.Context, p retry.Policy, what string, fn func() error) bool {
	_, err := backoff.Retry(ctx, func() (struct{}, error) { return struct{}{}, fn() },
		p.Options(func(err error, wait time.Duration) {
			f.l.Warn("cannot "+what+"; retrying", "err", err, "retry_in", wait)
		})...)
	return err == nil
}
