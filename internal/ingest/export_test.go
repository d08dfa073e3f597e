package ingest

import "github.com/findash/findash/internal/market"

// StepForTest moves simulated symbol i to ts (ms) and returns its tick.
func (s *Simulator) StepForTest(i int, ts int64) market.Tick { return s.next(i, ts) }
