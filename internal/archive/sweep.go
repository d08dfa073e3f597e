package archive

import (
	"context"
	"time"
)

// ArchiveUntil archives every whole UTC day stored before cut (ms, UTC)
// (retention.Archiver) and returns until, the start of cut's day or of
// the day that failed. For each (symbol, day) archived it calls archived
// with the day's start (ms) and how many ticks the store held when the
// archiver read them: retention deletes that (symbol, day) only while the
// store still holds exactly that many, so a tick imported into the day
// since is not deleted unarchived (decision 0027). archived is called
// after ArchiveBefore returns, in (day, symbol) order, also for the days
// before a failure.
func (a *Archiver) ArchiveUntil(ctx context.Context, cut int64, archived func(symbol string, day, stored int64)) (int64, error) {
	res, err := a.ArchiveBefore(ctx, cut, false)
	var rows int64
	for _, w := range res.Written {
		rows += w.Rows
		if archived != nil {
			archived(w.Symbol, floorDay(w.MinTS), w.Stored)
		}
	}
	if len(res.Written) > 0 {
		a.log.Info("ticks archived", "entries", len(res.Written), "rows", rows, "until", time.UnixMilli(res.Until).UTC())
	}
	return res.Until, err
}

// ArchiveDay archives symbol's stored ticks of the UTC day holding day
// (ms) again, merged with what the archive holds of it, and returns how
// many ticks the store held when they were read (0: none, and nothing
// written). Retention calls it when the store's count of the day changed
// after ArchiveUntil read it: an import wrote into the day meanwhile.
func (a *Archiver) ArchiveDay(ctx context.Context, symbol string, day int64) (int64, error) {
	day = floorDay(day)
	written, err := a.archiveDay(ctx, day, []string{symbol}, map[string]int64{symbol: day}, false)
	if err != nil {
		return 0, a.failErr(err)
	}
	var stored int64
	for _, w := range written {
		stored += w.Stored
	}
	return stored, nil
}

func (a *Archiver) failErr(err error) error {
	a.m.errors.Inc()
	return err
}
