// Package cache is findash's read-through cache: an in-process L1 (otter,
// bounded in entries, a TTL per entry) in front of an optional shared L2
// (Redis at stage 2+, behind the small Remote interface), with a miss
// computed once per key however many requests wait for it (singleflight).
//
// Data flow of Cache.Get(ctx, key, ttl, load):
//
//	L1 hit ─► value
//	L1 miss ─► one flight per key: L1 again ─► L2 Get ─► load ─► L2 Set ─► L1 Set
//	           every concurrent caller of the key waits for that one flight
//
// The flight runs on a context detached from the caller that started it (with
// Config.LoadTimeout), so a caller that gives up does not fail the others: each
// caller waits for the flight or for its own context, whichever ends first.
//
// Failure. L2 is an optimisation: its errors are counted
// (findash_cache_remote_errors_total), logged at debug level and treated as a
// miss, never returned. Errors of load are returned to every waiter of that
// flight and never cached.
//
// Staleness. A value is served from L1 for at most ttl after it was stored
// there; a value that came from L2 may have been stored in L2 up to ttl
// earlier, so the worst case is about 2×ttl.
//
// Bounds. L1 holds at most Config.MaxEntries entries and evicts the least
// likely to be used again (W-TinyLFU) beyond that. Flights are one per key
// being loaded.
//
// Concurrency. A Cache is safe for concurrent use. Close stops the L1's
// maintenance goroutine; a closed Cache still answers but no longer expires
// entries proactively.
//
// Imports. cache imports nothing of findash (keys and values are opaque to
// it) besides otter, singleflight and the Prometheus client. It must not
// import Redis or any driver: L2 is the Remote interface, which
// internal/redis implements.
package cache
