// Package feed connects findash to exchanges: one Feed per venue (Binance
// Spot, Coinbase Exchange) holds a WebSocket stream of the venue's public
// trades for the configured symbols, fills every gap through the venue's
// REST trade history, and appends the trades to the event log exactly once.
//
// Data flow: venue WebSocket → parse (binance.go, coinbase.go) → accept (the
// per-symbol mark: a trade id at or below it is a duplicate and dropped; a
// jump above mark+1 is a gap, filled through REST first) → a bounded queue
// → the pump, which groups trades into batches and appends them
// (Log.AppendVenue) until the log acknowledges them.
//
// Exactly once. A venue numbers its trades per symbol without holes
// (Binance aggregate trade ids, Coinbase trade_id). The mark is the last
// trade id queued for the log; every trade passes it in order, so a
// reconnect, a backfill that overlaps the live stream, or a message the
// venue repeats cannot queue a trade twice, and a hole cannot pass
// unnoticed. A batch the log does not acknowledge is re-sent as it was: the
// log drops a message whose id (venue, symbol, first and last trade id) it
// already holds. At start the marks come from the log (Log.LastTradeID), so
// a restart resumes where the log stops, filling what it missed.
//
// Health. A connection that delivers nothing (no message, no ping) for
// Config.Silence is replaced. Status is the one view of a feed's health
// (decision 0021): /api/v1/feeds, the dashboard's feed line and Check (the
// readiness check) all read it. It says degraded when nothing arrived for
// Config.StaleAfter, connected or not (opening a connection is not a
// message, so a silent venue stays degraded through its reconnects); Check
// fails in every state but connected. Metrics are findash_feed_*{venue}.
//
// Concurrency and overflow. Run owns two goroutines: the reader (its own)
// and the pump. The queue between them holds Config.QueueLen trades; when
// the log is slow it fills and the reader waits (back-pressure: nothing is
// dropped; the venue may then close the connection, and the reconnect
// fills the gap from the mark). Status and Check are safe for concurrent
// use; everything else belongs to Run's goroutines.
//
// Imports. feed imports the domain (market), the retry policies, the
// Prometheus client and gorilla/websocket. It must not import the bus, a
// store or another adapter: it appends through Log, which cmd/findash wires
// to internal/bus.
package feed
