// Package live keeps the live market projection: it folds the event log into
// a market.State and hands every tick, with what it changed, to a Sink (the
// WebSocket gateway's hub).
//
// Start-up: the State is restored from the store's snapshot, taken at log
// position P. The log is then read from min(P+1, the first message of the
// last ReplayWindow): messages at or below P only warm the sink's replay
// buffers (the State already holds them), later ones are applied to the
// State and then published with the resulting market.Update. With a
// partitioned log (Config.Partitions) P is per partition — each partition's
// persister keeps its own — so reading starts after the lowest, and a
// message is already in the State when at or below its symbol's
// partition's position.
//
// Memory. Every EvictEvery, Run frees the live statistics of the symbols no
// tick has arrived for in IdleAfter (market.State.Evict), keeping their
// quotes; the store keeps everything else.
//
// Concurrency. Run owns two goroutines: its own, which reads the log
// (through Log.Consume), and the evicting sweep, which it stops before it
// returns. Sink methods are called from the first, one at a time, in log
// order. The sink must not block for long (it slows the whole projection;
// the log keeps everything, so nothing is lost) and must not keep the
// ticks or the Update after Publish returns: both are reused.
//
// Stored bad values. Every restored candle and every tick read from the
// log is checked against Config.Limits first (market.Limits.CheckCandle,
// CheckLogged): a value an older, looser version stored — a price of
// 1e-300, a size of 1e308, a tick dated 2099 — is skipped and counted
// (findash_live_skipped_candles_total, findash_live_skipped_ticks_total),
// so it can neither poison the State (every read of it would fail) nor
// reach a WebSocket client.
//
// Imports. live imports only the domain (market), the retry policies and
// the Prometheus client. It must not import the bus, a store or the
// gateway: it reads through Log and Restorer and publishes through Sink.
package live

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/prometheus/client_golang/prometheus"

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

// Restorer returns the persisted state to start from and the log positions
// (by partition) it reflects; the store implements it.
type Restorer interface {
	RestoreState(ctx context.Context) (candles []market.Candle, pos market.Positions, err error)
}

// MarksRestorer is a Restorer that also reads, in the same snapshot, the
// store's import marks (live.Imports): where an ImportWatch starts
// (Feed.RestoredMarks). The stores implement it.
type MarksRestorer interface {
	RestoreStateMarks(ctx context.Context) (candles []market.Candle, pos market.Positions, marks map[string]int64, err error)
}

// Config tunes a Feed.
type Config struct {
	// ReplayWindow is how much recent history is replayed into the sink on
	// start (default 5m).
	ReplayWindow time.Duration
	// IdleAfter is how long a symbol may go without a tick before its live
	// statistics are freed (market.State.Evict), keeping its quote.
	// Default 25h: more than the 24 h window, so a revived symbol's
	// statistics are exact.
	IdleAfter time.Duration
	// EvictEvery is how often idle symbols are looked for (default 1m).
	EvictEvery time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Limits bound what is restored and applied (zero fields:
	// market.DefaultLimits); anything outside is skipped.
	Limits market.Limits
	// Partitions is the log's partition count (0: unpartitioned) and
	// PartitionOf the partition of a symbol (required when Partitions > 0;
	// bus.PartitionOfSymbol). With partitions each persister's position is
	// its partition's, so whether a message is already in the restored
	// state depends on its symbol's partition.
	Partitions  int
	PartitionOf func(symbol string) int
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
	// restored is the store's positions the State was restored at (set
	// before ready), consumed the stream sequence of the last log message
	// read and, unless already in the State, applied: the State holds
	// every message of partition p up to max(restored.Of(p), consumed).
	restored atomic.Pointer[market.Positions]
	consumed atomic.Uint64
	// applied[p] is the stream sequence of the last message of partition
	// p read (len Config.Partitions; nil unpartitioned): a partition's
	// persister position can stay below consumed forever when the
	// partition gets no later message, so Applied reports it per partition.
	applied []atomic.Uint64
	// marks are the import marks read with the restored state (nil: the
	// restorer reads none), set before restoredC is closed.
	marks     map[string]int64
	restoredC chan struct{}

	skippedTicks   prometheus.Counter
	skippedCandles prometheus.Counter
	evicted        prometheus.Counter
	forgotten      prometheus.Counter
	kept           []market.Tick // the checked ticks of one message; Run's goroutine only
	skipWarnings   int           // Run's goroutine only
}

// New returns a Feed; Run starts it. Its metrics are registered on reg when
// it is not nil.
func New(log Log, restorer Restorer, state *market.State, sink Sink, cfg Config, l *slog.Logger, reg prometheus.Registerer) *Feed {
	if cfg.ReplayWindow <= 0 {
		cfg.ReplayWindow = 5 * time.Minute
	}
	if cfg.IdleAfter <= 0 {
		cfg.IdleAfter = 25 * time.Hour
	}
	if cfg.EvictEvery <= 0 {
		cfg.EvictEvery = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Limits = cfg.Limits.WithDefaults()
	f := &Feed{log: log, restorer: restorer, state: state, sink: sink, cfg: cfg,
		l: l.With("component", "live"), ready: make(chan struct{}), restoredC: make(chan struct{}),
		applied: make([]atomic.Uint64, max(cfg.Partitions, 0)),
		skippedTicks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_live_skipped_ticks_total",
			Help: "Ticks read from the event log outside the tick limits (stored by an older version), skipped.",
		}),
		skippedCandles: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_live_skipped_candles_total",
			Help: "Stored candles outside the tick limits (written by an older version), not restored.",
		}),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_market_symbols_evicted_total",
			Help: "Symbols whose live statistics were freed after --symbol-idle-after without a tick (their quote is kept).",
		}),
		forgotten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_market_symbols_forgotten_total",
			Help: "Symbols removed from the live state, quote and all, because they were unregistered (findash symbol remove).",
		}),
	}
	if reg != nil {
		reg.MustRegister(f.skippedTicks, f.skippedCandles, f.evicted, f.forgotten,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "findash_market_symbols", Help: "Symbols in the live market state (with a quote, active or evicted).",
			}, func() float64 { n, _ := state.Len(); return float64(n) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "findash_market_symbols_active", Help: "Symbols of the live market state holding 24 h statistics and open candles (not evicted).",
			}, func() float64 { _, n := state.Len(); return float64(n) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "findash_market_recent_candles",
				Help: "Candles the live state's recent-candle rings have room for, all symbols and intervals together (~115 bytes each; at most 2,000,000).",
			}, func() float64 { return float64(state.RecentLen()) }),
		)
	}
	return f
}

