package persist

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/retry"
)

// errResync means the store's position moved past the start of the held
// batch (another writer persisted it): the batch is dropped, and reading
// resumes from the stored position.
var errResync = errors.New("persisted position moved; resync")

// rewound means the store's position is below the last one this persister
// wrote or read (the database lost commits; err is the store's
// market.ErrBehind): the batch is dropped, and reading resumes from the
// stored position.
type rewound struct {
	written uint64
	err     error
}

func (r *rewound) Error() string {
	return fmt.Sprintf("persisted position went back from %d: %v", r.written, r.err)
}

func (r *rewound) Unwrap() error { return r.err }

// rewound counts and logs a rewind; then says what happens next.
func (p *Persister) rewound(rw *rewound, then string) {
	p.rewinds.Inc()
	p.l.Warn("the database's persisted position is below what this persister wrote: it lost commits (a failover to a standby that had not received them, or a restore); "+then,
		"written", rw.written, "err", rw.err)
}

// batch is one transaction: the kept ticks of log messages first..seq and
// their partial candles. seq is 0 while it holds no message (stream
// sequences start at 1).
type batch struct {
	ticks  []market.Tick
	rollup *market.Rollup
	first  uint64 // stream sequence of the first message held
	seq    uint64 // stream sequence of the last message held
	prev   uint64 // the position it follows, set when it is handed over
}

func (b *batch) add(m message) {
	if b.seq == 0 {
		b.first = m.seq
	}
	b.ticks = append(b.ticks, m.ticks...)
	for i := range m.ticks {
		b.rollup.Add(&m.ticks[i])
	}
	b.seq = m.seq
}

// reset empties b for reuse.
func (b *batch) reset(maxBatch int) {
	b.ticks = b.ticks[:0]
	if cap(b.ticks) > 4*maxBatch { // do not keep a burst's memory
		b.ticks = nil
	}
	b.rollup.Reset()
	b.first, b.seq, b.prev = 0, 0, 0
}

// writer pipelines batches (issue 14): while the committer goroutine
// writes one batch (flying), Run's goroutine fills the next (fill), so the
// rollup and the log's delivery overlap the store's transaction instead of
// waiting for it. At most one batch is in flight, and the next is handed
// over only after its outcome: batches commit in log order, each with the
// position its predecessor stored as prevSeq, and a failed one is never
// followed by a later one (that would leave a hole). Only Run's goroutine
// uses writer; the committer sees a batch only between send and landed.
type writer struct {
	p      *Persister
	fill   *batch // being filled
	flying *batch // with the committer; nil when none is
	spare  *batch // fill's successor while nothing is in flight
	pos    uint64 // stream sequence of the last message written

	jobs     chan<- *batch
	outcomes <-chan error
	// cancel ends the committer's context: its writes are not cut off
	// when Run's context ends, but FlushTimeout after it (final).
	cancel context.CancelFunc
	ctx    context.Context
}

// send hands fill to the committer; nothing may be in flight.
func (w *writer) send() {
	w.fill.prev = w.pos
	w.flying, w.fill, w.spare = w.fill, w.spare, nil
	w.jobs <- w.flying
}

// landed takes the committer's outcome for the batch in flight: on success
// the position moves to its end and it becomes the spare.
func (w *writer) landed(err error) error {
	b := w.flying
	w.flying = nil
	if err != nil {
		return err // the pass ends: neither batch is written by it
	}
	w.pos = b.seq
	b.reset(w.p.cfg.MaxBatch)
	w.spare = b
	return nil
}

// startCommitter starts the goroutine that writes the batches handed to
// it, one at a time, each retried until it succeeds or ctx's successor
// ends; the returned stop ends it, after the outcome of any batch handed
// over was taken.
func (p *Persister) startCommitter(ctx context.Context, pos uint64) (w *writer, stop func()) {
	jobs := make(chan *batch)
	outcomes := make(chan error, 1)
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range jobs {
			outcomes <- p.commit(cctx, b)
		}
	}()
	w = &writer{
		p: p, pos: pos, jobs: jobs, outcomes: outcomes, cancel: cancel, ctx: cctx,
		fill:  &batch{rollup: market.NewRollup()},
		spare: &batch{rollup: market.NewRollup()},
	}
	return w, func() {
		close(jobs)
		cancel()
		<-done
	}
}

// commit writes b, retrying (retry.Database) until it succeeds or ctx ends
// (then it returns ctx's error). When the store reports a conflict (its
// position lies inside the batch: another persister wrote part of it),
// commit returns errResync at once; when it reports its position below
// b.prev (market.ErrBehind: the database lost what this persister wrote),
// commit returns a *rewound at once.
func (p *Persister) commit(ctx context.Context, b *batch) error {
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		err := p.store.WriteBatch(ctx, p.part, b.ticks, b.rollup.Candles(), b.prev, b.first, b.seq)
		if errors.Is(err, market.ErrBehind) {
			return struct{}{}, backoff.Permanent(&rewound{written: b.prev, err: err})
		}
		if errors.Is(err, market.ErrConflict) {
			return struct{}{}, backoff.Permanent(errResync)
		}
		if err != nil {
			p.failures.Inc()
		}
		return struct{}{}, err
	}, retry.Database().Options(func(err error, wait time.Duration) {
		p.l.Warn("writing a batch failed; retrying", "ticks", len(b.ticks), "log_seq", b.seq, "err", err, "retry_in", wait)
	})...)
	if err != nil {
		return err
	}
	p.ticks.Add(float64(len(b.ticks)))
	p.batches.Inc()
	p.setPosition(b.seq)
	return nil
}

