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
// candles; the store implements it.
type Imports interface {
	ImportMarks(ctx context.Context) (map[string]int64, error)
}

// ImportWatch makes the State's recent candles (market.State.RecentCandles)
// safe to answer from. `findash import` writes candles into the database
// without the event log, so the State never sees them: ImportWatch reads
// the store's import marks every period, and turns the recent candles of a
// symbol whose mark appeared or changed off for as long as the process runs
// (market.State.StopRecent), so that its candle reads go to the store.
// Its first read trims the rings of every symbol imported before to their
// open bucket (NoteImported): such an import may lie in what they held. Until a read has succeeded,
// and whenever the last one is older than three periods (the database
// unreachable), RecentCandles declines: the store answers or fails, memory
// that may be stale does not.
//
// So an import shows in the candles within one period (plus the response
// cache's TTL), as a late tick or a backfill into a closed range shows
// within the API's ClosedTTL.
//
// Concurrency: Run owns the reads; RecentCandles is safe for concurrent use.
type ImportWatch struct {
	src     Imports
	state   *market.State
	every   time.Duration
	now     func() time.Time
	l       *slog.Logger
	stopped prometheus.Counter

	seen    map[string]int64 // Run's goroutine only; nil before the first read
	failing bool             // Run's goroutine only: the last read failed
	readAt  atomic.Int64     // Unix ns of the last successful read; 0: none
}

// NewImportWatch returns an ImportWatch reading src every period (default
// 1 s) on the clock now (default time.Now); Run starts it. Its metric is
// registered on reg when reg is not nil.
func NewImportWatch(src Imports, state *market.State, every time.Duration, now func() time.Time, l *slog.Logger, reg prometheus.Registerer) *ImportWatch {
	if every <= 0 {
		every = time.Second
	}
	if now == nil {
		now = time.Now
	}
	w := &ImportWatch{src: src, state: state, every: every, now: now, l: l.With("component", "import_watch"),
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

// Run reads the import marks every period until ctx ends, and returns nil.
func (w *ImportWatch) Run(ctx context.Context) error {
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
	marks, err := w.src.ImportMarks(ctx)
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
	w.readAt.Store(w.now().UnixNano())
}

// RecentCandles answers q from the State's recent candles when the import
// marks were read within the last three periods (market.State.RecentCandles).
func (w *ImportWatch) RecentCandles(q market.CandleQuery) ([]market.Candle, bool) {
	at := w.readAt.Load()
	if at == 0 || w.now().UnixNano()-at > 3*int64(w.every) {
		return nil, false
	}
	return w.state.RecentCandles(q)
}
