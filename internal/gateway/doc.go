// Package gateway serves the WebSocket protocol of docs/reference/websocket.md on GET /ws:
// clients subscribe to ticks:<SYM>, candles:<SYM>:<interval>, quotes and
// (authenticated) alerts, and the Hub fans out what the live feed publishes.
//
// # Data flow
//
// The live feed calls Publish after each log message. Each tick is encoded
// once (all ticks of a batch into one buffer) and the same bytes go into the
// symbol's replay ring and to every subscriber's queue. A candle is encoded
// once per change, only when its channel has subscribers. Changed quotes are
// collected and sent by Run at most every QuotesInterval (≥ 250 ms).
//
// # Connections, queues and overflow
//
// Each connection has one long-lived goroutine, the reader, started by
// ServeHTTP (which returns, so that net/http frees its buffers). It only
// waits for the socket to be readable (a shallow stack, no buffer) and reads
// and handles each client message on a short-lived goroutine, so it stays at
// the runtime's minimum stack. A writer goroutine exists only while there is
// something to write: queueing starts one if none runs, and it ends when the
// queue is empty. Between them is one queue, bounded at Config.SendQueue
// messages, that the writer empties in one go and writes as one text frame
// (messages joined by '\n') with one syscall; a busy connection is written
// at most every Config.WriteCoalesce, so what arrives meanwhile shares the
// frame. An idle connection thus costs one goroutine of 2 KiB and ~3 KiB of
// heap. When the queue is full:
//   - ticks are dropped and the dropped seq range of each channel is sent as
//     gap before that channel's next tick (or with the writer's next batch);
//   - candles and quotes never occupy the queue: each subscription holds at
//     most one pending message, a newer one replaces it (latest wins; a
//     replaced quotes message is replaced by the full list, so no change is
//     lost);
//   - alerts are dropped (they stay listed by the REST API);
//   - replies (ack, error, pong), snapshots and replayed ticks may use up to
//     ReplayTicks more slots; past that the connection is closed with 1008.
//
// A connection thus holds at most SendQueue+ReplayTicks message references
// plus one pending message per subscription; message bytes are shared.
// Publish never waits for a client: it only takes short locks.
//
// # Replay
//
// Each symbol keeps its last ReplayTicks encoded ticks (also pruned after
// ReplayAge) and a floor, the newest seq no longer held (or SetFloor's
// value). Subscribing with since S queues gap{S+1, floor} when S < floor,
// then the held ticks after S, and joins the live fan-out, all under the
// symbol's lock: nothing is missed or repeated between replay and live.
//
// # Locks
//
// The symbol index is sharded (shard.mu, held only for lookups). Lock order:
// symbolTopic.mu, Hub.quotesMu, Hub.alertsMu or Hub.connsMu, then conn.mu,
// which is a leaf. symbolTopic.mu may take shard.mu (to drop an unused
// topic) and calls Source (market.State) for snapshots; shard.mu is never
// held while waiting for a topic. Hub.pendingMu is a leaf taken alone. No
// lock is shared by all connections on the publish path.
//
// # Goroutines
//
// Every goroutine has an owner. Run (the quotes flush, pings and ring
// pruning) belongs to the caller and returns when its context ends. Each
// connection's reader is started by ServeHTTP and owned by the hub: Drain
// waits for it, and it waits for the connection's writer before it removes
// the connection. A writer is started by the queue (signalLocked) and ends
// when the queue is empty or the connection closes; a reader's per-message
// goroutine reports back to the reader before the next one starts.
//
// # Time
//
// Every reading of the clock (ring ages, socket deadlines, write
// coalescing) comes from Config.Now; timers and tickers are the time
// package's, so tests run Run and the connection loops in a testing/synctest
// bubble (on net.Pipe connections) instead of sleeping.
//
// # Files
//
// hub.go holds the Hub and Run; publish.go the fan-out; topic.go the
// sharded symbol index; registry.go subscribing and unsubscribing channels;
// replay.go the replay rings; conns.go the set of connections (pings,
// drain); endpoint.go the /ws handler; conn.go, queue.go, writer.go,
// reader.go and handle.go one connection (state, bounded queue, writer,
// reader, client requests); protocol.go and encode.go the client and server
// messages; ws.go the WebSocket transport and frame.go its frame reader
// (RFC 6455 checks and close codes); config.go and metrics.go the tunables
// and Prometheus metrics.
//
// # Imports
//
// The WebSocket library (gorilla/websocket) is used only in ws.go, for the
// handshake; frames (RFC 6455, no extensions) are read in frame.go and
// written in ws.go.
// The package imports only the domain (internal/market), gorilla/websocket,
// the Prometheus client and golang.org/x/time/rate. It must not import the
// bus, a store, a cache, auth, the API or config: it reads snapshots through
// Source and checks tokens through Authenticator, which cmd/findash wires in.
package gateway
