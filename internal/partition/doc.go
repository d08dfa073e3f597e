// Package partition shares the partitions of a partitioned event log among
// the worker instances (decisions 0041, 0042): an Owner keeps, through
// leases, about its share of the partitions — ceil(N / live workers) — and
// runs the work of each partition it holds (a persister and an alert
// evaluator, which cmd/findash supplies as a Work function) for as long as
// it holds the lease.
//
// Leases. Each worker announces itself with a lease "worker.<id>" and owns
// partition p while it holds lease "partition.<p>"; a lease lives
// Leases.TTL without renewal and is renewed every TTL/3. A renewal refused
// (another worker took the lease over: it had expired) or failed (the log
// unreachable) stops that partition's work at once, before anyone else can
// have acquired it; a failed one is retried at the next round and the work
// resumes if the lease was still ours. Stopping (ctx ends, the SIGTERM
// drain) stops every partition's work, then releases the leases, so
// another worker takes them over at its next round rather than after the
// TTL. A worker killed with -9 stops renewing: its partitions move after at
// most TTL plus one round (TTL/3).
//
// Exactly once is not the leases' job: a paused holder may still write
// after its lease expired. The store's per-partition position, checked in
// the same transaction as the rows, keeps every row written once.
//
// Imports. partition imports only the domain (market) and the Prometheus
// client. It must not import the bus or a store: the leases are the Leases
// interface (the bus's NATS KV bucket satisfies it) and the work is a
// function cmd/findash supplies.
//
// Concurrency. Run owns one goroutine per held partition (its Work), each
// stopped and waited for before Run returns. The Owner's state is confined
// to Run's goroutine; metrics are safe from any.
//
// Imports. partition imports only the domain (market) and the Prometheus
// client; the leases are the Leases interface (*bus.Leases implements it).
package partition
