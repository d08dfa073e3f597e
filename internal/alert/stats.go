package alert

// The evaluator's 24 h statistics per symbol, and the dropping of idle ones.

import (
	"time"

	"github.com/findash/findash/internal/market"
)

// symbolStats is a symbol's 24 h statistics and when its last tick
// arrived (Unix ns, wall clock), for dropping idle ones.
type symbolStats struct {
	market.Stats
	arrived int64
}

func (r *run) statsOf(sym string) *symbolStats {
	s := r.stats[sym]
	if s == nil {
		s = &symbolStats{}
		r.stats[sym] = s
	}
	return s
}

// dropIdle forgets the statistics of the symbols no tick has arrived for in
// Config.IdleAfter, at most once a minute: they would all be outside the
// window of the symbol's next tick dated a day later.
func (r *run) dropIdle(now time.Time) {
	if now.Sub(r.lastSweep) < time.Minute {
		return
	}
	r.lastSweep = now
	cutoff := now.Add(-r.e.cfg.IdleAfter).UnixNano()
	for sym, s := range r.stats {
		if s.arrived < cutoff {
			delete(r.stats, sym)
		}
	}
}