// Ready is closed once the feed has applied every message that was in the
// log when it started: the State is current.
func (f *Feed) Ready() <-chan struct{} { return f.ready }

func (f *Feed) markReady() { f.readyOnce.Do(func() { close(f.ready) }) }

// RestoredMarks waits until the State is restored and returns the import
// marks read in the same snapshot, ok false when the restorer reads none
// (not a MarksRestorer); the error is ctx's when it ends first.
func (f *Feed) RestoredMarks(ctx context.Context) (marks map[string]int64, ok bool, err error) {
	select {
	case <-f.restoredC:
		return f.marks, f.marks != nil, nil
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
}

// Holds reports whether the State holds every log message of symbol's
// partition up to stored.Of(that partition) — a store's positions (the
// persister's): then the State's candles of symbol are at least as new as
// that store's were when stored was read. False until the feed is Ready.
// Safe for concurrent use; it allocates nothing.
func (f *Feed) Holds(symbol string, stored market.Positions) bool {
	select {
	case <-f.ready:
	default:
		return false
	}
	p := market.Unpartitioned
	if f.cfg.Partitions > 0 {
		p = f.cfg.PartitionOf(symbol)
	}
	have := f.consumed.Load()
	if r := f.restored.Load(); r != nil {
		have = max(have, r.Of(p))
	}
	return have >= stored.Of(p)
}

// Applied returns, for the partition of each of symbols (or for the
// unpartitioned log), the stream sequence of the last log message of that
// partition the State has applied since it was restored: once a store's
// persister positions (market.Positions.Of) reach them, the store holds
// every tick of symbols the State showed when Applied was called (a report
// waits for it, decision 0057). A partition with nothing applied since the
// restore is absent (the store already holds what the State was restored
// from). Safe for concurrent use.
func (f *Feed) Applied(symbols []string) market.Positions {
	ps := market.Positions{}
	if f.cfg.Partitions == 0 {
		if seq := f.consumed.Load(); seq > 0 {
			ps[market.Unpartitioned] = seq
		}
		return ps
	}
	for _, sym := range symbols {
		p := f.cfg.PartitionOf(sym)
		if seq := f.applied[p].Load(); seq > 0 {
			ps[p] = seq
		}
	}
	return ps
}

// Run restores the State, then follows the log until ctx ends, and returns
// nil. Failures of the store or the log at start-up are retried with backoff;
// the log consumer resumes by itself after connection failures.
func (f *Feed) Run(ctx context.Context) error {
	sctx, stop := context.WithCancel(ctx)
	swept := make(chan struct{})
	go func() { defer close(swept); f.evictIdle(sctx) }()
	defer func() { stop(); <-swept }()

	var (
		candles []market.Candle
		stored  market.Positions
	)
	if !f.retry(ctx, retry.Database(), "restore state", func() (err error) {
		if mr, ok := f.restorer.(MarksRestorer); ok {
			candles, stored, f.marks, err = mr.RestoreStateMarks(ctx)
			return err
		}
		candles, stored, err = f.restorer.RestoreState(ctx)
		return err
	}) {
		return nil
	}
	kept, skipped := f.checkCandles(candles)
	f.state.Restore(kept, skipped)
	f.restored.Store(&stored)
	close(f.restoredC)
	// pos is the lowest position of all partitions: reading resumes after
	// it. partPos[p] is partition p's (nil unpartitioned): a message at or
	// below its partition's position is already in the state.
	pos := stored.Of(market.Unpartitioned)
	var partPos []uint64
	if f.cfg.Partitions > 0 {
		partPos = make([]uint64, f.cfg.Partitions)
		for p := range partPos {
			partPos[p] = stored.Of(p)
		}
		pos = slices.Min(partPos)
	}

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
	// Seq of a tick = streamSeq<<16 | index (bus.TickSeq): the sink holds
	// every tick above the last one of message start-1. Set before Ready,
	// so whoever waits on Ready sees the floor.
	f.sink.SetFloor(start<<16 - 1)
	if last < start {
		f.markReady()
	}

	var u, empty market.Update
	err := f.log.Consume(ctx, start, func(seq uint64, ticks []market.Tick) error {
		ticks = f.checkTicks(ticks)
		// A message holds one symbol's ticks, so one partition: its symbol
		// is hashed once, for the check below and for Applied.
		part, held := market.Unpartitioned, pos
		if partPos != nil && len(ticks) > 0 {
			part = f.cfg.PartitionOf(ticks[0].Symbol)
			held = partPos[part]
		}
		// The positions are stored after Apply (a reader that sees seq sees
		// its ticks) and before Publish: a client that got a tick from the
		// sink and then asks for a report finds it in Applied.
		switch {
		case len(ticks) == 0: // every tick of the message was skipped
			f.consumed.Store(seq)
		case seq <= held:
			f.consumed.Store(seq)
			f.sink.Publish(ticks, &empty)
		default:
			u.Reset()
			f.state.Apply(ticks, &u)
			if partPos != nil {
				f.applied[part].Store(seq)
			}
			f.consumed.Store(seq)
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

// checkCandles splits the restored candles: those within the limits (in
// place) and those outside, counted and logged.
func (f *Feed) checkCandles(candles []market.Candle) (kept, skipped []market.Candle) {
	now := f.cfg.Now()
	kept = candles[:0]
	for i := range candles {
		c := &candles[i]
		if err := f.cfg.Limits.CheckCandle(c, now); err != nil {
			f.skippedCandles.Inc()
			f.warnSkipped("stored candle skipped", "symbol", c.Symbol, "interval", c.Interval.String(), "start", c.Start, "err", err)
			skipped = append(skipped, *c)
			continue
		}
		kept = append(kept, *c)
	}
	return kept, skipped
}

// checkTicks returns ticks without those outside the limits, counting and
// logging them. The common case (all good) returns ticks itself; otherwise
// the result lives in f.kept until the next call.
func (f *Feed) checkTicks(ticks []market.Tick) []market.Tick {
	now := f.cfg.Now()
	for i := range ticks {
		if f.cfg.Limits.CheckLogged(&ticks[i], now) == nil {
			continue
		}
		f.kept = append(f.kept[:0], ticks[:i]...)
		for j := i; j < len(ticks); j++ {
			t := &ticks[j]
			if err := f.cfg.Limits.CheckLogged(t, now); err != nil {
				f.skippedTicks.Inc()
				f.warnSkipped("logged tick skipped", "symbol", t.Symbol, "seq", t.Seq, "ts", t.TS, "err", err)
				continue
			}
			f.kept = append(f.kept, *t)
		}
		return f.kept
	}
	return ticks
}

// maxSkipWarnings bounds the warnings about skipped values per Feed: a log
// full of them must not flood the log; the metrics count every one.
const maxSkipWarnings = 20

// warnSkipped logs one skipped value, up to maxSkipWarnings.
func (f *Feed) warnSkipped(msg string, args ...any) {
	if f.skipWarnings++; f.skipWarnings > maxSkipWarnings {
		return
	}
	if f.skipWarnings == maxSkipWarnings {
		args = append(args, "note", "further skipped values are only counted")
	}
	f.l.Warn(msg, args...)
}

// evictIdle frees the live statistics of symbols idle for IdleAfter, every
// EvictEvery, until ctx ends. The State's own lock makes it safe beside
// Apply; each sweep holds it for about a microsecond per 100 symbols.
func (f *Feed) evictIdle(ctx context.Context) {
	t := time.NewTicker(f.cfg.EvictEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n := f.state.Evict(f.cfg.Now().Add(-f.cfg.IdleAfter)); n > 0 {
				f.evicted.Add(float64(n))
				f.l.Debug("idle symbols evicted", "symbols", n)
			}
		}
	}
}

// Forget removes from the live state the symbols registered rejects that
// have not ticked since readAt (market.State.Forget): wired to the symbol
// registry's loads, it makes /api/v1/symbols forget what an operator
// unregistered. Safe to call from any goroutine.
func (f *Feed) Forget(registered func(symbol string) bool, readAt time.Time) {
	if n := f.state.Forget(registered, readAt); n > 0 {
		f.forgotten.Add(float64(n))
		f.l.Info("unregistered symbols removed from the live state", "symbols", n)
	}
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
