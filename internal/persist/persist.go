// Package persist copies the event log into the database: ticks, and the
// candles rolled up from them, exactly once.
//
// Data flow: Log.Consume (from the stored position + 1) → a bounded channel
// of messages → the writer loop, which accumulates ticks and partial candles
// (market.Rollup) and calls Store.WriteBatch with the stream sequence of the
// last message it holds. The store writes ticks, merges candles and records
// that sequence in one transaction and ignores a batch at or below its
// position, so a restart — graceful or kill -9 — resumes exactly after the
// last committed batch: nothing is lost and nothing is counted twice.
//
// Batching (decision 0071). A batch is written when it holds MaxBatch
// ticks; FlushInterval after its first tick when it then holds FlushMin
// ticks or a late one (more than Late behind the clock); otherwise when it
// reaches FlushMin or Linger after its first tick. At low rates a
// transaction costs about the same whatever it holds, so lingering writes
// fewer, fuller ones; every tick is in the log (acknowledged) all along,
// and the store lags by up to Linger: readers that need what the live
// state showed wait for the persisted position (reports, decision 0057),
// and the API caches a range as closed only StoredWithin and a margin
// after its end.
//
// Concurrency and overflow. Run owns three goroutines: itself (the writer),
// the log consumer and the committer. Between the consumer and the writer
// sits a channel of Config.Buffer messages; when it is full the consumer
// waits (back-pressure to the log, which keeps everything), so memory stays
// bounded and nothing is dropped. The writer hands a due batch to the
// committer, which runs Store.WriteBatch, and fills the next one meanwhile
// (issue 14: the rollup and the transaction overlap); one batch at most is
// in flight, so two are held at most, and the next is handed over only
// after the outcome of the one before: batches commit in log order. A
// failing store is retried with backoff for as long as it takes; the batch
// is never skipped, and no later one is written before it.
//
// A database that went back. Every batch tells the store the position
// this persister last wrote or read, and the store compares it with the
// position it holds, in the batch's transaction: below it, the database
// has lost commits it acknowledged — a failover to a standby that had not
// received them (asynchronous replication), a restore — and the store
// refuses the batch (market.ErrBehind). The persister then resumes from
// the stored position, so the log writes those batches again
// (findash_persist_rewinds_total); writing after its own position would
// leave a hole for good. The check is in the store's transaction because
// nothing else sees the rollback reliably: with a multi-host URL or a
// pooler, the next write after a failover may reach the new server
// without any write failing (the persister idle during the failover, its
// final write on shutdown, a partition handed over).
//
// Stored bad values. Every tick read from the log is checked against
// Config.Limits (market.Limits.CheckLogged) first: a tick an older, looser
// version accepted — a price of 1e-300, a size of 1e308, a tick dated
// 2099 — is not written, and is counted (findash_persist_skipped_ticks_total),
// so no candle in the database is built from it. Its message still
// advances the position.
//
// Imports. persist imports only the domain (market) and the Prometheus
// client. It must not import the bus or a store: they are the Log and Store
// interfaces it declares.
package persist

import (
	"context"
	"errors"
	"log/slog"
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
	// order, until ctx ends or fn fails. fn must not keep ticks.
	Consume(ctx context.Context, from uint64, fn func(streamSeq uint64, ticks []market.Tick) error) error
	// LastSeq returns the stream sequence of the newest message.
	LastSeq(ctx context.Context) (uint64, error)
}

