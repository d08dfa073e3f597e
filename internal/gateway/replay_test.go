package gateway

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestFirstAfter checks the binary search over the ring against a linear
// scan, for rings that wrap at every position.
func TestFirstAfter(t *testing.T) {
	const limit = 16
	for pushed := range 3 * limit {
		tp := newSymbolTopic("A", 0)
		for s := 1; s <= pushed; s++ {
			tp.push(uint64(10*s), 0, nil, limit) // seqs 10, 20, …: gaps between them
		}
		for after := uint64(0); after <= uint64(10*pushed+10); after++ {
			want := 0
			for want < tp.n && tp.entry(want).seq <= after {
				want++
			}
			if got := tp.firstAfter(after); got != want {
				t.Fatalf("%d pushed (start %d, n %d): firstAfter(%d) = %d, want %d", pushed, tp.start, tp.n, after, got, want)
			}
		}
	}
}

// TestReplayAgeFollowsClock checks that held ticks age by Config.Now: once
// the injected clock has moved past ReplayAge, a resume gets a gap where it
// would otherwise get the held ticks.
func TestReplayAgeFollowsClock(t *testing.T) {
	var ahead atomic.Int64 // how far the hub's clock runs ahead of the wall clock
	now := func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	e := newEnv(t, Config{ReplayAge: time.Minute, Now: now})
	e.feed("ADA-USD", 1, 10, 10)
	ahead.Store(int64(2 * time.Minute))
	c := e.dial("", nil)
	c.send(`{"op":"subscribe","id":1,"channels":["ticks:ADA-USD"],"since":{"ticks:ADA-USD":0}}`)
	c.next() // ack
	c.next() // snapshot
	if m := c.next(); m.raw != `{"type":"gap","channel":"ticks:ADA-USD","from":1,"to":10}` {
		t.Fatalf("got %s, want gap 1..10 (ticks older than ReplayAge by the injected clock)", m.raw)
	}
	e.feed("ADA-USD", 11, 11, 1)
	if m := c.next(); m.Type != "tick" || m.Seq != 11 {
		t.Fatalf("got %s, want tick 11", m.raw)
	}
}
