// Package ingest turns incoming ticks into log entries: it parses and
// validates batches (Parse), appends them to the event log (Publisher), and
// runs the built-in market simulator (Simulator).
//
// Data flow: HTTP body / feed → Parse → Publisher.Publish → Log.Append (the
// JetStream tick log) → acknowledged. A tick is acknowledged only after the
// log has stored it.
//
// Concurrency and overflow. Publisher is safe for concurrent use; at most
// Config.MaxInFlight appends run at once. Further callers wait for a slot
// (back-pressure) until their context or Config.Timeout ends, then get an
// error wrapping market.ErrUnavailable (HTTP 503). Nothing is queued inside
// the publisher, so nothing acknowledged can be dropped. The simulator owns
// one goroutine (Run's) and drops its own ticks when the log is down.
//
// Imports. ingest imports only the domain (market) and the Prometheus
// client. It must not import the bus or NATS: it appends through Log
// (internal/bus implements it), and the simulator publishes through
// TickPublisher.
package ingest
