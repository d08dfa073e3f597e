// Package market is findash's domain vocabulary: symbols, ticks, quotes, candles
// and the pure, allocation-conscious aggregation that turns ticks into them.
//
// It imports only the standard library. Every other package speaks in these
// types; adapters (stores, the bus, the gateway) translate at their boundary.
//
// Ordering. A tick carries its event time (TS, Unix ms UTC) and the sequence
// number (Seq) the event log gave it. Candles order ticks by (TS, Seq): the open
// is the earliest tick of the bucket, the close the latest, so a late tick that
// lands inside a bucket updates it exactly as if it had arrived in time, and
// merging partial candles is commutative and associative.
//
// Concurrency. Values are plain data. State is safe for concurrent use; the
// aggregation helpers (Candle.Apply, Candle.Merge, Stats) are not.
package market
