// Package bus is findash's durable event log: a NATS JetStream stream,
// FINDASH_TICKS, served either by a NATS server embedded in the process
// (stage 1, reached without TCP, file store under DataDir/nats) or by an
// external cluster (Config.URL). There is one code path for both.
//
// Layout. One message per symbol per batch on subject findash.ticks.<token>
// (Subject), in a compact binary encoding (codec.go). A tick's seq is
// TickSeq(message stream sequence, index in message) = streamSeq<<16 | index:
// strictly increasing along the log, hence per symbol, with no coordination
// between publishers; a message therefore holds at most MaxTicksPerMessage
// ticks (Append splits longer runs).
//
// Writing. Append publishes asynchronously and returns only when the log has
// acknowledged every message; any failure wraps market.ErrUnavailable.
// JetStream bounds the acks in flight (4,096); beyond that a publish stalls
// briefly, then fails — back-pressure, never a silent drop. With the
// embedded server the client's writes go through asyncConn (inproc.go): a
// bounded in-memory buffer (4 MiB) forwarded by a goroutine of the
// connection's own, so that nats.go's flusher does not hold the connection's
// lock while the server's read loop processes the previous flush (a
// net.Pipe's Write waits for the reader); beyond the bound a write waits.
//
// Reading. Consume runs an ordered consumer from a stream sequence and hands
// each decoded message to a callback in order; at most ~8 MiB are fetched
// ahead of the callback. It survives reconnects and consumer resets by
// resuming after the last message it handed over.
//
// Partitions (Config.Partitions > 0, stage 4 workers; decision 0041). The
// stream's subject transform stores each message as
// findash.ticks.<partition>.<token>, the partition a deterministic hash of
// the symbol computed by the server, so a symbol's ticks are all in one
// partition, in log order. ConsumePartitions reads only some partitions;
// Consume still reads them all. Leases (a key-value bucket whose entries
// expire after a TTL, renewed by compare-and-set on their revision) give a
// partition to one worker at a time. The stream records the count in its
// metadata (LayoutKey), and Open refuses another (ErrLayoutMismatch) unless
// the change is asked for (Config.Repartition; decision 0044).
//
// Concurrency. A Bus is safe for concurrent use. Consume blocks its caller;
// each call owns its server-side consumer and stops it when it returns.
//
// Imports. bus imports only the domain (market) and NATS (the client and the
// embedded server). It must not import another adapter or a service: it
// implements the Log interfaces that live, persist, alert and ingest
// declare, and only cmd/findash imports it.
package bus
