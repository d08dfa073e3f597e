package gateway

import (
	"testing"
	"testing/synctest"
	"time"
)

func (h *Hub) topics() int {
	n := 0
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		n += len(sh.syms)
		sh.mu.RUnlock()
	}
	return n
}

// TestIdleTopicDropped: a symbol nobody subscribes to and that has not
// ticked for ReplayAge leaves the index (its ring, names and lists go);
// resuming it afterwards still reports the ticks it no longer holds as a
// gap, and live ticks flow again.
func TestIdleTopicDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newBubbleEnv(t, Config{ReplayAge: time.Minute, PingInterval: 10 * time.Second})
		e.feed("ADA-USD", 1, 10, 10)
		e.feed("SOL-USD", 11, 12, 2)
		if n := e.hub.topics(); n != 2 {
			t.Fatalf("%d topics after feeding two symbols, want 2", n)
		}
		time.Sleep(90 * time.Second) // fake time: past ReplayAge and a prune sweep
		synctest.Wait()
		if n := e.hub.topics(); n != 0 {
			t.Fatalf("%d topics after 90 s idle, want 0", n)
		}
		c := e.dial("", nil)
		c.send(`{"op":"subscribe","id":1,"channels":["ticks:ADA-USD"],"since":{"ticks:ADA-USD":4}}`)
		c.next() // ack
		c.next() // snapshot
		if m := c.next(); m.Type != "gap" || m.From != 5 || m.To < 10 {
			t.Fatalf("got %s, want a gap from 5 to at least 10", m.raw)
		}
		e.feed("ADA-USD", 13, 13, 1)
		if m := c.next(); m.Type != "tick" || m.Seq != 13 {
			t.Fatalf("got %s, want tick 13", m.raw)
		}
	})
}
