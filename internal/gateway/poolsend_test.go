package gateway

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/findash/findash/internal/uring"
)

// ringWorks reports whether this kernel lets a process set up io_uring.
func ringWorks(t *testing.T) bool {
	r, err := uring.New(ringEntries)
	if err != nil {
		t.Logf("no io_uring here (%v): the writer pool writes with write(2), as with IOURingOff", err)
		return false
	}
	r.Close()
	return true
}

// Every client of a fan-out gets every tick, in order, whether the writer
// pool sends many connections' frames with one io_uring_enter or writes
// each with write(2); some clients gone mid-stream take nothing from the
// others.
func TestPoolBatchedSends(t *testing.T) {
	for _, off := range []bool{false, true} {
		t.Run(fmt.Sprintf("IOURingOff=%v", off), func(t *testing.T) {
			const clients, ticks, gone = 40, 300, 5
			e := newEnv(t, Config{IOURingOff: off, Writers: 2, WriteCoalesce: -1})
			cls := make([]*client, clients)
			for i := range cls {
				cls[i] = e.dial("", nil)
				cls[i].send(`{"op":"subscribe","id":1,"channels":["ticks:BAT"]}`)
				if m := cls[i].next(); m.Type != "ack" {
					t.Fatalf("client %d: %s, want the ack", i, m.raw)
				}
			}
			for i := range gone { // closed before the ticks: their writes fail
				cls[i].c.Close()
			}
			for s := uint64(1); s <= ticks; s++ {
				e.feed("BAT", s, s, 1)
			}
			for i := gone; i < clients; i++ {
				want := uint64(1)
				for want <= ticks {
					m := cls[i].next()
					switch m.Type {
					case "tick":
						if m.Seq != want {
							t.Fatalf("client %d: tick %d, want %d", i, m.Seq, want)
						}
						want++
					case "snapshot":
					default:
						t.Fatalf("client %d: %s", i, m.raw)
					}
				}
			}
			batches := testutil.ToFloat64(e.hub.met.sendBatches)
			writers := testutil.ToFloat64(e.hub.met.uringWriters)
			switch {
			case off && (batches != 0 || writers != 0):
				t.Fatalf("IOURingOff: %v io_uring batches, %v ring writers", batches, writers)
			case !off && ringWorks(t) && (batches == 0 || writers == 0):
				t.Fatalf("io_uring available: %v batches, %v ring writers", batches, writers)
			}
			t.Logf("%v frames in %v io_uring batches", testutil.ToFloat64(e.hub.met.frames), batches)
		})
	}
}