// Store is where the log is persisted; the SQL stores implement it. part
// is the log partition whose position is meant (market.Unpartitioned for
// the unpartitioned log).
type Store interface {
	// WriteBatch writes ticks, merge-upserts candles (market.Candle.Merge)
	// and records logSeq as partition part's position, in one transaction. The batch holds
	// the log messages fromSeq..logSeq; prevSeq is the position the writer
	// last wrote or read (0: none). It returns an error matching
	// market.ErrBehind, writing nothing, when the stored position is below
	// prevSeq (the database lost commits). It does nothing when logSeq is not
	// above the stored position (a redelivery), and returns an error matching
	// market.ErrConflict when the position lies in [fromSeq, logSeq) (another
	// writer stored part of the batch) — so no tick is ever counted twice.
	WriteBatch(ctx context.Context, part int, ticks []market.Tick, candles []market.Candle, prevSeq, fromSeq, logSeq uint64) error
	// LogPosition returns partition part's position (market.Positions.Of),
	// 0 if nothing was written.
	LogPosition(ctx context.Context, part int) (uint64, error)
}

// Config tunes a Persister.
type Config struct {
	// FlushInterval is how long a batch waits for more ticks after its
	// first before it is written, when it then holds at least FlushMin
	// ticks (default 100ms).
	FlushInterval time.Duration
	// FlushMin is the fewest ticks a batch must hold to be written at
	// FlushInterval (default 1,000: at 10,000 ticks/s and more); a smaller
	// batch waits until Linger after its first tick, or until it holds
	// FlushMin ticks (decision 0071).
	FlushMin int
	// Linger is the longest an on-time tick waits before it is written
	// (default 1s; never below FlushInterval, which turns it off). At
	// low rates a transaction costs about the same whatever it holds — a
	// B-tree page and a candle per symbol and interval touched, the
	// commit — so fewer, fuller transactions cost less
	// (BenchmarkWriteBatchLowRate in store/sqlite, decision 0071).
	Linger time.Duration
	// Late is how far behind the clock (Now) a tick may be when the
	// persister reads it and still be on time (default 500ms): a batch
	// holding a late tick is written at FlushInterval, without lingering,
	// so a tick dated in a range that already looks closed (the API
	// caches such a range for ClosedTTL) reaches the store as quickly as
	// before the linger.
	Late time.Duration
	// MaxBatch writes as soon as this many ticks are held (default 50,000,
	// about 2.4 MB); a batch always ends on a whole log message, so it may
	// exceed MaxBatch by less than one message.
	MaxBatch int
	// Buffer is how many log messages may wait for the writer (default 256).
	Buffer int
	// FlushTimeout bounds the final write on shutdown (default 10s).
	FlushTimeout time.Duration
	// Now is the clock (default time.Now); it paces the lines logged about
	// sharing the log with another persister and judges timestamps (Limits).
	Now func() time.Time
	// LagTimeout bounds the event log query findash_persist_lag makes at
	// each scrape (default 1s); past it the scrape shows the last value.
	LagTimeout time.Duration
	// Limits bound what is written (zero fields: market.DefaultLimits);
	// ticks outside are skipped.
	Limits market.Limits
}

// withDefaults returns c with the defaults of FlushInterval, FlushMin,
// Linger and Late in place of its zero fields.
func (c Config) withDefaults() Config {
	if c.FlushInterval <= 0 {
		c.FlushInterval = 100 * time.Millisecond
	}
	if c.FlushMin <= 0 {
		c.FlushMin = 1000
	}
	if c.Linger <= 0 {
		c.Linger = time.Second
	}
	c.Linger = max(c.Linger, c.FlushInterval)
	if c.Late <= 0 {
		c.Late = 500 * time.Millisecond
	}
	return c
}

// StoredWithin is how long after its timestamp a tick that reached the log
// on time (within Late of it) waits at most in this persister before its
// batch is written: Late + Linger, the defaults in place of zero fields.
// Add the write itself and any backlog (findash_persist_lag). The API's
// closed-range cache must wait at least this long after a range's end
// before it caches the range for long (decision 0071).
func (c Config) StoredWithin() time.Duration {
	c = c.withDefaults()
	return c.Late + c.Linger
}

// shareQuiet is how long a persister must go without a resync before the
// next one is news again (logged at info): two instances sharing one log
// resync several times a second, and one line says so.
const shareQuiet = time.Minute

