package archive

import (
	"context"
	"fmt"

	"github.com/findash/findash/internal/market"
)

// DefaultMaxReadDays bounds the UTC days one Ticks call reads manifests of.
const DefaultMaxReadDays = 366

// Ticks returns the archived ticks of symbol with ts in [from, to], ordered
// by (ts, seq), at most limit (market.DefaultLimit when limit <= 0): it
// reads the manifest of each UTC day of the range (a missing manifest is a
// day with nothing archived) and the parts that may hold the range. A
// range of more than DefaultMaxReadDays days is market.ErrInvalid; an
// object that is not what its manifest says is an error, never a silent
// gap.
func (a *Archiver) Ticks(ctx context.Context, symbol string, from, to int64, limit int) ([]market.Tick, error) {
	if limit <= 0 {
		limit = market.DefaultLimit
	}
	if from > to {
		return nil, nil
	}
	first, last := floorDay(from), floorDay(to)
	if (last-first)/dayMs >= DefaultMaxReadDays {
		return nil, fmt.Errorf("archive ticks: %w", market.Invalid("range", "more than %d days", DefaultMaxReadDays))
	}
	var out []market.Tick
	for day := first; day <= last && len(out) < limit; day += dayMs {
		date := dateOf(day)
		man, err := a.manifest(ctx, date)
		if err != nil {
			a.m.readErrors.Inc()
			return nil, err
		}
		e, _, ok := man.entry(symbol)
		if !ok || e.MaxTS < from || e.MinTS > to {
			continue
		}
		ticks, err := a.readEntry(ctx, symbol, e, from, to)
		if err != nil {
			a.m.readErrors.Inc()
			return nil, fmt.Errorf("archive ticks %s %s: %w", date, symbol, err)
		}
		for _, t := range ticks {
			if t.TS >= from && t.TS <= to && len(out) < limit {
				out = append(out, t)
			}
		}
	}
	return out, nil
}
