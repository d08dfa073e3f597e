package gateway

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestDrainResumeOnAnotherHub is stage 3's failover in one process: two
// hubs fed the same log (B behind A, as another instance may be); a client
// of one hub is drained while ticks keep flowing, resumes on the other with
// since, and must end up with every seq exactly once, in order.
//
// The pacing is by events, not time. The log runs at most window batches
// ahead of what the client has, so it is still publishing while the client
// is drained and resumes. B is fed a batch once A is lag batches further:
// 0–2 batches, except that a client resuming on B (even runs) finds it
// farBehind batches behind A, more than the window, so B is behind the
// client and must not send again what the client has already seen; once
// the client has resumed, B catches up.
func TestDrainResumeOnAnotherHub(t *testing.T) {
	for run := range 6 {
		t.Run(fmt.Sprint(run), func(t *testing.T) {
			a, b := newEnv(t, Config{}), newEnv(t, Config{})
			// The client starts on A and resumes on B behind it (even runs),
			// or starts on the lagging B and resumes on A (odd runs).
			from, to := a, b
			if run%2 == 1 {
				from, to = b, a
			}
			const sym, batch, batches = "DRN", 20, 400
			const window, farBehind = 25, 50
			seen := newProgress() // ticks the client has, on either hub
			fedA := newProgress() // batches fed to A; batches+farBehind once the log has ended
			resumed := make(chan struct{})
			var wg sync.WaitGroup
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			wg.Go(func() { // B follows the same log, lagging
				far, resume := to == b, resumed
				for k := range batches {
					for {
						lag := k % 3
						if far {
							lag = farBehind
						}
						if fedA.load() >= int64(k+1+lag) {
							break
						}
						select {
						case <-fedA.raised:
						case <-resume:
							far, resume = false, nil // B catches up
						case <-ctx.Done():
							return
						}
					}
					from := uint64(k*batch + 1)
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
			wg.Go(func() { // the log, fed to A
				defer fedA.set(batches + farBehind) // B takes the rest
				for i := range batches {
					if !seen.waitFor(ctx, int64((i-window)*batch)) {
						return
					}
					from := uint64(i*batch + 1)
					a.feed(sym, from, from+batch-1, batch)
					fedA.set(int64(i + 1))
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
					seen.set(int64(len(seqs)))
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
			if m := c2.next(); m.Type != "ack" {
				t.Fatalf("resume: %s", m.raw)
			}
			close(resumed)
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
					seen.set(int64(len(seqs)))
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
