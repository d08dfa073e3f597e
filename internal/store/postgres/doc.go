// Package postgres is findash's stage-2/3 store on PostgreSQL (pgx/v5 +
// pgxpool): the same methods and semantics as store/sqlite — ticks,
// candles, the persister's log position, users and API keys — checked by
// the same conformance suite (store/storetest).
//
// Connections. One pool on the primary (writes, the persister's position,
// RestoreState, auth) and one per read replica (Candles, Ticks), every one
// in query exec mode cache_describe unless the URL says otherwise: unnamed
// statements only, no session state, no LISTEN, so every pool may go
// through PgBouncer in transaction pooling mode. Migrate alone needs a
// direct connection (Config.MigrateURL): goose holds a session advisory
// lock, which is what lets several instances start at once.
//
// Replicas. Reads go round-robin over the healthy replicas; a replica that
// cannot be reached is marked unhealthy and the read moves to the next one,
// then to the primary. An unhealthy replica is tried again after a backoff
// (doubling, with jitter), by a read or by Run's periodic ping, and is
// healthy again after one success. Replicas lag: what must read its own
// writes goes to the primary.
//
// Ticks are partitioned by UTC day (native RANGE partitioning on ts, ms).
// Partitions are created ahead by MaintainPartitions (Run calls it) and, for
// a day it has not seen, by WriteBatch before its transaction; both under a
// transaction advisory lock, so instances do not race. Retention
// (DeleteTicksBefore) drops whole days and deletes the rest of the day that
// straddles the cut. docs/postgres.md records the index choice and plans.
//
// Every call is bounded by Config.QueryTimeout. Driver errors are translated
// at this boundary: a unique-key clash is market.ErrConflict, a missing row
// or an unknown foreign key market.ErrNotFound, a check or data error
// market.ErrInvalid, an unreachable server or a lock conflict
// market.ErrUnavailable. DB is safe for concurrent use; its mutexes (the
// partition cache, each replica's health) are never held together.
//
// Imports. postgres imports the domain packages whose stores it implements
// (market, alert, auth, report, watchlist), pgx and goose. It must not
// import another adapter (store/sqlite, the bus, Redis, the job queue) or a
// delivery package; only cmd/findash imports it.
package postgres
