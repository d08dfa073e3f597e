package history

import (
	"context"
	"fmt"
	"time"

	"github.com/findash/findash/internal/market"
)

// Klines and trades of one market never share a minute (decision 0024).
// Both are merged additively into the stored candles, so a minute holding a
// kline and the trades it summarises would count its volume twice. An
// import therefore refuses, before writing a batch, any minute whose stored
// 1m candle came from the other kind:
//
//   - a batch of trades (ticks) refuses minutes holding a candle imported
//     from klines;
//   - a batch of klines refuses minutes holding a candle made of ticks —
//     imported trades, or live ticks (a feed, POSTed ticks, the simulator).
//
// A candle's origin is read from its last seq: a kline's candle carries its
// key (klineTag in the top byte) as first and last seq, and a tick merged
// into it later could only move its first seq (a kline's close time is the
// last millisecond of its minute; the merge keeps the latest (ts, seq) as
// the close, and every tick seq is below a kline key). A candle made of
// ticks has a tick's seq there.
//
// The check reads the store before the batch's write transaction: two
// imports of one symbol running at once (klines in one, trades in the
// other) could still both pass; one `findash import` at a time is the rule.

// klineTag is the top byte of a kline's key.
const klineTag = (keyBase | uint64(LayoutBinanceKlines1m)<<56) >> 56

// isKlineSeq reports whether seq is a kline's key.
func isKlineSeq(seq uint64) bool { return seq>>56 == klineTag }

// mixPage bounds the candles read per query of the check.
const mixPage = 10_000

// checkMix refuses (market.ErrConflict) a batch of sym from ms to ms (any
// order: the minutes of both and those between are checked) when a stored
// 1m candle in those minutes came from the other kind: from klines when
// klines is false (a batch of trades), from ticks when it is true.
func (im *Importer) checkMix(ctx context.Context, sym string, from, to int64, klines bool) error {
	iv := market.Interval1m
	from, to = iv.Start(min(from, to)), iv.Start(max(from, to))
	for from <= to {
		cs, err := im.store.Candles(ctx, market.CandleQuery{Symbol: sym, Interval: iv, From: from, To: to, Limit: mixPage})
		if err != nil {
			return fmt.Errorf("read the stored candles of %s: %w", sym, err)
		}
		for i := range cs {
			c := &cs[i]
			if fromKlines := isKlineSeq(c.LastSeq); fromKlines != klines {
				minute := time.UnixMilli(c.Start).UTC().Format("2006-01-02T15:04Z")
				if klines {
					return fmt.Errorf("%w: %s %s holds a candle made of trades (imported, or live ticks): importing its 1m kline too would count those trades twice (decision 0024); import klines only for periods without trades", market.ErrConflict, sym, minute)
				}
				return fmt.Errorf("%w: %s %s holds a candle imported from 1m klines: importing its trades too would count them twice (decision 0024); import trades only for periods without klines", market.ErrConflict, sym, minute)
			}
		}
		if len(cs) < mixPage {
			return nil
		}
		from = cs[len(cs)-1].Start + iv.Millis()
	}
	return nil
}
