package connlimit

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	open    prometheus.Gauge
	limit   prometheus.Gauge
	refused *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "findash_http_connections", Help: "Open connections on the public listener (HTTP and WebSocket), within the caps.",
		}),
		limit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "findash_http_connections_limit", Help: "The cap on open connections of the public listener in force (--max-conns, or the open-file limit minus --fd-reserve).",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "findash_http_connections_refused_total", Help: "Connections of the public listener over a cap: reason=total (--max-conns), per_ip (--max-conns-per-ip), fds (the process ran out of file descriptors). They reach only the health checks, or are closed.",
		}, []string{"reason"}),
	}
	for _, r := range []string{"total", "per_ip", "fds"} {
		m.refused.WithLabelValues(r)
	}
	if reg == nil {
		return m
	}
	m.open = register(reg, m.open).(prometheus.Gauge)
	m.limit = register(reg, m.limit).(prometheus.Gauge)
	m.refused = register(reg, m.refused).(*prometheus.CounterVec)
	return m
}

// register registers c, or returns the collector already registered under
// its name (two listeners on one registry share their metrics).
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
