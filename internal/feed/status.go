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
			Help: "1 while the venue's feed is connected and receiving (not silent past its stale threshold), else 0."}, func() float64 {
			if f.Status().State == StateConnected {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "findash_feed_last_message_age_seconds", ConstLabels: labels,
			Help: "Seconds since the venue's feed last received a message or ping (0 before the first)."}, func() float64 {
			if f.lastMsg.Load() == 0 {
				return 0
			}
			return f.Status().LastMessageAge.Seconds()
		}),
	)
}

// Status is a feed's health, for /api/v1/feeds, the dashboard's feed line
// and the readiness check (Check reads it too, so they never disagree).
type Status struct {
	Venue   string
	Symbols []string
	// State is the feed's state: StateConnected, StateDegraded,
	// StateReconnecting, StateConnecting (before the first connection) or
	// StateStopped.
	State State
	// LastMessage is when the last message or ping arrived (zero: never).
	LastMessage time.Time
	// LastMessageAge is the time since LastMessage, or since Run started
	// when nothing arrived yet.
	LastMessageAge time.Duration
	// Lag is the last live trade's arrival time minus its trade time at the
	// venue (0 before the first live trade; negative when the clocks differ).
	Lag        time.Duration
	HasLag     bool  // a live trade was seen: Lag is meaningful
	Messages   int64 // WebSocket messages received since start
	Trades     int64 // appended and acknowledged since start
	Reconnects int64 // since start
	// Gaps are the gaps filled through the venue's REST history since
	// start; BackfilledTrades the trades fetched to fill them; LostTrades
	// those of gaps longer than Config.MaxBackfill, left out.
	Gaps, BackfilledTrades, LostTrades int64
	LastError                          string // the last connection error ("" when none yet)
}

// Status returns the feed's current health. Safe for concurrent use.
//
// Degraded: nothing (no message, no ping) arrived for longer than
// Config.StaleAfter — since the last message, or since Run started when
// none did — whether or not a connection is open: a venue that accepts
// connections but stays silent is degraded, and a reconnect does not hide
// it.
func (f *Feed) Status() Status {
	now := f.cfg.Now()
	st := Status{
		Venue: f.v.name(), Symbols: f.Symbols(), State: State(f.state.Load()),
		Messages: f.msgs.Load(), Trades: f.acked.Load(), Reconnects: f.reconns.Load(),
		Gaps: f.gaps.Load(), BackfilledTrades: f.backfilled.Load(), LostTrades: f.lost.Load(),
	}
	since := f.started.Load()
	if ns := f.lastMsg.Load(); ns > 0 {
		st.LastMessage = time.Unix(0, ns).UTC()
		since = ns
	}
	if since > 0 {
		st.LastMessageAge = max(now.Sub(time.Unix(0, since)), 0)
	}
	if lag := f.lag.Load(); lag != noLag {
		st.Lag, st.HasLag = time.Duration(lag), true
	}
	if st.State != StateStopped && since > 0 && st.LastMessageAge > f.cfg.StaleAfter {
		st.State = StateDegraded
	}
	f.mu.Lock()
	st.LastError = f.lastError
	f.mu.Unlock()
	return st
}

// Check is the feed's readiness check: it fails unless Status says
// connected (so while connecting, reconnecting, degraded or stopped). Wire
// it as a non-critical check: a venue down degrades the instance, it does
// not take it out of service.
func (f *Feed) Check(context.Context) error {
	st := f.Status()
	switch st.State {
	case StateConnected:
		return nil
	case StateDegraded:
		return fmt.Errorf("%s feed silent for %s", st.Venue, st.LastMessageAge.Round(time.Second))
	}
	if st.LastError != "" {
		return fmt.Errorf("%s feed %s: %s", st.Venue, st.State, st.LastError)
	}
	return fmt.Errorf("%s feed %s", st.Venue, st.State)
}