// Persister copies the log into a Store. Create it with New and start it with Run.
type Persister struct {
	log   Log
	store Store
	part  int // the log partition copied; market.Unpartitioned for the whole log
	cfg   Config
	l     *slog.Logger

	ticks    prometheus.Counter
	batches  prometheus.Counter
	failures prometheus.Counter
	resyncs  prometheus.Counter
	rewinds  prometheus.Counter
	lingered prometheus.Counter
	lag      prometheus.GaugeFunc
	position prometheus.Gauge

	// pos is the stream sequence of the last message persisted, as this
	// persister knows it (its own writes, or the stored position after a
	// resync); running is set while Run runs. The lag gauge reads both at
	// scrape time, from the scraper's goroutine.
	pos     atomic.Uint64
	running atomic.Bool
	lastLag atomic.Uint64
	// lastResync is when Run last resynced (only Run's goroutine uses it).
	lastResync time.Time
	skipped    prometheus.Counter
}

// New returns a Persister of the unpartitioned log into store. Metrics are
// registered on reg when it is not nil.
func New(log Log, store Store, cfg Config, l *slog.Logger, reg prometheus.Registerer) *Persister {
	return NewPartition(log, store, market.Unpartitioned, cfg, l, reg)
}

// NewPartition returns a Persister of partition part of a partitioned log
// into store: log must read that partition only (its Consume hands over
// only part's messages, its LastSeq is part's last message), and the
// position kept is part's. Two persisters of different partitions run side
// by side; reg must then tell their metrics apart (a partition label,
// prometheus.WrapRegistererWith). Metrics are registered on reg when it is
// not nil.
func NewPartition(log Log, store Store, part int, cfg Config, l *slog.Logger, reg prometheus.Registerer) *Persister {
	cfg = cfg.withDefaults()
	if cfg.MaxBatch <= 0 {
		// A commit rewrites the partly filled last page of every symbol in
		// both tick B-trees and merges one candle per symbol and interval,
		// whatever the batch's size: with 100 symbols, SQLite spent 4.9 µs
		// of CPU per tick at 10,000-tick batches and 3.8 at 50,000
		// (BenchmarkWriteBatchSize). It matters when the persister is
		// behind or ingest passes MaxBatch per FlushInterval (500K ticks/s);
		// a batch holds SQLite's single writer connection longer (~0.2 s).
		cfg.MaxBatch = 50_000
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = 256
	}
	if cfg.FlushTimeout <= 0 {
		cfg.FlushTimeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LagTimeout <= 0 {
		cfg.LagTimeout = time.Second
	}
	cfg.Limits = cfg.Limits.WithDefaults()
	l = l.With("component", "persister")
	if part != market.Unpartitioned {
		l = l.With("partition", part)
	}
	p := &Persister{
		log: log, store: store, part: part, cfg: cfg, l: l,
		ticks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_persist_ticks_total", Help: "Ticks written to the database.",
		}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_persist_batches_total", Help: "Batches (transactions) written to the database.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_persist_write_failures_total", Help: "Failed batch writes (each is retried).",
		}),
		resyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_persist_resyncs_total", Help: "Times another persister (another instance) had written what this one held, so it resumed from the stored position.",
		}),
		rewinds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_persist_rewinds_total", Help: "Times the database's persisted position was found below what this persister had written (a failover to a standby missing the last commits, a restore), so it wrote the log again from the stored position.",
		}),
		lingered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_persist_lingered_batches_total", Help: "Batches written Linger after their first tick (--persist-linger) because they held too few ticks to be written at the flush interval (decision 0071).",
		}),
		position: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "findash_persist_position", Help: "Stream sequence of the last log message persisted.",
		}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_persist_skipped_ticks_total", Help: "Ticks read from the event log outside the tick limits (stored by an older version), not written.",
		}),
	}
	p.lag = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "findash_persist_lag", Help: "Log messages not yet persisted (log's last sequence minus the persisted position), computed at scrape time; 0 where no persister runs.",
	}, p.currentLag)
	if reg != nil {
		reg.MustRegister(p.ticks, p.batches, p.failures, p.resyncs, p.rewinds, p.lingered, p.lag, p.position, p.skipped)
	}
	return p
}

