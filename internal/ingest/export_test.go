package ingest

import "github.com/findash/findash/internal/market"

// StepForTest moves simulated symbol i to ts (ms) and returns its tick.
func (s *Simulator) StepForTest(i int, ts int64) market.Tick { return s.next(i, ts) }

// SharedForTest returns how many publishes have joined the shared append
// waiting for a slot (0: none is open).
func (p *Publisher) SharedForTest() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open == nil {
		return 0
	}
	return p.open.posts
}
