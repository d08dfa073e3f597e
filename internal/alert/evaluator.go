package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/retry"
)

// Log is the event log, read in order; *bus.Bus implements it.
type Log interface {
	Consume(ctx context.Context, from uint64, fn func(streamSeq uint64, ticks []market.Tick) error) error
}

// Restorer returns the persisted candles (the 1-minute candles of the last
// 24 h among them) and the log positions they reflect, by partition; the
// SQL stores implement it. It seeds the 24 h change of change_pct
// conditions.
type Restorer interface {
	RestoreState(ctx context.Context) (candles []market.Candle, pos market.Positions, err error)
}

// ArmedChange is a new armed state of one alert, with the tick time of
// its last firing (where its cooldown starts).
type ArmedChange struct {
	AlertID     int64
	Armed       bool
	LastFiredTS int64 // ms since epoch, UTC; 0: never fired
	// Revision is the alert's Revision when it was evaluated: the change
	// is applied only while the alert still has it. An edit committed
	// between the evaluation and the commit re-armed the alert (decisions
	// 0079, 0081); the old definition's state must not undo that re-arm,
	// even when the edit left CreatedSeq where it was (no message in the
	// log since the creation or the previous edit).
	Revision int64
	// CreatedSeq is the alert's CreatedSeq when it was evaluated, a
	// second guard (decision 0079): an edit by an instance of the previous
	// version, during a rolling update, moves it but not the revision.
	CreatedSeq uint64
}

// Store is the evaluator's persistence; the SQL stores implement it. part
// is the log partition whose position is meant (market.Unpartitioned for
// the unpartitioned log).
type Store interface {
	// AlertPosition returns the log position of the last CommitAlerts in
	// partition part (market.Positions.Of), 0 if none.
	AlertPosition(ctx context.Context, part int) (uint64, error)
	// AlertsVersion returns a number that changes whenever an alert is
	// created, deleted, paused or resumed.
	AlertsVersion(ctx context.Context) (int64, error)
	// EvaluatedAlerts returns every alert (paused ones included) with its
	// stored armed state, and the version it reflects.
	EvaluatedAlerts(ctx context.Context) ([]Alert, int64, error)
	// CommitAlerts records, in one transaction, the fired events (skipping
	// those whose alert no longer exists or is paused, any whose
	// (AlertID, Seq) is already stored, and any whose alert's Revision is
	// no longer the event's: edited since), the armed changes (skipping
	// those whose alert's Revision or CreatedSeq is no longer the
	// change's) and logSeq
	// as partition part's position. The revision is checked in the
	// statement that writes, in that transaction and under the alert's
	// row lock (or the store's one writer), so an edit commits either
	// before the check (the firing is skipped) or after the whole commit.
	// prevSeq is the position the caller last committed or read (0: none):
	// when the stored position, read under the position's lock in that
	// transaction, is below it, the database lost commits it had
	// acknowledged (a failover to an asynchronous standby, a restore), and
	// CommitAlerts changes nothing and returns an error matching
	// market.ErrBehind. When logSeq is not above the stored position it
	// changes nothing and reports applied false. It returns the events it
	// inserted, with their IDs, and the events it skipped because their
	// alert was edited since (stale); a stale firing does not keep the
	// rest of the commit, the position included, from being applied.
	CommitAlerts(ctx context.Context, part int, prevSeq, logSeq uint64, fired []Event, armed []ArmedChange) (inserted, stale []Event, applied bool, err error)
	// PendingEvents returns up to limit events not yet marked dispatched, oldest first.
	PendingEvents(ctx context.Context, limit int) ([]Event, error)
	// MarkEventsDispatched marks events as handed to the job queue.
	MarkEventsDispatched(ctx context.Context, ids []int64) error
}

// Sink pushes a fired alert to the user's live connections (the gateway
// hub's `alerts` channel). It must not block.
type Sink interface {
	PublishAlert(userID int64, data any)
}

