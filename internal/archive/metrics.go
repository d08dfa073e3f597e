package archive

import "github.com/prometheus/client_golang/prometheus"

// metrics are the archive's findash_archive_* series.
type metrics struct {
	files, rows, bytes, errors, readErrors prometheus.Counter
	lastSuccess                            prometheus.Gauge
	readBytes                              prometheus.Counter
	readCuts                               *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		files: prometheus.NewCounter(prometheus.CounterOpts{Name: "findash_archive_files_written_total",
			Help: "Parquet parts written to the tick archive and verified by reading them back."}),
		rows: prometheus.NewCounter(prometheus.CounterOpts{Name: "findash_archive_rows_written_total",
			Help: "Ticks written to the tick archive (a day archived again counts again)."}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "findash_archive_bytes_written_total",
			Help: "Bytes written to the tick archive: parts and manifests."}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "findash_archive_errors_total",
			Help: "Archive runs that failed (the ticks of the failed day and after stay in the database)."}),
		readErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "findash_archive_read_errors_total",
			Help: "Reads of the tick archive that failed: a manifest or part missing, corrupt or unreachable."}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Name: "findash_archive_last_success_timestamp_seconds",
			Help: "Unix time of the last archive run that archived every day due (0: none since start)."}),
		readBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "findash_archive_read_bytes_total",
			Help: "Bytes of the tick archive fetched by paged reads (GET /api/v1/ticks/{symbol})."}),
		readCuts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "findash_archive_read_cuts_total",
			Help: "Paged reads of the tick archive stopped by a limit (bytes, rows, time, days) before their page was full."}, []string{"limit"}),
	}
	if reg != nil {
		reg.MustRegister(m.files, m.rows, m.bytes, m.errors, m.readErrors, m.lastSuccess, m.readBytes, m.readCuts)
	}
	return m
}
