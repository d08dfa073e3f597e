// Package sqlite is findash's stage-1 store: ticks, candles, the persister's
// log position, users and API keys in one SQLite file (modernc.org/sqlite, pure Go).
//
// Connections. SQLite allows one writer at a time, so every write goes through
// a *sql.DB limited to one connection (transactions begin IMMEDIATE, so a
// writer never has to upgrade a read lock); reads go through a second pool of
// several query_only connections that, thanks to WAL, never wait for the
// writer. Both use journal_mode=WAL, synchronous=NORMAL (a committed
// transaction survives a process crash; a power loss may lose the last few,
// which the event log replays), a busy timeout and foreign keys. The writer
// does not checkpoint the WAL at its commits: a checkpointer goroutine of the
// DB does, on a connection of its own, and past a size bound the next large
// write truncates it (wal.go).
//
// Sequence numbers are uint64 in the domain and INTEGER (int64) here; the
// event log's seq (streamSeq<<16 | index) stays far below 2^63.
//
// Errors from the driver are translated at this boundary: a unique-key clash
// is market.ErrConflict, a missing row market.ErrNotFound, a busy database
// market.ErrUnavailable. DB is safe for concurrent use.
//
// Imports. sqlite imports the domain packages whose stores it implements
// (market, alert, auth, report, watchlist), modernc.org/sqlite and goose. It
// must not import another adapter (store/postgres, the bus, Redis, the job
// queue) or a delivery package; only cmd/findash imports it.
package sqlite
