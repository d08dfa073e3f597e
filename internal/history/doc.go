// Package history imports published trade history into the store: Binance's
// public-data dumps (spot aggTrades and trades, and 1m klines as candles
// through Store.ImportCandles; zipped or not, with or
// without a header, timestamps in milliseconds before 2025 and in
// microseconds after, detected per file) and findash's generic CSV layout.
//
// Data flow: a file (or each CSV of a zip) is read line by line through a
// 64 KiB buffer (a line is at most MaxLine bytes), each line parsed in place
// (Parser: no allocation per row), and the ticks written per symbol in
// batches of Config.Batch through Store.ImportTicks, which also merges the
// candles rolled up from the ticks it writes. Memory is bounded by one batch.
//
// Idempotency. Every imported tick carries a key in its Seq (see keyBase):
// its trade id, or for a CSV without ids its time and rank. The store keeps
// the key ranges imported per (symbol, source) and skips rows inside them,
// so importing a file again — or a monthly dump over its daily ones —
// writes nothing twice, even after retention deleted the ticks (the
// candles stay). Rows of a symbol must therefore come in key order, as
// Binance publishes them.
//
// Imported ticks bypass the event log: the live state (quotes, 24 h
// statistics, the open candle) does not see them; /candles and /udf/history
// read them from the store at once.
//
// Imports. history imports only the domain (market) and the standard
// library; it must not import a store: Store is the interface it declares.
package history
