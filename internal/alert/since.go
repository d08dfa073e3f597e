package alert

import (
	"time"

	"github.com/findash/findash/internal/market"
)

// history is what Run keeps across its passes (a rewind starts a new pass
// from the stored position). Confined to the Run goroutine.
type history struct {
	// pushed are the firings pushed to Sink.
	pushed *firingKeys
	// since is, per alert loaded, the first log message this Run evaluated
	// it on (0: every message of the first pass); one entry per alert
	// loaded, deleted alerts dropped at each load.
	since map[int64]placed
	// reached is the last message a pass evaluated.
	reached uint64
}

func newHistory() *history {
	return &history{pushed: newFiringKeys(pushedKept), since: make(map[int64]placed)}
}

// place records, for the alerts just loaded, the first message each is
// evaluated on (r.since, parallel to r.alerts), and the next message at
// which one starts (r.due, 0: none). at is the message being handled (0 at
// the pass start). An alert this Run evaluated before keeps its first
// message: a pass after a rewind evaluates it on the messages the lost pass
// did, no earlier. Another starts at at, and never at or before the log's
// newest message when it was created (Alert.CreatedSeq): those messages
// were in the log before the alert existed, after a restart or a rewind as
// much as while running (decision 0065). An alert whose CreatedSeq is
// unknown (0, created before migration 00010), while a pass after a rewind
// goes over messages an earlier pass evaluated without it, starts at the
// first message after them: created after the stored position (on the
// promoted standby, or on the old primary after its last replicated
// commit), it must not see ticks the log held before it was loaded. An
// entry whose creation differs from the loaded alert's is another alert
// under a reused ID (one lost in a failover, its ID given again by the
// promoted standby), or the same alert edited since (an edit increments
// its Revision and moves CreatedSeq to the log's head at the edit,
// decisions 0079 and 0081; the head may be where it was): either way the
// loaded alert starts as a new one, after its CreatedSeq and with the
// catch-up, not at the first message of the alert this Run knew. A pause
// or resume moves nothing.
func (r *run) place(at uint64) {
	since := make(map[int64]placed, len(r.alerts))
	r.since = r.since[:0]
	for i := range r.alerts {
		a := &r.alerts[i]
		p, ok := r.h.since[a.ID]
		s := p.at
		if !ok || !p.created.Equal(a.CreatedAt) || p.createdSeq != a.CreatedSeq || p.revision != a.Revision {
			s = at
			switch {
			case a.CreatedSeq > 0:
				s = max(at, a.CreatedSeq+1)
			case r.replayTo > 0:
				s = max(at, r.replayTo+1)
			}
		}
		since[a.ID] = placed{at: s, created: a.CreatedAt, createdSeq: a.CreatedSeq, revision: a.Revision}
		r.since = append(r.since, s)
	}
	r.h.since = since
	r.due = r.nextDue()
}

// placed is an alert's first evaluated message, with the creation (time
// and log position) that tells this alert from another given the same ID
// after a failover, and the revision (with the position) that tells it
// from its own definition before an edit.
type placed struct {
	at         uint64
	created    time.Time
	createdSeq uint64
	revision   int64
}

// nextDue is the first message after r.done at which an alert starts, 0
// when none does.
func (r *run) nextDue() uint64 {
	var next uint64
	for _, s := range r.since {
		if s > r.done && (next == 0 || s < next) {
			next = s
		}
	}
	return next
}

// begin catches up, before message seq is evaluated, each alert that
// starts at or before it (and after r.done): with the recent ticks of its
// symbol after its creation (catchUp), as a newly loaded alert is.
func (r *run) begin(seq uint64, now time.Time) {
	for j, s := range r.since {
		if s > r.done && s <= seq {
			r.catchUp(&r.alerts[j], now)
		}
	}
	r.done = seq
	r.due = r.nextDue()
}

// catchUp evaluates alert a, unless paused, against the recent ticks of its
// symbol that came after its creation, oldest first: they arrived between
// its creation and its loading. After its creation is, when its CreatedSeq
// is known, in a message after it — the order of the log decides, as for
// every other message (decision 0065) — and otherwise stamped at or after
// its CreatedAt. A change_pct alert takes each tick's change against the
// symbol's current 24 h open (the window moves little in the seconds a
// reload takes).
func (r *run) catchUp(a *Alert, now time.Time) {
	if a.Paused {
		return
	}
	var open float64
	if a.Condition.pct() {
		st := r.stats[a.Symbol]
		if st == nil || !st.Quote(a.Symbol, &r.quote) || r.quote.Open24h <= 0 {
			return
		}
		open = r.quote.Open24h
	}
	created := a.CreatedAt.UnixMilli()
	r.recent.each(func(t *market.Tick, msg uint64) {
		if t.Symbol != a.Symbol {
			return
		}
		if (a.CreatedSeq > 0 && msg <= a.CreatedSeq) || (a.CreatedSeq == 0 && t.TS < created) {
			return
		}
		v := t.Price
		if open > 0 {
			v = market.RoundDerived((t.Price - open) / open * 100)
		}
		r.step(a, v, t.Price, t, now)
	})
}
