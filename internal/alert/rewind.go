package alert

import (
	"context"
	"errors"
	"time"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/retry"
)

// Run evaluates the log from the stored position on until ctx ends, then
// returns nil. It returns an error only when the log consumer fails for a
// reason other than ctx. When a commit finds the stored position below the
// one this evaluator committed (market.ErrBehind: the database lost
// commits), Run starts again from the stored position with the stored
// armed states, as a restart would, so the lost firings are recorded again
// (with the same alert and seq); a firing it had already pushed to Sink is
// not pushed again (the last pushedKept of them are remembered).
//
// Between passes Run waits as retry.Database says (from about 100 ms,
// jittered, up to 5 s while passes commit nothing): each pass reloads every
// persisted candle and alert, and after a failover every partition's
// evaluator rewinds at once, on the freshly promoted primary; a store whose
// reads and commits disagreed would otherwise spin.
func (e *Evaluator) Run(ctx context.Context) error {
	h := newHistory()
	b := retry.Database().BackOff()
	for {
		progressed, err := e.run(ctx, h)
		if !errors.Is(err, market.ErrBehind) {
			return err
		}
		e.rewound(err, "evaluating the log again from the stored position")
		if progressed {
			b.Reset()
		}
		if !e.wait(ctx, b.NextBackOff()) {
			return nil
		}
	}
}

// wait waits d on Config.Ticker; false if ctx ended first.
func (e *Evaluator) wait(ctx context.Context, d time.Duration) bool {
	c, stop := e.cfg.Ticker(d)
	defer stop()
	select {
	case <-c:
		return true
	case <-ctx.Done():
		return false
	}
}

// rewound counts and logs a commit refused with market.ErrBehind; then says
// what happens next.
func (e *Evaluator) rewound(err error, then string) {
	e.rewinds.Inc()
	e.l.Warn("the database's alert position is below what this evaluator committed: it lost commits (a failover to a standby that had not received them, or a restore); "+then, "err", err)
}

// pushedKept is how many firings an Evaluator remembers having pushed to
// its Sink (16 bytes each, 64 KiB in all, plus the set's overhead): more
// than an asynchronous standby lags behind in firings, so a rewind after
// a failover does not push them again.
const pushedKept = 4096

// firingKey is a firing's unique key: its alert and the seq of the
// crossing tick.
type firingKey struct {
	alertID int64
	seq     uint64
}

// firingKeys is a bounded set of firing keys; when full, the oldest is
// forgotten. Confined to the Run goroutine.
type firingKeys struct {
	set  map[firingKey]struct{}
	ring []firingKey
	next int // where the next key goes once ring is full
}

func newFiringKeys(n int) *firingKeys {
	return &firingKeys{set: make(map[firingKey]struct{}, n), ring: make([]firingKey, 0, n)}
}

// add records the firing and reports whether it was new.
func (f *firingKeys) add(alertID int64, seq uint64) bool {
	k := firingKey{alertID, seq}
	if _, ok := f.set[k]; ok {
		return false
	}
	if len(f.ring) < cap(f.ring) {
		f.ring = append(f.ring, k)
	} else {
		delete(f.set, f.ring[f.next])
		f.ring[f.next] = k
		f.next = (f.next + 1) % len(f.ring)
	}
	f.set[k] = struct{}{}
	return true
}
