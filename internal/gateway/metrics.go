package gateway

import (
	"encoding/binary"
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

const dropHelp = "WebSocket messages not delivered: reason=queue_full (an alert met a full send queue), reason=conflated (a candle or quotes message replaced by a newer one before it was written)."

type metrics struct {
	conns  prometheus.Gauge
	sent   prometheus.Counter
	frames prometheus.Counter // data frames written (each carries one or more messages)
	// sendBatches counts the writer pool's io_uring submissions;
	// uringWriters the pool's writers with a ring set up.
	sendBatches  prometheus.Counter
	uringWriters prometheus.Gauge
	dropped      prometheus.Counter // ticks and alerts not delivered: queue full
	conflated    prometheus.Counter // candles and quotes replaced by a newer one before being sent
	gaps         prometheus.Counter
	lagged       prometheus.Counter // ticks channels that met a full queue and read from the ring
	slow         prometheus.Counter // connections closed as slow consumers
	logReads     *prometheus.CounterVec
	logTicks     prometheus.Counter
	subsLimit    prometheus.Counter // subscribes refused: too many channels
	stale        prometheus.Gauge   // 1 while clients are told their data is stale (SetStale)
	// sessClosed counts connections closed because their session ended,
	// by reason (revoked, expired, ended); sessChecks the sweep's store
	// lookups by result (live, ended, error).
	sessClosed *prometheus.CounterVec
	sessChecks *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "findash_ws_connections", Help: "Open WebSocket connections.",
		}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_ws_messages_sent_total", Help: "WebSocket messages written to clients.",
		}),
		frames: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_ws_frames_written_total", Help: "WebSocket data frames written to clients, one write each; messages_sent / frames is the coalescing.",
		}),
		sendBatches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_ws_send_batches_total", Help: "io_uring submissions of the WebSocket writer pool, each sending the frames of several connections (up to 32) with one system call (--ws-io-uring). Frames written with write(2) (a pass over one connection, connections' own writers, transports without a socket) count in frames_written only.",
		}),
		uringWriters: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "findash_ws_io_uring_writers", Help: "WebSocket pool writers that send with io_uring (0 with --ws-io-uring=false, or where the kernel refuses io_uring: they write with write(2)).",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_ws_messages_dropped_total", Help: dropHelp,
			ConstLabels: prometheus.Labels{"reason": "queue_full"},
		}),
		conflated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_ws_messages_dropped_total", Help: dropHelp,
			ConstLabels: prometheus.Labels{"reason": "conflated"},
		}),
		gaps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_ws_gaps_total", Help: "Gap messages sent to clients (ticks dropped or no longer held).",
		}),
		lagged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_ws_lagged_total", Help: "Times a ticks channel met a full send queue (--ws-send-queue-bytes) and fell back to reading the symbol's replay ring.",
		}),
		slow: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_ws_slow_consumers_total", Help: "WebSocket connections closed with 1008 as slow consumers: behind longer than --ws-max-lag after falling out of the replay ring, taking nothing for --ws-write-timeout, or not reading their replies.",
		}),
		logReads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "findash_ws_log_reads_total", Help: "Reads of the event log for ticks channels behind their replay ring (result=ok or error; an error becomes a gap).",
		}, []string{"result"}),
		logTicks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_ws_log_ticks_total", Help: "Ticks read from the event log for ticks channels behind their replay ring.",
		}),
		subsLimit: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_ws_subscriptions_refused_total", Help: "Subscribe messages refused with too_many_subscriptions (--ws-max-subscriptions).",
		}),
		stale: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "findash_ws_stale", Help: "1 while the gateway tells its WebSocket clients their data is stale (status message; a region cut off from the primary region's log), else 0.",
		}),
		sessClosed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "findash_ws_sessions_closed_total", Help: "Authenticated WebSocket connections closed with 1008 because a session of their user ended: reason=revoked (announced: logout, revocation, password reset), expired (their session's expiry passed), ended (the periodic check found their session gone: an announcement missed).",
		}, []string{"reason"}),
		sessChecks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "findash_ws_session_checks_total", Help: "Sessions behind open WebSocket connections checked against the session store by the periodic sweep (--ws-session-check-interval), by result: live, ended, error (the store did not answer; the connections stay open).",
		}, []string{"result"}),
	}
	m.logReads.WithLabelValues("ok")
	for _, r := range []string{"revoked", "expired", "ended"} {
		m.sessClosed.WithLabelValues(r)
	}
	for _, r := range []string{"live", "ended", "error"} {
		m.sessChecks.WithLabelValues(r)
	}
	m.logReads.WithLabelValues("error")
	if reg == nil {
		return m
	}
	m.conns = register(reg, m.conns).(prometheus.Gauge)
	m.sent = register(reg, m.sent).(prometheus.Counter)
	m.frames = register(reg, m.frames).(prometheus.Counter)
	m.sendBatches = register(reg, m.sendBatches).(prometheus.Counter)
	m.uringWriters = register(reg, m.uringWriters).(prometheus.Gauge)
	m.dropped = register(reg, m.dropped).(prometheus.Counter)
	m.conflated = register(reg, m.conflated).(prometheus.Counter)
	m.gaps = register(reg, m.gaps).(prometheus.Counter)
	m.lagged = register(reg, m.lagged).(prometheus.Counter)
	m.slow = register(reg, m.slow).(prometheus.Counter)
	m.logReads = register(reg, m.logReads).(*prometheus.CounterVec)
	m.logTicks = register(reg, m.logTicks).(prometheus.Counter)
	m.subsLimit = register(reg, m.subsLimit).(prometheus.Counter)
	m.stale = register(reg, m.stale).(prometheus.Gauge)
	m.sessClosed = register(reg, m.sessClosed).(*prometheus.CounterVec)
	m.sessChecks = register(reg, m.sessChecks).(*prometheus.CounterVec)
	return m
}