// Dispatcher enqueues the notifications of an event (one job per channel in
// ev.Notify, unique per event and channel); *jobs.Queue implements it.
type Dispatcher interface {
	EnqueueAlert(ctx context.Context, ev Event) error
}

// Config tunes an Evaluator. Zero fields take the documented defaults.
type Config struct {
	// FlushInterval is how often the position advances when messages fire
	// nothing (default 1s). Firings and re-arms are committed at once.
	FlushInterval time.Duration
	// RefreshInterval is how often the alert version is checked while
	// messages flow (default 250ms).
	RefreshInterval time.Duration
	// RecentTicks is how many of the latest ticks (all symbols) are kept
	// to evaluate a new alert against the ticks that arrived between its
	// creation and its loading (default 8192, ~450 KB): an alert created
	// just before a crossing fires on it. <0 disables.
	RecentTicks int
	// IdleAfter is how long a symbol may go without a tick before its 24 h
	// statistics are dropped (default 25h: more than the window, so they
	// are exact again from its next tick dated a day later; see
	// market.State.Evict). Symbols are looked for once a minute.
	IdleAfter time.Duration
	// SweepEvery is how often a running evaluator looks for events not
	// yet handed to the Dispatcher (default 1m; one indexed query): left
	// by a failed enqueue, or by a failover between a commit and its
	// enqueue.
	SweepEvery time.Duration
	// Now is the wall clock (default time.Now); it stamps FiredAt and paces
	// FlushInterval, RefreshInterval and IdleAfter.
	Now func() time.Time
	// Ticker returns a channel that receives every d, and its stop
	// (default a time.Ticker's); it paces SweepEvery and the waits between
	// rewinds.
	Ticker func(d time.Duration) (<-chan time.Time, func())
}

// Evaluator evaluates alerts against the event log. Create it with
// NewEvaluator and start it with Run.
type Evaluator struct {
	log      Log
	restorer Restorer
	store    Store
	sink     Sink
	disp     Dispatcher
	part     int // the log partition evaluated; market.Unpartitioned for the whole log
	cfg      Config
	l        *slog.Logger

	fired     prometheus.Counter
	conflicts prometheus.Counter
	rewinds   prometheus.Counter
	stale     prometheus.Counter
	position  prometheus.Gauge
	evaluated prometheus.Counter
}

// NewEvaluator returns an Evaluator of the unpartitioned log. restorer,
// sink and disp may be nil (no 24 h history on start; no WebSocket push; no
// notifications). Metrics are registered on reg when it is not nil.
func NewEvaluator(log Log, restorer Restorer, store Store, sink Sink, disp Dispatcher, cfg Config, l *slog.Logger, reg prometheus.Registerer) *Evaluator {
	return NewPartitionEvaluator(log, market.Unpartitioned, restorer, store, sink, disp, cfg, l, reg)
}

