package gateway

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

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

// smallSendListener gives every accepted socket a small send buffer, so
// that a client that stops reading soon leaves the server's sends short
// or refused (EAGAIN).
type smallSendListener struct{ net.Listener }

func (l smallSendListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(8 << 10)
	}
	return c, err
}

// readTicks reads cl's messages until tick to, checking that ticks
// from..to arrive in order (acks, snapshots skipped).
func readTicks(t *testing.T, name string, cl *client, from, to uint64) {
	t.Helper()
	for want := from; want <= to; {
		m := cl.next()
		switch m.Type {
		case "tick":
			if m.Seq != want {
				t.Fatalf("%s: tick %d, want %d", name, m.Seq, want)
			}
			want++
		case "ack", "snapshot":
		default:
			t.Fatalf("%s: %s", name, m.raw)
		}
	}
}

// Every client of a fan-out gets every tick, in order, whether the writer
// pool sends many connections' frames with one io_uring_enter or writes
// each with write(2): clients that subscribe at connect (the held 101 goes
// out with the first frame), one that stops reading (its sends come back
// short or refused and its own writer finishes them), and clients closed
// mid-stream (their sends fail) take nothing from the others.
func TestPoolBatchedSends(t *testing.T) {
	for _, off := range []bool{false, true} {
		t.Run(fmt.Sprintf("IOURingOff=%v", off), func(t *testing.T) {
			const clients, atConnect, gone, ticks = 40, 10, 5, 3000
			e := newEnvOn(t, Config{IOURingOff: off, Writers: 2, WriteCoalesce: -1, SendQueueBytes: 4 << 20}, func(l net.Listener) net.Listener { return smallSendListener{l} })
			cls := make([]*client, clients)
			for i := range cls {
				if i < atConnect {
					c, _, err := e.dialer.Dial(e.url+"?subscribe=ticks:BAT", nil)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { c.Close() })
					cls[i] = &client{t: t, c: c}
					continue
				}
				cls[i] = e.dial("", nil)
				cls[i].send(`{"op":"subscribe","id":1,"channels":["ticks:BAT"]}`)
			}
			slow := e.dialSmallBuffer()
			slow.send(`{"op":"subscribe","id":1,"channels":["ticks:BAT"]}`)
			if m := slow.next(); m.Type != "ack" {
				t.Fatalf("slow client: %s, want the ack", m.raw)
			}
			for i := range cls { // every subscription is in before the first tick
				if m := cls[i].next(); m.Type != "ack" {
					t.Fatalf("client %d: %s, want the ack", i, m.raw)
				}
			}
			var readers sync.WaitGroup
			for i := gone; i < clients; i++ {
				readers.Go(func() { readTicks(t, fmt.Sprint("client ", i), cls[i], 1, ticks) })
			}
			for s := uint64(1); s <= ticks; s++ {
				e.feed("BAT", s, s, 1)
				if s == ticks/2 {
					for i := range gone {
						cls[i].c.Close()
					}
				}
			}
			readers.Wait()
			readTicks(t, "the slow client", slow, 1, ticks) // it reads only now
			batches := testutil.ToFloat64(e.hub.met.sendBatches)
			frames := testutil.ToFloat64(e.hub.met.frames)
			writers := testutil.ToFloat64(e.hub.met.uringWriters)
			switch {
			case off && (batches != 0 || writers != 0):
				t.Fatalf("IOURingOff: %v io_uring batches, %v ring writers", batches, writers)
			case !off && ringWorks(t) && (batches == 0 || writers == 0 || frames < 2*batches):
				t.Fatalf("io_uring available: %v frames in %v batches, %v ring writers", frames, batches, writers)
			}
			t.Logf("%v frames in %v io_uring batches", frames, batches)
		})
	}
}

// A writer whose ring fails goes back to write(2) without losing or
// repeating a tick: the sends the kernel never took are handed to the
// connections' own writers.
func TestPoolRingFailureFallsBack(t *testing.T) {
	if !ringWorks(t) {
		t.Skip("no io_uring here: nothing to fail")
	}
	const clients, ticks = 20, 200
	e := newEnv(t, Config{Writers: 1, WriteCoalesce: -1})
	cls := make([]*client, clients)
	for i := range cls {
		cls[i] = e.dial("", nil)
		cls[i].send(`{"op":"subscribe","id":1,"channels":["ticks:FAL"]}`)
		if m := cls[i].next(); m.Type != "ack" {
			t.Fatalf("client %d: %s, want the ack", i, m.raw)
		}
	}
	e.feed("FAL", 1, ticks, 1)
	for i, cl := range cls {
		readTicks(t, fmt.Sprint("client ", i), cl, 1, ticks)
	}
	// Every client has every tick; the writer goes idle once it finds its
	// queue empty (it may not have yet). Then its ring fails under it
	// (closed), as an io_uring_enter error would leave it.
	w := &e.hub.writers[0]
	waitUntil(t, "an idle writer with a ring", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.running || *w.ring == nil {
			return false
		}
		(*w.ring).Close()
		return true
	})
	e.feed("FAL", ticks+1, 2*ticks, 1)
	for i, cl := range cls {
		readTicks(t, fmt.Sprint("client ", i), cl, ticks+1, 2*ticks)
	}
	// The connections' own writers may deliver every tick before the pool
	// writer, past the failed batch, counts itself off io_uring.
	waitUntil(t, "no writer on io_uring after the failure", func() bool {
		return testutil.ToFloat64(e.hub.met.uringWriters) == 0
	})
	if len(w.orphans) != 0 {
		t.Fatalf("%d frames orphaned: the closed ring took none", len(w.orphans))
	}
}

// waitUntil polls cond until it holds, failing t after 5 s: for states a
// goroutine of the hub reaches after the clients saw their last message.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s, still not %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
