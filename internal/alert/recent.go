package alert

import "github.com/findash/findash/internal/market"

// recentTicks is a ring of the latest ticks evaluated (symbol, seq, time
// and price only), so an alert loaded a moment after its creation can be
// evaluated against the ticks it missed. Confined to the Run goroutine.
type recentTicks struct {
	buf  []market.Tick
	next int  // where the next tick goes
	full bool // buf has wrapped
}

func newRecentTicks(n int) recentTicks {
	if n <= 0 {
		return recentTicks{}
	}
	return recentTicks{buf: make([]market.Tick, n)}
}

func (r *recentTicks) add(t *market.Tick) {
	if len(r.buf) == 0 {
		return
	}
	r.buf[r.next] = market.Tick{Symbol: t.Symbol, Seq: t.Seq, TS: t.TS, Price: t.Price}
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
}

// each calls fn with every kept tick, oldest first.
func (r *recentTicks) each(fn func(*market.Tick)) {
	if r.full {
		for i := r.next; i < len(r.buf); i++ {
			fn(&r.buf[i])
		}
	}
	for i := 0; i < r.next; i++ {
		fn(&r.buf[i])
	}
}