// NewPartitionEvaluator is NewEvaluator for partition part of a
// partitioned log: log must read that partition only, and the position
// kept is part's. The alerts of the partition's symbols are the only ones
// that can fire; each alert's armed state is written only by the evaluator
// of its symbol's partition. Evaluators of different partitions run side
// by side; reg must then tell their metrics apart (a partition label).
func NewPartitionEvaluator(log Log, part int, restorer Restorer, store Store, sink Sink, disp Dispatcher, cfg Config, l *slog.Logger, reg prometheus.Registerer) *Evaluator {
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = time.Second
	}
	if cfg.IdleAfter <= 0 {
		cfg.IdleAfter = 25 * time.Hour
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = 250 * time.Millisecond
	}
	if cfg.RecentTicks == 0 {
		cfg.RecentTicks = 8192
	}
	if cfg.SweepEvery <= 0 {
		cfg.SweepEvery = sweepEvery
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Ticker == nil {
		cfg.Ticker = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	l = l.With("component", "alerts")
	if part != market.Unpartitioned {
		l = l.With("partition", part)
	}
	e := &Evaluator{
		log: log, restorer: restorer, store: store, sink: sink, disp: disp, part: part, cfg: cfg,
		l: l,
		fired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_alert_firings_total", Help: "Alert firings recorded by this evaluator.",
		}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_alert_commit_conflicts_total", Help: "Commits refused because another evaluator had already recorded that log position.",
		}),
		rewinds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_alert_rewinds_total", Help: "Commits refused because the database's alert position was below what this evaluator had committed (a failover to a standby missing the last commits, a restore); the log is evaluated again from the stored position, at once or, for the final commit on stop, at the next start.",
		}),
		stale: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_alert_stale_firings_total", Help: "Firings not recorded because their alert was edited after the evaluator loaded the definition that fired (the edit committed before the firing's commit); the edited alert is evaluated from the edit on, with its new definition.",
		}),
		position: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "findash_alert_position", Help: "Stream sequence of the last log message whose alerts were committed.",
		}),
		evaluated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_alert_ticks_total", Help: "Ticks evaluated against the alerts by this evaluator; those after its committed position are evaluated, and counted, again after a restart or a lost lease.",
		}),
	}
	if reg != nil {
		reg.MustRegister(e.fired, e.conflicts, e.rewinds, e.stale, e.position, e.evaluated)
	}
	return e
}

// run is the state of one Run call, confined to its goroutine.
type run struct {
	e         *Evaluator
	stats     map[string]*symbolStats
	alerts    []Alert
	bySym     map[string][]int // indexes into alerts
	version   int64
	start     uint64 // messages at or below it only warm the statistics
	committed uint64 // last position committed (or found stored)
	held      uint64 // last message evaluated, not yet committed
	lastFlush time.Time
	lastCheck time.Time
	lastSweep time.Time // of idle symbols' statistics
	quote     market.Quote
	fired     []Event
	changes   []ArmedChange
	recent    recentTicks // the latest ticks evaluated, for new alerts
	h         *history    // kept across rewinds
	// since[j] is the first message alerts[j] is evaluated on (place);
	// the alerts starting after done start at due (0: none).
	since     []uint64
	done, due uint64
	replayTo  uint64 // the last message an earlier pass evaluated
}

// run is one pass of Run, from the stored position; it returns an error
// matching market.ErrBehind when a commit finds the store behind, and
// whether it committed anything before that.
func (e *Evaluator) run(ctx context.Context, h *history) (progressed bool, err error) {
	r := &run{e: e, stats: make(map[string]*symbolStats), recent: newRecentTicks(e.cfg.RecentTicks), h: h, replayTo: h.reached}
	r.start, err = retryStore(ctx, e, "read the alert position", func() (uint64, error) { return e.store.AlertPosition(ctx, e.part) })
	if err != nil {
		return false, nil
	}
	r.committed, r.done = r.start, r.start
	e.position.Set(float64(r.start))
	from := r.start + 1
	if e.restorer != nil {
		snap, err := retryStore(ctx, e, "restore the 24h statistics", func() (uint64, error) {
			cs, pos, err := e.restorer.RestoreState(ctx)
			if err != nil {
				return 0, err
			}
			for _, c := range cs {
				if c.Interval == market.Interval1m {
					st := r.statsOf(c.Symbol)
					st.LoadMinute(c)
					// its newest minute's close stands for its last arrival
					st.arrived = max(st.arrived, c.LastTS*int64(time.Millisecond))
				}
			}
			return pos.Of(e.part), nil
		})
		if err != nil {
			return false, nil
		}
		from = min(from, snap+1)
	}
	if err := r.reload(ctx, 0); err != nil {
		return false, nil
	}
	e.dispatchPending(ctx)
	// lastFlush stays zero: the first message after a start is committed at
	// once, so the position shows promptly that the evaluator caught up.
	r.lastCheck = e.cfg.Now()
	e.l.Info("alert evaluator started", "position", r.start, "from", from, "alerts", len(r.alerts))
	octx, stopOutbox := context.WithCancel(ctx)
	outboxDone := make(chan struct{})
	go func() {
		defer close(outboxDone)
		e.outbox(octx)
	}()
	first := true
	err = e.log.Consume(ctx, from, func(seq uint64, ticks []market.Tick) error {
		if first && r.start > 0 && seq > r.start+1 {
			e.l.Warn("the log no longer holds messages that were never evaluated for alerts", "from", r.start+1, "to", seq-1)
		}
		first = false
		return r.handle(ctx, seq, ticks)
	})
	stopOutbox()
	<-outboxDone
	if ctx.Err() != nil {
		r.final(ctx)
		return false, nil
	}
	if errors.Is(err, market.ErrBehind) {
		return r.committed > r.start, err // what is held is evaluated again from the stored position
	}
	return false, fmt.Errorf("alert evaluator: %w", err)
}

