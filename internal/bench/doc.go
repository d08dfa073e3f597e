// Package bench is findash's built-in load generator (`findash bench
// ws|api|ingest`, docs/reference/cli.md). It drives a running instance over its public
// HTTP and WebSocket interfaces only, as real clients would, and reports
// throughput and HDR-histogram latency percentiles (github.com/HdrHistogram/
// hdrhistogram-go, µs resolution, 3 significant digits), never averages
// alone.
//
// # ws: ingest-to-client latency
//
// RunWS opens Conns WebSocket clients, each subscribed to SubsPerConn
// ticks:<SYM> channels, and POSTs ticks at Rate through /api/v1/ticks. Each
// tick's size is the instant its batch was built, in microseconds since the
// Unix epoch modulo 10^9 (1,000 s; below the server's --tick-max-size and,
// times the price, its --tick-max-notional, and formatted by it as plain
// digits); its ts is the same instant in ms. A client reads the clock once
// per read of its socket and records (now − size) mod 10^9 for each tick
// in the frames that read completed: exact for any latency under 1,000 s. The latency therefore covers the POST, the event log, the
// live feed, the fan-out and the client's read; because it travels in the
// tick, child processes and other machines (with synchronised clocks) can
// measure it without sharing memory with the sender. Bench ticks are not
// market data: their sizes, volumes and candles' volumes are timestamps.
//
// The client's read path is its cost per delivery, and on one machine the
// client shares the cores with the server it measures, so it is kept
// small and the same for every server: the client speaks WebSocket itself
// (wsconn.go; gorilla/websocket only in the bare server); each connection
// has one goroutine that reads whatever its socket holds into its own
// buffer (64 MiB shared out over the connections, 4–64 KiB each, grown for
// a larger frame) and handles every complete frame in place; a tick in the
// gateway's or Centrifugo's exact layout is read in one pass (scanTick),
// anything else by searching for its fields; counts go to the fleet's
// atomics and latencies to one of 32 histogram shards once per read, with
// no allocation per delivery. The window's client CPU per delivery (this
// process and any children) is reported beside the servers'.
//
// Before the clients connect, one tick of every symbol is posted to every
// target (decision 0075): a symbol's first tick costs a server once in its
// life (in findash its registration), and only the first step on a fresh
// server paid it.
//
// Losses are counted three ways: gap messages from the server, deliveries
// short of the expected count (ticks accepted per symbol × acknowledged
// subscribers of that symbol, after a drain of up to 20 s), and ticks whose
// seq did not increase on their channel (seq is per symbol but not dense,
// so a jump is no loss).
//
// The server's memory per connection is the rise of
// process_resident_memory_bytes on the admin /metrics from before the
// clients connect to one second after the last subscription was
// acknowledged, divided by the connections; it is only meaningful when the
// clients are not in the server's process (a separate server, or --self
// with --procs). The server's CPU per connection is its CPU time over the
// connect phase divided by the connections acknowledged in it. The CPU per
// delivery, the GC pauses and the goroutines are read over one window: it
// opens a warm-up (1 s, or a fifth of a shorter run) after the ticks start,
// with a reading of the servers and of the clients' delivery count, and
// closes the moment the driver stops, with another of each; the CPU
// consumed between the two readings is divided by the deliveries counted
// between them (a drain after the window is not in it). With --server-pid
// the CPU comes from /proc/<pid>/stat, user and system apart (10 ms
// resolution: a window of a few seconds reads it to ±1 %); without, from
// process_cpu_seconds_total. The GC figures are the window's cycles and
// mean pause (go_gc_duration_seconds' sum and count) and the bucket bound
// of the 99th percentile of go_sched_pauses_total_gc_seconds' new
// observations; goroutines (go_goroutines) are read every second. With
// --procs the children report their counts every 200 ms, so the window's
// delivery count is up to 200 ms old at each end.
// With several Targets (instances sharing one NATS) the clients and the
// tick POSTs are spread over them and the servers' figures added up.
//
// # Scenarios and baselines
//
// RunScenario runs a named scenario (fanout, fanin, connect: sizes in
// scenarioDefaults) on several systems in turn — findash, a Centrifugo
// server (ProtoCentrifugo: its JSON protocol, HTTP publish API) and the
// bare server (BareServer: frames each tick once and writes it to every
// subscriber, one write per delivery, nothing else), each Repeats times,
// the systems alternating within a repeat, with a bare loopback TCP dial
// rate measured at the start of each repeat — and reports each system's
// median and spread per step, the highest step with p99 < 100 ms and no
// gap or drop, the saturation (most window deliveries/s of any step) and
// the ratios of the first system to the others. Each step is a complete
// RunWS (connect, drive, drain, close).
//
// One process holds at most ~19,900 sockets here (RLIMIT_NOFILE's hard
// limit, which RunWS raises the soft limit to). With Procs > 0 the clients
// run in child processes (RunWSChild), each with a share of the
// connections. To a loopback target the clients dial from 127.0.0.2,
// 127.0.0.3, … one address per 2,000 connections, with
// IP_BIND_ADDRESS_NO_PORT: from one address the kernel's search for a free
// ephemeral port grew with the connections held and halved the connect
// rate at 19,000. Children report JSON lines on stdout; their histograms
// travel in the HDR V2 compressed encoding and are merged by the parent.
//
// # api and ingest
//
// RunAPI runs Users keep-alive users, closed loop or at an offered Rate
// (open loop, latency from the scheduled send), over a dashboard-like mix
// (quotes, quotes of some symbols, candles of six intervals and three kinds
// of range, symbols, movers) with per-route percentiles, from this process
// or from Procs child processes (RunAPIChild: each its share of the users
// and rate, started together, their HDR histograms merged); with Baseline
// it then measures /api/v1/quotes alone and a bare net/http handler that
// answers the same bytes in a process of its own (RunAPIBare), with the
// same users, and reports the quotes' and the mix's throughput over the
// bare handler's, and the p99 of both at the offered Rate or, closed
// loop, at half the mix's throughput. Each phase reads, over the window
// its requests were counted in, the generator's own CPU and, given the
// server's pid, the server's (the bare child's in the bare phases) from
// /proc/<pid>/stat, per request; PinGenerator and PinServer set every
// thread's affinity so that the generator and the servers run on CPUs of
// their own (decision 0073). RunIngest POSTs batches at a target or maximum rate,
// measures the time from a probe tick's POST to its price in
// /api/v1/quotes, and checks that the 24 h volume of the run's own symbols
// (every tick has size 1) adds up to the ticks accepted.
//
// # Concurrency
//
// Every goroutine a Run function starts ends before it returns. Queues:
// the ws tick driver's batch queue holds 16 batches and a batch that does
// not fit is not sent (counted, the rate was not reached); the child
// protocol's pipes are read continuously. Progress lines are written by
// one goroutine per phase.
//
// Imports. bench imports nothing of findash's server packages and must not
// import them: it is a client that speaks to a server only over HTTP and
// WebSocket, as users do, so a benchmark measures the real surface.
package bench
