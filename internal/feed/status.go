package feed

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the findash_feed_* metrics of every feed of a process, by
// venue. Make one with NewMetrics and pass it to each feed's constructor.
type Metrics struct {
	reg                                              prometheus.Registerer // nil: not registered
	messages, trades, duplicates, malformed, unknown *prometheus.CounterVec
	reconnects, silences, gaps, backfilled, lost     *prometheus.CounterVec
	backfillFailures, appendFailures                 *prometheus.CounterVec
	lag                                              *prometheus.HistogramVec
}

// NewMetrics registers the feed metrics on reg (when not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reg: reg,
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "findash_feed_messages_total",
			Help: "WebSocket messages received from the venue (trades, heartbeats, answers, malformed)."}, []string{"venue"}),
		trades: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "findash_feed_trades_total",
			Help: "Venue trades appended to the event log and acknowledged (live and backfilled), each once."}, []string{"venue"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "findash_feed_duplicates_total",
			Help: "Venue trades dropped as already logged: at or below the symbol's mark, or in a message the log already held."}, []string{"venue"}),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "findash_feed_malformed_total",
			Help: "Venue messages that did not parse or broke the tick bounds (skipped; the connection is kept)."}, []string{"venue"}),
		unknown: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "findash_feed_unknown_total",
			Help: "Well-formed venue messages of a type or symbol the feed does not handle (skipped)."}, []string{"venue"}),
		reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "findash_feed_reconnects_total",
			Help: "Connections to the venue lost or refused, each followed by a reconnect after a backoff."}, []string{"venue"}),
		silences: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "findash_feed_silences_total",
			Help: "Connections replaced because nothing (no message, no ping) arrived within the silence timeout."}, []string{"venue"}),
		gaps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "findash_feed_gaps_total",
			Help: "Gaps filled through the venue's REST history: a jump in trade ids, a heartbeat ahead, trades made while disconnected."}, []string{"venue"}),
		backfilled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "findash_feed_backfilled_trades_total",
			Help: "Trades fetched through the venue's REST history to fill gaps."}, []string{"venue"}),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "findash_feed_lost_trades_total",
			Help: "Trades of a gap longer than the backfill limit, left out."}, []string{"venue"}),
		backfillFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "findash_feed_backfill_failures_total",
			Help: "REST history requests that failed (the connection is reopened and the fill retried)."}, []string{"venue"}),
		appendFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "findash_feed_append_failures_total",
			Help: "Appends of a batch of venue trades the log refused (retried unchanged)."}, []string{"venue"}),
		lag: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "findash_feed_lag_seconds",
			Help:    "Time from a trade at the venue (its trade time) to its arrival at findash, live trades only.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}}, []string{"venue"}),
	}
	if reg != nil {
		reg.MustRegister(m.messages, m.trades, m.duplicates, m.malformed, m.unknown, m.reconnects, m.silences,
			m.gaps, m.backfilled, m.lost, m.backfillFailures, m.appendFailures, m.lag)
	}
	return m
}

// venueMetrics are one venue's children of Metrics.
type venueMetrics struct {
	messages, trades, duplicates, malformed, unknown prometheus.Counter
	reconnects, silences, gaps, backfilled, lost     prometheus.Counter
	backfillFailures, appendFailures                 prometheus.Counter
	lag                                              prometheus.Observer
}

func (m *Metrics) venue(v string) *venueMetrics {
	return &venueMetrics{
		messages: m.messages.WithLabelValues(v), trades: m.trades.WithLabelValues(v),
		duplicates: m.duplicates.WithLabelValues(v), malformed: m.malformed.WithLabelValues(v),
		unknown: m.unknown.WithLabelValues(v), reconnects: m.reconnects.WithLabelValues(v),
		silences: m.silences.WithLabelValues(v), gaps: m.gaps.WithLabelValues(v),
		backfilled: m.backfilled.WithLabelValues(v), lost: m.lost.WithLabelValues(v),
		backfillFailures: m.backfillFailures.WithLabelValues(v), appendFailures: m.appendFailures.WithLabelValues(v),
		lag: m.lag.WithLabelValues(v),
	}
}

// add registers f's gauges, read from its Status at each scrape.
func (m *Metrics) add(f *Feed) {
	if m.reg == nil {
		return
	}
	labels := prometheus.Labels{"venue": f.v.name()}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "findash_feed_connected", ConstLabels: labels,
			Help: "1 while the venue's feed is connected and receiving, else 0."}, func() float64 {
			if State(f.state.Load()) == StateConnected {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "findash_feed_last_message_age_seconds", ConstLabels: labels,
			Help: "Seconds since the venue's feed last received a message or ping (0 before the first)."}, func() float64 {
			return f.Status().LastMessageAge.Seconds()
		}),
	)
}

// Status is a feed's health, for the API and the dashboard.
type Status struct {
	Venue   string   `json:"venue"`
	Symbols []string `json:"symbols"`
	// State is "starting", "connected", "connecting" or "stopped".
	State string `json:"state"`
	// Stale: no message for longer than Config.StaleAfter.
	Stale bool `json:"stale"`
	// LastMessage is when the last message or ping arrived (zero: never).
	LastMessage    time.Time     `json:"last_message,omitzero"`
	LastMessageAge time.Duration `json:"-"`
	Trades         int64         `json:"trades"`      // appended and acknowledged since start
	Reconnects     int64         `json:"reconnects"`  // since start
	LostTrades     int64         `json:"lost_trades"` // gaps past the backfill limit
	LastError      string        `json:"last_error,omitempty"`
}

// Status returns the feed's current health. Safe for concurrent use.
func (f *Feed) Status() Status {
	st := Status{
		Venue: f.v.name(), Symbols: f.Symbols(), State: State(f.state.Load()).String(),
		Trades: f.acked.Load(), Reconnects: f.reconns.Load(), LostTrades: f.lost.Load(),
	}
	if ns := f.lastMsg.Load(); ns > 0 {
		st.LastMessage = time.Unix(0, ns).UTC()
		st.LastMessageAge = max(f.cfg.Now().Sub(st.LastMessage), 0)
		st.Stale = st.LastMessageAge > f.cfg.StaleAfter
	}
	f.mu.Lock()
	st.LastError = f.lastError
	f.mu.Unlock()
	return st
}

// Check is the feed's readiness check: it fails while the feed is not
// connected or has been silent past Config.StaleAfter. Wire it as a
// non-critical check: a venue down degrades the instance, it does not take
// it out of service.
func (f *Feed) Check(context.Context) error {
	st := f.Status()
	switch {
	case st.State != StateConnected.String():
		if st.LastError != "" {
			return fmt.Errorf("%s feed %s: %s", st.Venue, st.State, st.LastError)
		}
		return fmt.Errorf("%s feed %s", st.Venue, st.State)
	case st.Stale:
		return fmt.Errorf("%s feed silent for %s", st.Venue, st.LastMessageAge.Round(time.Second))
	}
	return nil
}