// currentLag is findash_persist_lag: the log's last sequence minus the
// persisted position, asked of the log now, so the gauge is current even
// when nothing new arrives or the store is down (a value sampled after
// writes stays at whatever the last write saw). If the log does not answer
// within Config.LagTimeout, the last value computed is shown.
func (p *Persister) currentLag() float64 {
	if !p.running.Load() {
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.LagTimeout)
	defer cancel()
	last, err := p.log.LastSeq(ctx)
	if err == nil {
		lag := uint64(0)
		if pos := p.pos.Load(); last > pos {
			lag = last - pos
		}
		p.lastLag.Store(lag)
	}
	return float64(p.lastLag.Load())
}

// setPosition records pos as persisted.
func (p *Persister) setPosition(pos uint64) {
	p.pos.Store(pos)
	p.position.Set(float64(pos))
}

type message struct {
	seq   uint64
	ticks []market.Tick
	late  bool // holds a tick more than Config.Late behind the clock
}

// Run persists the log from the stored position on until ctx ends; then it
// writes what it holds (bounded by Config.FlushTimeout) and returns. It
// returns nil after a clean stop, or the error of that final write (the
// ticks are still in the log and will be written by the next Run).
func (p *Persister) Run(ctx context.Context) error {
	p.running.Store(true)
	defer p.running.Store(false)
	started := false
	for {
		err := p.run(ctx, &started)
		var rw *rewound
		if errors.As(err, &rw) {
			p.rewound(rw, "writing the log again from the stored position")
			continue
		}
		if !errors.Is(err, errResync) {
			return err
		}
		// Another persister (another instance) wrote part of what this one
		// held: drop it and continue from the stored position. Two
		// instances do this several times a second, so only the first
		// resync after a quiet minute is logged at info.
		p.resyncs.Inc()
		now := p.cfg.Now()
		if p.lastResync.IsZero() || now.Sub(p.lastResync) >= shareQuiet {
			p.l.Info("another persister is writing the same log; this one resumes from the stored position whenever that one is ahead (further resyncs are logged at debug)")
		} else {
			p.l.Debug("another persister advanced the position; resuming from it")
		}
		p.lastResync = now
	}
}

// stale says a tick at oldest (ms) is now more than Config.Late behind
// the clock.
func (p *Persister) stale(oldest int64) bool {
	return oldest < p.cfg.Now().Add(-p.cfg.Late).UnixMilli()
}

// checked returns a copy of ticks without those outside the limits,
// counting them and logging the first few (warned counts the warnings),
// and whether a kept tick is late (more than Config.Late behind the clock).
func (p *Persister) checked(ticks []market.Tick, warned *int) (out []market.Tick, late bool) {
	now := p.cfg.Now()
	onTime := now.Add(-p.cfg.Late).UnixMilli() // ms
	out = make([]market.Tick, 0, len(ticks))
	for i := range ticks {
		t := &ticks[i]
		if err := p.cfg.Limits.CheckLogged(t, now); err != nil {
			p.skipped.Inc()
			if *warned++; *warned <= 20 { // the metric counts every one
				p.l.Warn("logged tick skipped", "symbol", t.Symbol, "seq", t.Seq, "ts", t.TS, "err", err)
			}
			continue
		}
		late = late || t.TS < onTime
		out = append(out, *t)
	}
	return out, late
}

// readPosition asks the store for its position, retrying (retry.Database)
// until ctx ends.
func (p *Persister) readPosition(ctx context.Context) (uint64, error) {
	return backoff.Retry(ctx, func() (uint64, error) { return p.store.LogPosition(ctx, p.part) },
		retry.Database().Options(func(err error, wait time.Duration) {
			p.l.Warn("cannot read the persisted log position; retrying", "err", err, "retry_in", wait)
		})...)
}