// register registers c, or returns the collector already registered under
// its name (two hubs on one registry share their metrics).
func register(reg prometheus.Registerer, c prometheus.Collector) prometheus.Collector {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			return are.ExistingCollector
		}
		panic(err) // a programmer error: two different metrics with one name
	}
	return c
}

// frameMetrics count what the frame reader refuses and the close frames
// sent.
type frameMetrics struct {
	failures *prometheus.CounterVec // by kind (frame.go's kind* constants)
	closes   *prometheus.CounterVec // close frames sent, by code
}

func newFrameMetrics(reg prometheus.Registerer) *frameMetrics {
	m := &frameMetrics{
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "findash_ws_protocol_errors_total",
			Help: "WebSocket connections failed by a client frame, by kind: close 1002 for reserved_bits, unmasked, bad_opcode, bad_length, control_fragmented, control_too_long, bad_continuation, unfinished_message, bad_close; 1007 for invalid_utf8; 1009 for too_large; 1008 for ping_rate.",
		}, []string{"kind"}),
		closes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "findash_ws_closes_total",
			Help: "WebSocket close frames sent to clients, by close code (an echo of the client's code included; 1005: without a code; application codes as 3000-3999 and 4000-4999).",
		}, []string{"code"}),
	}
	for _, k := range failureKinds {
		m.failures.WithLabelValues(k)
	}
	if reg != nil {
		m.failures = register(reg, m.failures).(*prometheus.CounterVec)
		m.closes = register(reg, m.closes).(*prometheus.CounterVec)
	}
	return m
}

// closed counts a close frame sent with payload.
func (m *frameMetrics) closed(payload []byte) {
	code := closeNoStatus
	if len(payload) >= 2 {
		code = int(binary.BigEndian.Uint16(payload))
	}
	var label string
	switch {
	case code >= 3000 && code <= 3999:
		label = "3000-3999"
	case code >= 4000 && code <= 4999:
		label = "4000-4999"
	case validCloseCode(code) || code == closeNoStatus:
		label = strconv.Itoa(code)
	default:
		label = "other"
	}
	m.closes.WithLabelValues(label).Inc()
}