// reload reads every alert and its armed state from the store, when
// handling message at (0: at the pass start), and places them (place).
func (r *run) reload(ctx context.Context, at uint64) error {
	var alerts []Alert
	v, err := retryStore(ctx, r.e, "load alerts", func() (int64, error) {
		as, v, err := r.e.store.EvaluatedAlerts(ctx)
		alerts = as
		return v, err
	})
	if err != nil {
		return err
	}
	r.alerts, r.version = alerts, v
	r.bySym = make(map[string][]int, len(alerts))
	for i := range alerts {
		r.bySym[alerts[i].Symbol] = append(r.bySym[alerts[i].Symbol], i)
	}
	r.place(at)
	return nil
}

// handle evaluates one log message.
func (r *run) handle(ctx context.Context, seq uint64, ticks []market.Tick) error {
	now := r.e.cfg.Now()
	if now.Sub(r.lastCheck) >= r.e.cfg.RefreshInterval {
		r.lastCheck = now
		if v, err := r.e.store.AlertsVersion(ctx); err != nil {
			r.e.l.Warn("cannot read the alert version; keeping the alerts held", "err", err)
		} else if v != r.version {
			if err := r.reload(ctx, seq); err != nil {
				return ctx.Err()
			}
			r.e.l.Info("alert definitions reloaded", "alerts", len(r.alerts), "version", v)
		}
	}
	if r.due != 0 && seq >= r.due {
		// Alerts starting here first catch up with the ticks since their
		// creation; from this message on, they are evaluated as changed.
		r.begin(seq, now)
	}
	r.dropIdle(now)
	arrived := now.UnixNano()
	for i := range ticks {
		t := &ticks[i]
		st := r.statsOf(t.Symbol)
		st.arrived = arrived
		st.Add(t)
		if seq <= r.start {
			continue // already evaluated and committed before a restart
		}
		r.recent.add(t, seq)
		idx := r.bySym[t.Symbol]
		if len(idx) == 0 || !st.Quote(t.Symbol, &r.quote) {
			continue
		}
		for _, j := range idx {
			a := &r.alerts[j]
			if a.Paused || seq < r.since[j] {
				continue
			}
			v := r.quote.Price
			if a.Condition.pct() {
				v = r.quote.ChangePct24h
			}
			r.step(a, v, r.quote.Price, t, now)
		}
	}
	if seq <= r.start {
		return nil
	}
	r.h.reached = max(r.h.reached, seq)
	r.e.evaluated.Add(float64(len(ticks)))
	r.held = seq
	if len(r.fired) > 0 || len(r.changes) > 0 || now.Sub(r.lastFlush) >= r.e.cfg.FlushInterval {
		return r.commit(ctx)
	}
	return nil
}

