package gateway

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestDrainResumeOnAnotherHub is stage 3's failover in one process: two
// hubs fed the same log (B a little behind A, as another instance may be);
// a client of A is drained while ticks keep flowing, resumes on B with since,
// and must end up with every seq exactly once, in order.
func TestDrainResumeOnAnotherHub(t *testing.T) {
	for run := range 6 {
		t.Run(fmt.Sprint(run), func(t *testing.T) {
			a, b := newEnv(t, Config{}), newEnv(t, Config{})
			// a is fed first and b lags; the client starts on a (even runs)
			// or on the lagging b and resumes on a (odd runs).
			from, to := a, b
			if run%2 == 1 {
				from, to = b, a
			}
			const sym, batch, batches = "DRN", 20, 400
			toB := make(chan uint64, batches)
			var wg sync.WaitGroup
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			wg.Go(func() { // B follows the same log, lagging
				for from := range toB {
					time.Sleep(time.Duration(from%3) * 2 * time.Millisecond)
					b.feed(sym, from, from+batch-1, batch)
				}
			})
			cl := from.dial("", nil)
			cl.send(`{"op":"subscribe","id":1,"channels":["ticks:DRN"]}`)
			if m := cl.next(); m.Type != "ack" {
				t.Fatalf("subscribe: %s", m.raw)
			}
			// Live ticks follow the snapshot (the ack may be written before
			// the subscription is registered): only then does the log start.
			if m := cl.next(); m.Type != "snapshot" {
				t.Fatalf("subscribe: %s, want the snapshot", m.raw)
			}
			wg.Go(func() { // the log: every batch to A, then to B
				defer close(toB)
				for i := range batches {
					if ctx.Err() != nil {
						return
					}
					from := uint64(i*batch + 1)
					a.feed(sym, from, from+batch-1, batch)
					toB <- from
					time.Sleep(200 * time.Microsecond)
				}
			})
			var seqs []uint64
			drained := false
			for !drained {
				m, err := cl.tryNext(5 * time.Second)
				if err != nil {
					drained = true // closed 1001 after reconnect
					break
				}
				switch m.Type {
				case "tick":
					seqs = append(seqs, m.Seq)
					if len(seqs) == 1000 {
						go from.hub.Drain(context.Background())
					}
				case "gap":
					t.Fatalf("gap on the first hub: %s", m.raw)
				}
			}
			last := seqs[len(seqs)-1]
			c2 := to.dial("", nil)
			c2.send(fmt.Sprintf(`{"op":"subscribe","id":2,"channels":["ticks:DRN"],"since":{"ticks:DRN":%d}}`, last))
			const final = batch * batches
			for seqs[len(seqs)-1] < final {
				m, err := c2.tryNext(5 * time.Second)
				if err != nil {
					t.Fatalf("on the second hub after %d ticks (last %d): %v", len(seqs), seqs[len(seqs)-1], err)
				}
				switch m.Type {
				case "tick":
					if m.Seq <= seqs[len(seqs)-1] {
						t.Fatalf("seq %d after %d on the second hub: not after since", m.Seq, seqs[len(seqs)-1])
					}
					seqs = append(seqs, m.Seq)
				case "gap":
					t.Fatalf("gap on the second hub: %s", m.raw)
				}
			}
			cancel()
			wg.Wait()
			for i, s := range seqs {
				if s != uint64(i+1) {
					t.Fatalf("tick %d has seq %d, want %d (resumed after %d)", i, s, i+1, last)
				}
			}
		})
	}
}
