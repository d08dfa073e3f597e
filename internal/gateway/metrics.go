package gateway

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

const dropHelp = "WebSocket messages not delivered: reason=queue_full (a tick or alert met a full queue), reason=conflated (a candle or quotes message replaced by a newer one before it was written)."

type metrics struct {
	conns     prometheus.Gauge
	sent      prometheus.Counter
	frames    prometheus.Counter // data frames written (each carries one or more messages)
	dropped   prometheus.Counter // ticks and alerts not delivered: queue full
	conflated prometheus.Counter // candles and quotes replaced by a newer one before being sent
	gaps      prometheus.Counter
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
	}
	if reg == nil {
		return m
	}
	m.conns = register(reg, m.conns).(prometheus.Gauge)
	m.sent = register(reg, m.sent).(prometheus.Counter)
	m.frames = register(reg, m.frames).(prometheus.Counter)
	m.dropped = register(reg, m.dropped).(prometheus.Counter)
	m.conflated = register(reg, m.conflated).(prometheus.Counter)
	m.gaps = register(reg, m.gaps).(prometheus.Counter)
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
