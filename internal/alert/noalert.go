package alert

import (
	"context"
	"errors"
	"time"

	"github.com/findash/findash/internal/market"
)

// errNoAlert ends a pass's log consumer: a reload found no alert.
var errNoAlert = errors.New("no alert left")

// errAlertCreated ends an idle pass: an alert exists, and a new pass reads
// the log from the stored position.
var errAlertCreated = errors.New("an alert was created")

// idle is the rest of a pass once the evaluator holds no alert (decision
// 0078): it reads no log message, which would only warm statistics no
// alert uses, and waits for the alert version to change (checked every
// RefreshInterval). Every FlushInterval it moves the stored position to
// the log's newest message (advance), so the first alert after a long
// idle stretch does not replay it. It returns errAlertCreated when an
// alert exists; then Run starts a pass the usual way: from the stored
// position, with the 24 h statistics restored from the candles, each
// alert evaluated on the messages after its CreatedSeq. Else it returns
// ctx's error, or the market.ErrBehind of an advance.
func (r *run) idle(ctx context.Context) error {
	e := r.e
	e.idle.Set(1)
	defer e.idle.Set(0)
	e.l.Info("no alert: the log is not read until one is created", "position", r.committed)
	tick, stop := e.cfg.Ticker(e.cfg.RefreshInterval)
	defer stop()
	var advanced time.Time // zero: advance at once
	for {
		if now := e.cfg.Now(); now.Sub(advanced) >= e.cfg.FlushInterval {
			advanced = now
			if err := r.advance(ctx); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick:
		}
		v, err := e.store.AlertsVersion(ctx)
		if err != nil {
			e.l.Warn("cannot read the alert version", "err", err)
			continue
		}
		if v == r.version {
			continue
		}
		// The version changed: an alert created, or created and deleted.
		if err := r.reload(ctx, 0); err != nil {
			return ctx.Err()
		}
		if len(r.alerts) > 0 {
			return errAlertCreated
		}
	}
}

// advance moves the stored position to the log's newest message if no
// alert exists, checked in the store's transaction (AdvanceIdle); it
// returns errAlertCreated if one does. A failure to read the head or to
// write is logged and left for the next advance: nothing depends on it
// but how far a later pass replays.
func (r *run) advance(ctx context.Context) error {
	e := r.e
	head, err := e.log.LastSeq(ctx)
	if err != nil {
		e.l.Warn("cannot read the log's newest message; the alert position stays", "err", err)
		return ctx.Err()
	}
	if head <= r.committed {
		return nil
	}
	alerts, err := e.store.AdvanceIdle(ctx, e.part, r.committed, head)
	switch {
	case errors.Is(err, market.ErrBehind):
		return err
	case err != nil:
		e.l.Warn("cannot advance the alert position", "err", err)
		return ctx.Err()
	case alerts:
		return errAlertCreated
	}
	// Stored, or the store already held a later position: either way
	// the stored one is not below head, as a later commit's check needs.
	r.committed, r.held = head, head
	e.position.Set(float64(head))
	return nil
}
