package alert

import (
	"testing"
	"time"

	"github.com/findash/findash/internal/market"
)

// TestDropIdleStats: the evaluator forgets a symbol's 24 h statistics once
// no tick has arrived for IdleAfter, checking at most once a minute, and
// keeps those of active symbols.
func TestDropIdleStats(t *testing.T) {
	t0 := time.Unix(1_764_201_600, 0)
	r := &run{e: &Evaluator{cfg: Config{IdleAfter: time.Hour}}, stats: map[string]*symbolStats{}}
	for _, sym := range []string{"OLD", "NEW"} {
		st := r.statsOf(sym)
		st.Add(&market.Tick{Symbol: sym, TS: t0.UnixMilli(), Price: 1, Size: 1, Seq: 1})
		st.arrived = t0.UnixNano()
	}
	r.statsOf("NEW").arrived = t0.Add(30 * time.Minute).UnixNano()

	r.dropIdle(t0.Add(59*time.Minute + 50*time.Second))
	if len(r.stats) != 2 {
		t.Fatalf("before IdleAfter %d symbols' statistics, want 2", len(r.stats))
	}
	r.dropIdle(t0.Add(60*time.Minute + 20*time.Second)) // OLD idle, but within a minute of the last sweep
	if len(r.stats) != 2 {
		t.Fatalf("a sweep ran within a minute of the last one")
	}
	r.dropIdle(t0.Add(61 * time.Minute))
	if _, ok := r.stats["OLD"]; ok || len(r.stats) != 1 {
		t.Fatalf("after 61 min: %v, want only NEW", r.stats)
	}
}