// final writes what is held after Run's context ended: the batch in
// flight, then the one being filled, in that order and within
// FlushTimeout for both.
func (w *writer) final() error {
	t := time.AfterFunc(w.p.cfg.FlushTimeout, w.cancel)
	defer t.Stop()
	b := w.flying
	err := func() error {
		if b != nil {
			if err := w.landed(<-w.outcomes); err != nil {
				return err
			}
		}
		if b = w.fill; b.seq == 0 {
			return nil
		}
		b.prev = w.pos
		if err := w.p.commit(w.ctx, b); err != nil {
			return err
		}
		w.pos = b.seq
		return nil
	}()
	var rw *rewound
	if errors.As(err, &rw) {
		w.p.rewound(rw, "the next start writes the log again from the stored position")
		return nil
	}
	if errors.Is(err, errResync) {
		return nil // what this one held is another persister's, or the next Run's, to write
	} else if err != nil {
		return fmt.Errorf("persister: final write of %d ticks up to log seq %d: %w", len(b.ticks), b.seq, err)
	}
	w.p.l.Info("persister stopped", "position", w.pos)
	return nil
}

// run is one pass of Run: from the stored position until ctx ends (then
// the final write) or the store says to read again from its position.
func (p *Persister) run(ctx context.Context, started *bool) error {
	pos, err := p.readPosition(ctx)
	if err != nil {
		return nil // ctx ended before the store answered
	}
	p.setPosition(pos)
	if !*started {
		p.l.Info("persister started", "from", pos+1)
		*started = true
	} else {
		p.l.Debug("persister resumed", "from", pos+1)
	}

	msgs := make(chan message, p.cfg.Buffer)
	cctx, stopConsume := context.WithCancel(ctx)
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		warned := 0
		err := p.log.Consume(cctx, pos+1, func(seq uint64, ticks []market.Tick) error {
			kept, late := p.checked(ticks, &warned)
			select {
			case msgs <- message{seq, kept, late}:
				return nil
			case <-cctx.Done():
				return cctx.Err()
			}
		})
		if cctx.Err() == nil {
			p.l.Error("log consumer stopped", "err", err)
		}
	}()
	defer func() {
		stopConsume()
		<-consumed
	}()

	w, stopCommitter := p.startCommitter(ctx, pos)
	defer stopCommitter()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	// armed: the timer runs for the batch being filled; lingering: its
	// FlushInterval passed with fewer than FlushMin ticks held, and it
	// waits until Linger after held (when its first tick came); late: it
	// holds a late tick, so it does not linger. Lateness is judged again
	// by the writer, so a backlog queued behind a stalled write does not
	// linger too: from oldest (ms), the batch's oldest tick, when the
	// FlushInterval timer fires, and from a message's own ticks when it
	// is taken while lingering. ready: it
	// is due but another batch is in flight; it goes as soon as that one
	// lands, and takes messages meanwhile up to MaxBatch.
	armed, lingering, late, first, ready := false, false, false, true, false
	var held time.Time
	oldest := int64(math.MaxInt64)
	for {
		in := msgs
		if w.flying != nil && len(w.fill.ticks) >= p.cfg.MaxBatch {
			in = nil // two batches at most; the log keeps the rest
		}
		due := false
		select {
		case m := <-in:
			if first && pos > 0 && m.seq > pos+1 {
				p.l.Warn("the log no longer holds messages that were never persisted", "from", pos+1, "to", m.seq-1)
			}
			first = false
			w.fill.add(m)
			if ready {
				continue
			}
			mOldest := int64(math.MaxInt64)
			for i := range m.ticks {
				mOldest = min(mOldest, m.ticks[i].TS)
			}
			oldest = min(oldest, mOldest)
			// While lingering, a message is judged when taken, from its
			// own oldest tick: on time then, it is written by Linger
			// after the batch's first, within StoredWithin of its
			// timestamp. Judging the batch's oldest instead ended every
			// linger of fresh traffic Late after its first tick (~0.5 s,
			// not Linger), writing twice the transactions 0071 measured.
			late = late || m.late || lingering && p.stale(mOldest)
			switch {
			case len(w.fill.ticks) >= p.cfg.MaxBatch, lingering && (late || len(w.fill.ticks) >= p.cfg.FlushMin):
				due = true
			case !armed:
				held = time.Now()
				timer.Reset(p.cfg.FlushInterval)
				armed = true
			}
		case <-timer.C:
			armed = false
			late = late || p.stale(oldest)
			if waited := time.Since(held); !late && len(w.fill.ticks) < p.cfg.FlushMin && waited < p.cfg.Linger {
				lingering, armed = true, true
				timer.Reset(p.cfg.Linger - waited)
				continue
			}
			if lingering {
				p.lingered.Inc()
			}
			due = true
		case err := <-w.outcomes:
			// Only errResync and *rewound end a pass: the committer's
			// context outlives ctx, so a write in flight is finished, not
			// cut off, when ctx ends (final waits for it).
			if err := w.landed(err); err != nil {
				return err
			}
			if ready {
				ready = false
				w.send()
			}
			continue
		case <-ctx.Done():
			return w.final()
		case <-consumed:
			// The consumer gave up (it only does when ctx ends).
			return w.final()
		}
		if !due {
			continue
		}
		timer.Stop() // Go 1.23 timers: no stale tick follows
		armed, lingering, late, oldest = false, false, false, math.MaxInt64
		if w.flying != nil {
			ready = true
			continue
		}
		w.send()
	}
}
