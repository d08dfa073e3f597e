package alert

import "github.com/findash/findash/internal/market"

// recentTicks is a ring of the latest ticks evaluated (symbol, seq, time
// and price only, with the stream sequence of their message), so an alert
// loaded a moment after its creation can be evaluated against the ticks it
// missed. Confined to the Run goroutine.
type recentTicks struct {
	buf  []market.Tick
	msg  []uint64 // msg[i] is the stream sequence of buf[i]'s message
	next int      // where the next tick goes
	full bool     // buf has wrapped
}

func newRecentTicks(n int) recentTicks {
	if n <= 0 {
		return recentTicks{}
	}
	return recentTicks{buf: make([]market.Tick, n), msg: make([]uint64, n)}
}

// add keeps t, of the message of stream sequence msg.
func (r *recentTicks) add(t *market.Tick, msg uint64) {
	if len(r.buf) == 0 {
		return
	}
	r.buf[r.next] = market.Tick{Symbol: t.Symbol, Seq: t.Seq, TS: t.TS, Price: t.Price}
	r.msg[r.next] = msg
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
}

// each calls fn with every kept tick and its message, oldest first.
func (r *recentTicks) each(fn func(t *market.Tick, msg uint64)) {
	if r.full {
		for i := r.next; i < len(r.buf); i++ {
			fn(&r.buf[i], r.msg[i])
		}
	}
	for i := 0; i < r.next; i++ {
		fn(&r.buf[i], r.msg[i])
	}
}
