package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/market"
)

// Log is the durable event log ticks are appended to; *bus.Bus implements
// it. Append stores every tick (one message per run of one symbol) and
// returns only when all are stored, or an error wrapping market.ErrUnavailable.
type Log interface {
	Append(ctx context.Context, ticks []market.Tick) error
}

// Config tunes a Publisher.
type Config struct {
	// MaxInFlight is how many appends may wait for the log at once (default 64).
	MaxInFlight int
	// Timeout bounds one Publish: waiting for a slot plus waiting for acks (default 5s).
	Timeout time.Duration
}

// Publisher appends validated ticks to the event log. Safe for concurrent use.
type Publisher struct {
	log      Log
	cfg      Config
	logger   *slog.Logger
	slots    chan struct{} // a token per append in flight
	ticks    prometheus.Counter
	failures prometheus.Counter
	latency  prometheus.Histogram
}

// NewPublisher returns a Publisher appending to log. Its metrics are
// registered on reg when reg is not nil.
func NewPublisher(log Log, cfg Config, logger *slog.Logger, reg prometheus.Registerer) *Publisher {
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 64
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	p := &Publisher{
		log:    log,
		cfg:    cfg,
		logger: logger.With("component", "ingest"),
		slots:  make(chan struct{}, cfg.MaxInFlight),
		ticks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_ingest_ticks_total",
			Help: "Ticks appended to the event log and acknowledged.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_ingest_publish_failures_total",
			Help: "Publish calls that failed (log down, slow or ctx ended); their ticks were not acknowledged.",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "findash_ingest_publish_duration_seconds",
			Help:    "Time from Publish to the log's last ack.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}),
	}
	if reg != nil {
		reg.MustRegister(p.ticks, p.failures, p.latency)
	}
	return p
}

// Publish appends ticks (already validated) to the log, one message per
// symbol, keeping the order of each symbol's ticks, and returns after the log
// has acknowledged every one. It does not modify ticks. When the log is down
// or slow, or no slot frees up before ctx or Config.Timeout ends, it returns
// an error wrapping market.ErrUnavailable and the ticks must be treated as
// not accepted (some may still be in the log: a retry can duplicate them).
func (p *Publisher) Publish(ctx context.Context, ticks []market.Tick) error {
	if len(ticks) == 0 {
		return nil
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		p.failures.Inc()
		return fmt.Errorf("publish %d ticks: waiting for a slot: %w: %w", len(ticks), market.ErrUnavailable, ctx.Err())
	}
	defer func() { <-p.slots }()
	if err := p.log.Append(ctx, groupBySymbol(ticks)); err != nil {
		p.failures.Inc()
		if !errors.Is(err, market.ErrUnavailable) {
			err = fmt.Errorf("%w: %w", market.ErrUnavailable, err)
		}
		return fmt.Errorf("publish %d ticks: %w", len(ticks), err)
	}
	p.ticks.Add(float64(len(ticks)))
	p.latency.Observe(time.Since(start).Seconds())
	return nil
}

// groupBySymbol returns a copy of ticks with each symbol's ticks contiguous,
// symbols in order of first appearance, ticks of a symbol in input order.
func groupBySymbol(ticks []market.Tick) []market.Tick {
	out := make([]market.Tick, len(ticks))
	// Fast path: a single-symbol batch.
	grouped := true
	for i := 1; i < len(ticks) && grouped; i++ {
		if ticks[i].Symbol != ticks[i-1].Symbol {
			grouped = false
		}
	}
	if grouped {
		copy(out, ticks)
		return out
	}
	type group struct{ count, off int }
	idx := make(map[string]*group)
	var order []*group
	for i := range ticks {
		g := idx[ticks[i].Symbol]
		if g == nil {
			g = &group{}
			idx[ticks[i].Symbol] = g
			order = append(order, g)
		}
		g.count++
	}
	off := 0
	for _, g := range order {
		g.off = off
		off += g.count
	}
	for i := range ticks {
		g := idx[ticks[i].Symbol]
		out[g.off] = ticks[i]
		g.off++
	}
	return out
}
