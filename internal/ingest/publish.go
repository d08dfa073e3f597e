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
// not accepted (when the append was made, some may still be in the log: a
// retry can duplicate them; when it gave up waiting for a slot, none was sent
// and none will be).
//
// With a slot free and no shared append waiting, the ticks are appended at
// once. Otherwise they join the shared append waiting for the next slot
// (opening it if there is none): when a slot frees up, its goroutine appends
// the ticks of every publisher still waiting, grouped by symbol (a symbol's
// ticks in the order they joined), and every one of them gets the outcome. A
// publisher whose ctx ends before then withdraws its ticks and gets
// ErrUnavailable; one whose ctx ends while the append is under way waits for
// its outcome (a cancelled ctx does not cut it short). The append ends by
// the latest deadline of the publishers in it, so that one publisher's
// short deadline does not fail an append whose ticks the log may already
// hold for the others (their retries would store them twice); a publisher
// whose own deadline passed meanwhile waits for that outcome. Concurrent
// publishes have no order between them, so sharing changes no guarantee;
// one that started after another returned is appended after it.
func (p *Publisher) Publish(ctx context.Context, ticks []market.Tick) error {
	if len(ticks) == 0 {
		return nil
	}
	start := time.Now()
	// A caller's own deadline within Config.Timeout (the API's ingest
	// timeout, on every POST) bounds the publish already: no second timer.
	if d, ok := ctx.Deadline(); !ok || d.Sub(start) > p.cfg.Timeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.cfg.Timeout)
		defer cancel()
	}
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
		b, lead = &batch{gone: make(chan struct{}), done: make(chan struct{})}, true
		p.open = b
	}
	deadline, _ := ctx.Deadline() // set: ctx has Config.Timeout at most
	me := len(b.spans)
	b.spans = append(b.spans, span{off: len(b.ticks), end: len(b.ticks) + len(ticks), deadline: deadline})
	b.ticks = append(b.ticks, ticks...)
	b.posts++
	b.live++
	p.mu.Unlock()
	if lead {
		go p.lead(ctx, b)
	}
	select {
	case <-b.done:
		return p.outcome(b.err, len(ticks), start)
	case <-ctx.Done():
	}
	p.mu.Lock()
	if !b.taken {
		// Not yet appended: withdraw the ticks, so that a 503 means they
		// are not in the log and never will be (a retry cannot duplicate
		// them, later ticks cannot land before them).
		b.drop(p, me)
		p.mu.Unlock()
		return p.outcome(fmt.Errorf("waiting for a shared append: %w: %w", market.ErrUnavailable, ctx.Err()), len(ticks), start)
	}
	p.mu.Unlock()
	// The append holding the ticks is under way (or done): its outcome is
	// theirs. It ends by the latest deadline of its publishers.
	<-b.done
	return p.outcome(b.err, len(ticks), start)
}

// batch is an append shared by several publishes.
type batch struct {
	ticks []market.Tick // every publish's, in the order they joined
	spans []span        // each publish's ticks in ticks, in join order
	posts int           // publishes that joined
	// Under Publisher.mu: live counts the publishers whose ticks are still
	// to be appended; taken is set once the batch is closed to newcomers
	// and to withdrawals (its lead took a slot, or every publisher left).
	live  int
	taken bool
	gone  chan struct{} // closed when the last publisher withdrew before taken
	done  chan struct{} // closed once err is set (always after taken)
	err   error
}

// span is one publish's ticks in batch.ticks, [off, end).
type span struct {
	off, end int
	deadline time.Time // the publish's own
	dropped  bool      // withdrawn: its ctx ended before the append
}

// drop withdraws publisher i's ticks from b, which is not taken. The last
// one out closes b, so that nobody joins an append nobody waits for.
// p.mu must be held.
func (b *batch) drop(p *Publisher, i int) {
	b.spans[i].dropped = true
	b.live--
	if b.live == 0 {
		b.taken = true
		if p.open == b {
			p.open = nil
		}
		close(b.gone)
	}
}

// take closes b to newcomers and withdrawals and returns the ticks to append
// (the withdrawn ones left out) and the latest deadline of the publishers
// still in it. p.mu must be held and b not taken.
func (b *batch) take(p *Publisher) (ticks []market.Tick, deadline time.Time) {
	b.taken = true
	if p.open == b {
		p.open = nil
	}
	ticks = b.ticks
	if b.live < len(b.spans) {
		ticks = make([]market.Tick, 0, len(b.ticks))
	}
	for _, s := range b.spans {
		if s.dropped {
			continue
		}
		if b.live < len(b.spans) {
			ticks = append(ticks, b.ticks[s.off:s.end]...)
		}
		if s.deadline.After(deadline) {
			deadline = s.deadline
		}
	}
	return ticks, deadline
}

// lead waits for a slot and appends b for its publishers still waiting. It
// runs on a goroutine of its own, started by the publish that opened b, so
// that no publisher waits longer than its own ctx: it stops waiting when
// every publisher has withdrawn (each does when its ctx ends), and the append
// is bounded by the latest deadline of those left; when that has passed
// already, nothing is sent (they all get ErrUnavailable with no tick in the
// log). ctx gives the append its values only.
func (p *Publisher) lead(ctx context.Context, b *batch) {
	defer close(b.done)
	select {
	case p.slots <- struct{}{}:
	case <-b.gone:
		b.err = fmt.Errorf("every publisher of the shared append gave up: %w", market.ErrUnavailable)
		return
	}
	defer func() { <-p.slots }()
	p.mu.Lock()
	if b.taken { // every publisher withdrew as the slot freed up
		p.mu.Unlock()
		b.err = fmt.Errorf("every publisher of the shared append gave up: %w", market.ErrUnavailable)
		return
	}
	ticks, deadline := b.take(p)
	live := b.live
	p.mu.Unlock()
	if !time.Now().Before(deadline) {
		b.err = fmt.Errorf("every publisher of the shared append is past its deadline: %w", market.ErrUnavailable)
		return
	}
	actx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	b.err = p.append(actx, groupBySymbol(ticks), live)
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
