// Package symbol is the symbol registry: which symbols findash accepts
// ticks for, who registered them, and the cap on how many there may be
// (issue 13: one API key created 650K symbols and 7 GB of memory).
//
// Every symbol costs memory in every instance (live state, replay ring,
// event-log subject, caches), so a symbol exists only once registered. A
// Registry registers a batch's new symbols when it is admitted (auto mode,
// the default: the first tick of a symbol registers it, up to Config.Max),
// or only through Register (strict mode: an operator runs `findash symbol
// add`, and ticks of unregistered symbols are refused). A batch is admitted
// whole or not at all: it never registers part of its symbols.
//
// Data flow. The registered set lives in the database (the Store) and in
// memory. Admit answers from memory for symbols already known (a map
// lookup, no I/O); only a batch with new symbols goes to the store, which
// enforces the cap in one transaction, so several instances sharing a
// database never register more than Max between them. Run reloads the set
// every Config.Refresh, so symbols removed on another instance or by the
// command line are forgotten everywhere.
//
// Concurrency. A Registry is safe for concurrent use. mu guards the
// in-memory set; loadMu serialises reloads (it is taken before mu, never
// while mu is held). New symbols go to the store one call at a time: the
// registrations that arrive while one is in the store wait and then go
// together, in one call (batch.go; regMu, a leaf, guards the batch being
// gathered).
//
// Imports. symbol imports only the domain (market) and the Prometheus
// client. It must not import a store, the API or config: it reads and
// writes through Store, which the SQL stores implement.
package symbol
