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
// the runtime's minimum stack. Writing is done by a small pool of writers
// (Config.Writers, one ready queue each): queueing to an idle connection
// puts it on its writer's ready queue, and the writer takes everything the
// connection has queued and writes it as one text frame (messages joined
// by '\n') with one write(2) that never waits — a pass over several
// connections sends theirs with one io_uring_enter per up to 32
// (poolsend.go, decision 0087; write(2) where io_uring is refused or off)
// —: there is no goroutine per delivery and no timer. What a connection is sent while it waits for its
// turn shares its next frame (decision 0014); a ping due goes in the same
// write, after the frame. Whatever may wait — a
// socket that does not take the whole frame, a close, a lagging
// channel, a transport without a raw socket, and a busy connection (one
// written often — its last two writes less than twice Config.WriteCoalesce
// apart — and less than WriteCoalesce ago: it waits for the rest of that,
// so that what arrives meanwhile shares one frame and write; decision
// 0056) — is
// handed to a writer goroutine of the connection's own, which writes with
// deadlines until its queue is empty and ends. Between
// the queueing and the writer is one queue, bounded in bytes
// (Config.SendQueueBytes, the batch being written included). An idle
// connection thus costs one goroutine of 2 KiB and ~3 KiB of heap. When the
// queue is full:
//   - a ticks channel lags: the publisher skips it, and the writer reads
//     its ticks after the last one queued (its cursor) from the symbol's
//     replay ring as the queue drains — runs of the ring's own bytes, no
//     copy — and what the ring no longer holds from Config.History (the
//     event log), encoded for the connection within the queue's bytes, or
//     else reports it with gap. Under the topic's lock it rejoins the live
//     fan-out once it has every held tick. A resume with since starts the
//     same way;
//   - candles and quotes never occupy the queue: each subscription holds at
//     most one pending message, a newer one replaces it (latest wins; a
//     replaced quotes message is replaced by the full list, so no change is
//     lost);
//   - alerts are dropped (they stay listed by the REST API);
//   - replies (ack, error, pong, snapshots) may use the bound a second time
//     over; past that the connection is closed as a slow consumer.
//
// A connection that is still lagging Config.MaxLag after it first fell out
// of a replay ring, or whose writes take nothing for Config.WriteTimeout,
// is a slow consumer: it gets a gap for each lagging channel, then close
// 1008 (after a write timeout the transport finishes the interrupted frame
// first). A connection thus holds at most SendQueueBytes (twice that with
// replies) plus one pending message per subscription; message bytes are
// shared. Publish never waits for a client: it only takes short locks.
//
// # Replay
//
// Each symbol keeps its last ReplayTicks encoded ticks (also pruned after
// ReplayAge) and a floor, the newest seq no longer held (or SetFloor's
// value). A held tick's message reaches, past its length and up to its
// capacity, to the end of its publish's buffer, so the ring hands out runs
// of consecutive ticks as one slice. Subscribing with since S registers the
// channel lagging with cursor S (without History, after gap{S+1, floor}
// when S < floor), all under the symbol's lock: nothing is missed or
// repeated between replay and live. A symbol whose ring has emptied and
// that nobody subscribes to leaves the index at the next prune (an idle
// symbol costs nothing); a topic created again for it starts at the
// highest floor of the dropped topics, so a resume from before that reads
// the event log (or gets a gap) rather than missing ticks.
//
// # Locks
//
// The symbol index is sharded (shard.mu, held only for lookups). Lock order:
// symbolTopic.mu, Hub.quotesMu, Hub.alertsMu or Hub.connsMu, then conn.mu,
// then writerShard.mu (a ready queue), which is a leaf. symbolTopic.mu may
// take shard.mu (to drop an unused topic) and calls Source (market.State)
// for snapshots; shard.mu is never held while waiting for a topic.
// Hub.pendingMu is a leaf taken alone. No lock is shared by all
// connections on the publish path (a ready queue's by 1/Writers of them,
// held for an append). A connection's
// writer reads a lagging channel's ring holding symbolTopic.mu then conn.mu,
// in that order too, and holds neither while it reads History (its
// Config.HistoryReaders slots are taken with no lock held).
// A pool writer's batched pass (poolsend.go) holds the transport locks
// (wsTransport.wmu, taken with TryLock) of up to 32 connections while it
// takes the next ones' conn.mu and writerShard.mu, and their descriptors
// (nested RawConn.Write) only across the one io_uring_enter: nothing takes
// a wmu while holding a conn.mu, and a Close waits at most that call.
//
// # Goroutines
//
// Every goroutine has an owner. Run (the quotes flush, pings and ring
// pruning) belongs to the caller and returns when its context ends, after
// the session checks it starts (sessions.go: they wait on the session
// store, so apart from the loop) have returned. Each
// connection's reader is started by ServeHTTP and owned by the hub: Drain
// waits for it, and it waits for the connection's writer before it removes
// the connection. A pool writer is started by its ready queue when
// something is queued to it and ends when the queue is empty; a
// connection's own writer is started by a pool writer (writeRound) and ends
// when the connection's queue is empty or the connection closes; a reader's per-message
// goroutine reports back to the reader before the next one starts.
//
// # Time
//
// Every reading of the clock (ring ages, socket deadlines) comes from
// Config.Now; timers and tickers are the time
// package's, so tests run Run and the connection loops in a testing/synctest
// bubble (on net.Pipe connections) instead of sleeping.
//
// # Files
//
// hub.go holds the Hub and Run; publish.go the fan-out; topic.go the
// sharded symbol index; registry.go subscribing and unsubscribing channels;
// replay.go the replay rings and lagging channels; history.go reading the
// event log for them; conns.go the set of connections (pings,
// drain); sessions.go the authenticated connections by user, CloseUser
// and the periodic session checks (decision 0083); endpoint.go the /ws
// handler; pool.go the writer pool and poolsend.go its batched sends;
// wsnow.go the writes that do not wait; conn.go,
// queue.go, writer.go, reader.go and handle.go one connection (state, bounded queue, writer,
// reader, client requests); protocol.go and encode.go the client and server
// messages; handshake.go the opening handshake, ws.go the WebSocket
// transport and frame.go its frame reader
// (RFC 6455 checks and close codes); front.go, frontconn.go and
// fronthead.go the Front, which reads GET /ws heads on the public listener
// before net/http (decision 0058); config.go and metrics.go the tunables
// and Prometheus metrics.
//
// # Imports
//
// No WebSocket library: the handshake is done in handshake.go (with
// ?subscribe=, its 101 response is held and written with the ack, in one
// write: decision 0018), frames (RFC 6455, no extensions) are read in
// frame.go and written in ws.go.
// The package imports only the domain (internal/market), internal/uring
// (the io_uring sends), the Prometheus client and golang.org/x/time/rate. It must not import the
// bus, a store, a cache, auth, the API or config: it reads snapshots through
// Source and checks tokens through Authenticator, which cmd/findash wires in.
package gateway
