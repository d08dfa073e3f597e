package feed

import (
	"context"
	"fmt"
)

// fill queues symbol's trades from `from` (to `to` when > 0) from the
// venue's REST history, at most MaxBackfill of them, and returns how many
// it queued. A failure leaves the
// mark where the last queued trade put it and is returned: the session
// ends, and the next one fills again from the mark after a backoff.
func (f *Feed) fill(ctx context.Context, symbol string, from, to int64, q chan<- Trade) (int, error) {
	const page = 1000
	filled := 0
	for to == 0 || from <= to {
		if filled >= f.cfg.MaxBackfill {
			if to > 0 {
				lost := to - from + 1
				f.lost.Add(lost)
				f.m.lost.Add(float64(lost))
				f.logr.Error("gap longer than the backfill limit: trades left out", "symbol", symbol, "from", from, "to", to, "max_backfill", f.cfg.MaxBackfill)
				f.marks[symbol] = to
			}
			return filled, nil
		}
		trades, err := f.v.fetch(ctx, symbol, from, to, min(page, f.cfg.MaxBackfill-filled))
		if err != nil {
			f.m.backfillFailures.Inc()
			return filled, fmt.Errorf("backfill %s from trade %d: %w", symbol, from, err)
		}
		if len(trades) == 0 {
			return filled, nil
		}
		for i := range trades {
			t := &trades[i]
			if t.ID < from || (to > 0 && t.ID > to) || t.ID <= f.marks[symbol] {
				continue
			}
			if err := f.enqueue(ctx, t, q); err != nil {
				return filled, err
			}
			filled++
			f.backfilled.Add(1)
			f.m.backfilled.Inc()
		}
		from = trades[len(trades)-1].ID + 1
		if to == 0 && len(trades) < page {
			return filled, nil
		}
	}
	return filled, nil
}
