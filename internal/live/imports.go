package live

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/market"
)

// Imports reads, per symbol, how many import batches have written its
// candles, and in the same snapshot the persister's log positions (by
// partition); the store implements it.
type Imports interface {
	ImportMarks(ctx context.Context) (map[string]int64, market.Positions, error)
}

// Applied tells how far the State is applied; *Feed implements it.
type Applied interface {
	// Holds reports whether the State holds every log message of symbol's
	// partition up to stored's position for it (Feed.Holds).
	Holds(symbol string, stored market.Positions) bool
	// RestoredMarks waits for the State's restore and returns the import
	// marks read with it (Feed.RestoredMarks).
	RestoredMarks(ctx context.Context) (marks map[string]int64, ok bool, err error)
}

// ImportWatchConfig tunes an ImportWatch.
type ImportWatchConfig struct {
	// Every is how often the marks are read (default 1 s).
	Every time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// LinkStale, when set, reports whether a mirror region's link to the
	// primary region's log is stale: the database (replicated apart from
	// the log) may then hold candles the log has not brought here yet, and
	// memory declines.
	LinkStale func() bool
}

// ImportWatch makes the State's recent candles (market.State.RecentCandles)
// safe to answer from. `findash import` writes candles into the database
// without the event log, so the State never sees them: ImportWatch reads
// the store's import marks every period, and turns the recent candles of a
// symbol whose mark appeared or changed off for as long as the process runs
// (market.State.StopRecent), so that its candle reads go to the store.
// The marks it starts from are those read with the restored State, in its
// snapshot (Applied.RestoredMarks): a symbol whose mark differs at any read
// since was imported after the snapshot, and is stopped. (With a restorer
// that reads no marks, its first read trims the rings of every symbol
// imported before to their open bucket instead: NoteImported.)
//
// Age. A read sees what was committed before it began, so it counts from
// its start: until a read has succeeded, and whenever the last one began
// more than 1.5 periods ago (the next one slow or failing: the database
// unreachable), RecentCandles declines: the store answers or fails, memory
// that may be stale does not.
//
// Behind the store. The same read takes the persister's log positions: a
// symbol is answered from memory only while the live feed has applied its
// partition's log up to the position read (Applied.Holds), and while a
// mirror region's link is not stale. A feed that lags (replaying after a
// start, slowed, stopped) would otherwise answer fewer, older candles than
// the store holds; the store path never answered older than the store.
// What the persister stored after the last read can still be missing from
// memory for up to the read's age (see RecentCandles).
//
// So an import shows in the candles within 1.5 periods (plus the response
// cache's TTL), as a late tick or a backfill into a closed range shows
// within the API's ClosedTTL. (An import whose batches land while a read
// is under way is the case this bound is for: the read that began before
// the commit cannot have seen it.)
//
// Concurrency: Run owns the reads; RecentCandles is safe for concurrent use.
type ImportWatch struct {
	src     Imports
	state   *market.State
	feed    Applied
	stale   func() bool // nil: no region link
	every   time.Duration
	now     func() time.Time
	l       *slog.Logger
	stopped prometheus.Counter

	seen    map[string]int64         // Run's goroutine only; nil before the first read
	failing bool                     // Run's goroutine only: the last read failed
	last    atomic.Pointer[markRead] // the last successful read; nil: none
}

// markRead is what one read of the marks tells RecentCandles.
type markRead struct {
	at     int64            // Unix ns when the read began
	stored market.Positions // the persister's positions, read with the marks
}

// NewImportWatch returns an ImportWatch reading src, answering from state
// while feed holds what src stored; Run starts it. Its metric is
// registered on reg when reg is not nil.
func NewImportWatch(src Imports, state *market.State, feed Applied, cfg ImportWatchConfig, l *slog.Logger, reg prometheus.Registerer) *ImportWatch {
	if cfg.Every <= 0 {
		cfg.Every = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	w := &ImportWatch{src: src, state: state, feed: feed, stale: cfg.LinkStale, every: cfg.Every, now: cfg.Now, l: l.With("component", "import_watch"),
		stopped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_market_recent_candles_stopped_total",
			Help: "Symbols whose candles this instance stopped answering from memory because findash import wrote them (their reads go to the database).",
		}),
	}
	if reg != nil {
		reg.MustRegister(w.stopped)
	}
	return w
}

// Run waits for the State's restore, then reads the import marks every
// period until ctx ends, and returns nil.
func (w *ImportWatch) Run(ctx context.Context) error {
	marks, ok, err := w.feed.RestoredMarks(ctx)
	if err != nil {
		return nil // ctx ended
	}
	if ok {
		w.seen = marks
		if w.seen == nil {
			w.seen = map[string]int64{}
		}
	}
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		w.read(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (w *ImportWatch) read(ctx context.Context) {
	began := w.now() // the read sees what was committed before this
	marks, stored, err := w.src.ImportMarks(ctx)
	if err != nil {
		if !w.failing && ctx.Err() == nil {
			w.l.Warn("cannot read import marks: candles are read from the database until it can", "err", err)
		}
		w.failing = true
		return
	}
	if w.failing {
		w.l.Info("import marks read again")
		w.failing = false
	}
	if w.seen == nil {
		syms := make([]string, 0, len(marks))
		for sym := range marks {
			syms = append(syms, sym)
		}
		w.state.NoteImported(syms)
	} else {
		for sym, n := range marks {
			if w.seen[sym] != n {
				w.state.StopRecent(sym)
				w.stopped.Inc()
				w.l.Info("symbol imported: its candles are read from the database", "symbol", sym)
			}
		}
	}
	w.seen = marks
	w.last.Store(&markRead{at: began.UnixNano(), stored: stored})
}

// RecentCandles answers q from the State's recent candles
// (market.State.RecentCandles) when the import marks were read within the
// last 1.5 periods (counted from the read's start), the live feed holds q.Symbol's log up to the
// positions read with them, and the region link (if any) is not stale.
// It queries nothing.
func (w *ImportWatch) RecentCandles(q market.CandleQuery) ([]market.Candle, bool) {
	last := w.last.Load()
	if last == nil || w.now().UnixNano()-last.at > int64(w.every+w.every/2) {
		return nil, false
	}
	if (w.stale != nil && w.stale()) || !w.feed.Holds(q.Symbol, last.stored) {
		return nil, false
	}
	return w.state.RecentCandles(q)
}
