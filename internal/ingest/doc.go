// Package ingest turns incoming ticks into log entries: it parses and
// validates batches (Parse), appends them to the event log (Publisher), and
// runs the built-in market simulator (Simulator).
//
// Data flow: HTTP body / feed → Parse → Publisher.Publish → Log.Append (the
// JetStream tick log) → acknowledged. A tick is acknowledged only after the
// log has stored it.
//
// Concurrency and overflow. Publisher is safe for concurrent use; at most
// Config.MaxInFlight appends run at once. Further callers join one shared
// append (up to Config.MaxBatchTicks ticks; group commit: one log message per
// symbol for all of them, which is what makes small POSTs cheap) that waits
// for the next slot (back-pressure); a caller whose context or
// Config.Timeout ends first withdraws its ticks (they are never appended) and
// gets an error wrapping market.ErrUnavailable (HTTP 503). A caller whose
// context ends once the append holding its ticks is under way waits for it:
// a caller returns only with the outcome of the append holding its ticks, so
// nothing acknowledged can be dropped and nothing refused while waiting for
// a slot is stored later. The simulator owns
// one goroutine (Run's) and drops its own ticks when the log is down.
//
// Imports. ingest imports only the domain (market) and the Prometheus
// client. It must not import the bus or NATS: it appends through Log
// (internal/bus implements it), and the simulator publishes through
// TickPublisher.
package ingest
