package persist

import (
	"context"
	"errors"
	"fmt"
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

// resume reports whether err means "read again from the stored position".
func resume(err error) bool {
	var rw *rewound
	return errors.Is(err, errResync) || errors.As(err, &rw)
}

// writer holds the batch being accumulated; only Run's goroutine uses it.
type writer struct {
	p      *Persister
	ticks  []market.Tick
	rollup *market.Rollup
	first  uint64 // stream sequence of the first message held
	seq    uint64 // stream sequence of the last message held
	pos    uint64 // stream sequence of the last message written
}

func (w *writer) add(m message) {
	if w.seq <= w.pos { // nothing held yet
		w.first = m.seq
	}
	w.ticks = append(w.ticks, m.ticks...)
	for i := range m.ticks {
		w.rollup.Add(&m.ticks[i])
	}
	w.seq = m.seq
}

// flush writes the held batch, retrying (retry.Database) until it succeeds
// or ctx ends (then it returns ctx's error and keeps the batch). When the
// store reports a conflict (its position lies inside the batch: another
// persister wrote part of it), flush returns errResync at once; when it
// reports its position below w.pos (market.ErrBehind: the database lost
// what this persister wrote), flush returns a *rewound at once.
func (w *writer) flush(ctx context.Context) error {
	if w.seq <= w.pos {
		return nil
	}
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		err := w.p.store.WriteBatch(ctx, w.p.part, w.ticks, w.rollup.Candles(), w.pos, w.first, w.seq)
		if errors.Is(err, market.ErrBehind) {
			return struct{}{}, backoff.Permanent(&rewound{written: w.pos, err: err})
		}
		if errors.Is(err, market.ErrConflict) {
			return struct{}{}, backoff.Permanent(errResync)
		}
		if err != nil {
			w.p.failures.Inc()
		}
		return struct{}{}, err
	}, retry.Database().Options(func(err error, wait time.Duration) {
		w.p.l.Warn("writing a batch failed; retrying", "ticks", len(w.ticks), "log_seq", w.seq, "err", err, "retry_in", wait)
	})...)
	if err != nil {
		return err
	}
	w.p.ticks.Add(float64(len(w.ticks)))
	w.p.batches.Inc()
	w.p.setPosition(w.seq)
	w.pos = w.seq
	w.ticks = w.ticks[:0]
	if cap(w.ticks) > 4*w.p.cfg.MaxBatch { // do not keep a burst's memory
		w.ticks = nil
	}
	w.rollup.Reset()
	return nil
}

// final writes what is held with a fresh, bounded context after ctx ended.
func (w *writer) final(ctx context.Context) error {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.p.cfg.FlushTimeout)
	defer cancel()
	err := w.flush(fctx)
	var rw *rewound
	if errors.As(err, &rw) {
		w.p.rewound(rw, "the next start writes the log again from the stored position")
		return nil
	}
	if errors.Is(err, errResync) {
		return nil // what this one held is another persister's, or the next Run's, to write
	} else if err != nil {
		return fmt.Errorf("persister: final write of %d ticks up to log seq %d: %w", len(w.ticks), w.seq, err)
	}
	w.p.l.Info("persister stopped", "position", w.pos)
	return nil
}
