package feed

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/findash/findash/internal/market"
)

// drainBudget bounds the final appends after Run's context ended.
const drainBudget = 3 * time.Second

// pump appends the queued trades to the log in batches of up to BatchMax,
// each symbol's trades in order, until q is closed and empty. A batch the
// log refuses is re-sent unchanged (the log drops what it already holds)
// until it is acknowledged; after ctx ends, only within drainBudget.
func (f *Feed) pump(ctx context.Context, q <-chan Trade) {
	batch := make([]Trade, 0, f.cfg.BatchMax)
	ticks := make([]market.Tick, 0, f.cfg.BatchMax)
	ids := make([]int64, 0, f.cfg.BatchMax)
	var drainCtx context.Context
	for {
		t, ok := <-q
		if !ok {
			return
		}
		batch = append(batch[:0], t)
		// Linger up to a millisecond for more: each append waits for the
		// log's acknowledgement (a round trip), so batches of one trade
		// would cap a feed at a few thousand trades a second.
		linger := time.NewTimer(time.Millisecond)
	fill:
		for len(batch) < f.cfg.BatchMax {
			select {
			case t, ok := <-q:
				if !ok {
					break fill
				}
				batch = append(batch, t)
			case <-linger.C:
				break fill
			}
		}
		linger.Stop()
		ticks, ids = group(batch, ticks[:0], ids[:0])
		actx := ctx
		if ctx.Err() != nil {
			if drainCtx == nil {
				var cancel context.CancelFunc
				drainCtx, cancel = context.WithTimeout(context.WithoutCancel(ctx), drainBudget)
				defer cancel()
			}
			actx = drainCtx
		}
		if err := f.append(actx, ticks, ids); err != nil {
			f.logr.Error("feed trades not appended: the log stayed down until the feed stopped; a restart fills them from the venue", "trades", len(ticks), "err", err)
			// Keep draining q so that the reader is never stuck; what
			// remains is refilled from the log's mark on the next start.
		}
	}
}

// append appends one batch until the log acknowledges it or ctx ends.
func (f *Feed) append(ctx context.Context, ticks []market.Tick, ids []int64) error {
	bo := f.cfg.Retry.BackOff()
	for {
		dups, err := f.log.AppendVenue(ctx, f.v.name(), ticks, ids)
		if err == nil {
			n := len(ticks) - dups
			f.acked.Add(int64(n))
			f.m.trades.Add(float64(n))
			f.m.duplicates.Add(float64(dups))
			return nil
		}
		f.m.appendFailures.Inc()
		wait := bo.NextBackOff()
		f.logr.Warn("cannot append feed trades; retrying", "trades", len(ticks), "err", err, "retry_in", wait)
		if !sleep(ctx, wait) {
			return fmt.Errorf("append %d trades: %w", len(ticks), err)
		}
	}
}

// group returns batch as ticks and trade ids, each symbol's trades
// contiguous (symbols in order of first appearance), in queue order within
// a symbol: the log writes one message per run of a symbol.
func group(batch []Trade, ticks []market.Tick, ids []int64) ([]market.Tick, []int64) {
	// Stable sort by first appearance of the symbol.
	order := make(map[string]int, 4)
	for _, t := range batch {
		if _, ok := order[t.Symbol]; !ok {
			order[t.Symbol] = len(order)
		}
	}
	if len(order) > 1 {
		slices.SortStableFunc(batch, func(a, b Trade) int { return order[a.Symbol] - order[b.Symbol] })
	}
	for _, t := range batch {
		ticks = append(ticks, market.Tick{Symbol: t.Symbol, TS: t.TS, Price: t.Price, Size: t.Size})
		ids = append(ids, t.ID)
	}
	return ticks, ids
}