// step applies value (of the tick t at price) to alert a, recording a
// firing and a change of its armed state.
func (r *run) step(a *Alert, value, price float64, t *market.Tick, now time.Time) {
	was := a.Armed
	if a.Step(value, t.TS) {
		r.fired = append(r.fired, Event{
			AlertID: a.ID, UserID: a.UserID, Symbol: a.Symbol, Condition: a.Condition,
			Threshold: a.Threshold, Value: value, Price: price, TS: t.TS, Seq: t.Seq,
			Notify: a.Notify, WebhookURL: a.WebhookURL, FiredAt: now.UTC().Truncate(time.Millisecond), Revision: a.Revision,
		})
	}
	if a.Armed != was {
		r.changes = append(r.changes, ArmedChange{AlertID: a.ID, Armed: a.Armed, LastFiredTS: a.LastFiredTS, Revision: a.Revision, CreatedSeq: a.CreatedSeq})
	}
}

// commit records what is held at position r.held, retrying until it
// succeeds or ctx ends. A store found behind r.committed is not retried:
// commit returns its market.ErrBehind at once.
func (r *run) commit(ctx context.Context) error {
	if r.held <= r.committed {
		return nil
	}
	var (
		inserted, stale []Event
		applied         bool
	)
	_, err := retryStore(ctx, r.e, "commit alert firings", func() (struct{}, error) {
		var err error
		inserted, stale, applied, err = r.e.store.CommitAlerts(ctx, r.e.part, r.committed, r.held, r.fired, r.changes)
		if errors.Is(err, market.ErrBehind) {
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	})
	if err != nil {
		return err
	}
	r.fired, r.changes = r.fired[:0], r.changes[:0]
	r.lastFlush = r.e.cfg.Now()
	if !applied {
		// Another evaluator recorded this position first: take its states.
		r.e.conflicts.Inc()
		r.committed = r.held
		return r.reload(ctx, r.held+1)
	}
	r.committed = r.held
	r.e.position.Set(float64(r.held))
	r.e.fired.Add(float64(len(inserted)))
	for i := range inserted {
		ev := inserted[i]
		r.e.l.Info("alert fired", "alert_id", ev.AlertID, "event_id", ev.ID, "user_id", ev.UserID,
			"symbol", ev.Symbol, "condition", ev.Condition, "threshold", ev.Threshold, "value", ev.Value, "seq", ev.Seq)
		if r.e.sink != nil && r.h.pushed.add(ev.AlertID, ev.Seq) {
			r.e.sink.PublishAlert(ev.UserID, ev)
		}
	}
	if len(inserted) > 0 {
		r.e.dispatch(ctx, inserted)
	}
	if len(stale) > 0 {
		r.e.stale.Add(float64(len(stale)))
		for _, ev := range stale {
			r.e.l.Info("alert firing not recorded: the alert was edited since", "alert_id", ev.AlertID, "user_id", ev.UserID,
				"symbol", ev.Symbol, "threshold", ev.Threshold, "seq", ev.Seq, "revision", ev.Revision)
		}
		// An alert held here was edited: the next message checks the
		// alert version (and reloads) without waiting for
		// RefreshInterval, so the edited alert starts there, with its
		// catch-up, rather than the old definition going on.
		r.lastCheck = time.Time{}
	}
	return nil
}

// final commits the position held when ctx ended, bounded by 5s.
func (r *run) final(ctx context.Context) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := r.commit(fctx); errors.Is(err, market.ErrBehind) {
		r.e.rewound(err, "the next start evaluates the log again from the stored position")
		// r.committed is what the database lost, not its position.
		r.e.l.Info("alert evaluator stopped", "position_lost", r.committed)
		return
	} else if err != nil {
		r.e.l.Warn("final alert position not committed; the next start re-evaluates from the last one", "err", err)
	}
	r.e.l.Info("alert evaluator stopped", "position", r.committed)
}

// retryStore calls fn, a call to the store, until it succeeds or ctx ends,
// waiting between attempts as retry.Database says and logging each failure.
// It returns ctx's error when ctx ends first.
func retryStore[T any](ctx context.Context, e *Evaluator, what string, fn func() (T, error)) (T, error) {
	return backoff.Retry(ctx, fn, retry.Database().Options(func(err error, wait time.Duration) {
		e.l.Warn("cannot "+what+"; retrying", "err", err, "retry_in", wait)
	})...)
}
