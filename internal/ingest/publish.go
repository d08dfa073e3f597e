package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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
	// MaxInFlight is how many appends may wait for the log at once
	// (default 8). Publishes that find every slot taken share the next
	// append (group commit): one log message per symbol for all of them.
	MaxInFlight int
	// MaxBatchTicks bounds the ticks of one shared append (default 50,000);
	// a publish that would pass it opens the next shared append.
	MaxBatchTicks int
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
	posts    prometheus.Histogram // publishes per append

	mu   sync.Mutex
	open *batch // the shared append waiting for a slot; nil: none
}

// NewPublisher returns a Publisher appending to log. Its metrics are
// registered on reg when reg is not nil.
func NewPublisher(log Log, cfg Config, logger *slog.Logger, reg prometheus.Registerer) *Publisher {
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 8
	}
	if cfg.MaxBatchTicks <= 0 {
		cfg.MaxBatchTicks = 50_000
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
		posts: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "findash_ingest_append_publishes",
			Help:    "Publishes (POSTs of ticks) sharing one append to the event log: above 1 when every append slot was taken.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
	}
	if reg != nil {
		reg.MustRegister(p.ticks, p.failures, p.latency, p.posts)
	}
	return p
}

// Publish appends ticks (already validated) to the log, one message per
// symbol, keeping the order of each symbol's ticks, and returns after the log
// has acknowledged every one. It does not modify ticks. When the log is down
// or slow, or no slot frees up before ctx or Config.Timeout ends, it returns
// an error wrapping market.ErrUnavailable and the ticks must be treated as
// not accepted (some may still be in the log: a retry can duplicate them).
//
// With a slot free and no shared append waiting, the ticks are appended at
// once. Otherwise they join the shared append waiting for the next slot
// (opening it if there is none): its first publisher appends everyone's
// ticks, grouped by symbol (a symbol's ticks in the order they joined), and
// every publisher of it gets the outcome. Concurrent publishes have no order
// between them, so sharing changes no guarantee; one that started after
// another returned is appended after it.
func (p *Publisher) Publish(ctx context.Context, ticks []market.Tick) error {
	if len(ticks) == 0 {
		return nil
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	p.mu.Lock()
	if p.open == nil {
		select {
		case p.slots <- struct{}{}:
			p.mu.Unlock()
			err := p.append(ctx, groupBySymbol(ticks), 1)
			<-p.slots
			return p.outcome(err, len(ticks), start)
		default:
		}
	}
	b, lead := p.open, false
	if b == nil || len(b.ticks)+len(ticks) > p.cfg.MaxBatchTicks {
		b, lead = &batch{done: make(chan struct{})}, true
		p.open = b
	}
	b.ticks = append(b.ticks, ticks...)
	b.posts++
	b.waiting++
	p.mu.Unlock()
	if lead {
		go p.lead(ctx, b)
	}
	select {
	case <-b.done:
		return p.outcome(b.err, len(ticks), start)
	case <-ctx.Done():
		p.mu.Lock()
		b.waiting--
		p.mu.Unlock()
		return p.outcome(fmt.Errorf("waiting for a shared append: %w: %w", market.ErrUnavailable, ctx.Err()), len(ticks), start)
	}
}

// batch is an append shared by several publishes.
type batch struct {
	ticks []market.Tick // every publish's, in the order they joined
	posts int
	// waiting counts the publishers still waiting for the outcome (under
	// Publisher.mu): with none left the append is not made.
	waiting int
	done    chan struct{} // closed once err is set
	err     error
}

// lead waits for a slot and appends b for all its publishers. It runs on a
// goroutine of its own, started by the publish that opened b, so that no
// publisher waits longer than its own ctx; it is bounded by Config.Timeout
// (its publishers' ends do not stop it while one of them still waits).
func (p *Publisher) lead(ctx context.Context, b *batch) {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.Timeout)
	defer cancel()
	defer close(b.done)
	select {
	case p.slots <- struct{}{}:
	case <-bctx.Done():
		p.mu.Lock()
		if p.open == b {
			p.open = nil
		}
		p.mu.Unlock()
		b.err = fmt.Errorf("waiting for a slot: %w: %w", market.ErrUnavailable, bctx.Err())
		return
	}
	defer func() { <-p.slots }()
	p.mu.Lock()
	if p.open == b {
		p.open = nil // closed to newcomers
	}
	waiting := b.waiting
	p.mu.Unlock()
	if waiting == 0 {
		b.err = fmt.Errorf("every publisher of the shared append gave up: %w", market.ErrUnavailable)
		return
	}
	b.err = p.append(bctx, groupBySymbol(b.ticks), b.posts)
}

// append appends grouped ticks for posts publishes.
func (p *Publisher) append(ctx context.Context, grouped []market.Tick, posts int) error {
	p.posts.Observe(float64(posts))
	if err := p.log.Append(ctx, grouped); err != nil {
		if !errors.Is(err, market.ErrUnavailable) {
			err = fmt.Errorf("%w: %w", market.ErrUnavailable, err)
		}
		return err
	}
	return nil
}

// outcome counts one publish of n ticks that ended with err.
func (p *Publisher) outcome(err error, n int, start time.Time) error {
	if err != nil {
		p.failures.Inc()
		return fmt.Errorf("publish %d ticks: %w", n, err)
	}
	p.ticks.Add(float64(n))
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
