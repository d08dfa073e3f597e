package gateway

import (
	"testing"
	"time"
)

// TestStaleStatus: a connected client is told once when the data turns
// stale (with when the source was last heard from) and once when it is
// live again, and ticks still flow in between; a client connecting while
// stale is told first.
func TestStaleStatus(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.dial("", nil)
	c.send(`{"op":"subscribe","id":1,"channels":["ticks:STL"]}`)
	if m := c.next(); m.Type != "ack" {
		t.Fatalf("first message %s, want ack", m.raw)
	}
	if m := c.next(); m.Type != "snapshot" {
		t.Fatalf("second message %s, want snapshot", m.raw)
	}
	since := time.UnixMilli(baseTS)
	e.hub.SetStale(true, since)
	e.hub.SetStale(true, since.Add(time.Second)) // no change: nothing sent
	e.feed("STL", 1, 1, 1)
	want := `{"type":"status","state":"stale","reason":"region_link_down","since":1764244800000}`
	if m := c.next(); m.raw != want {
		t.Fatalf("after SetStale(true) got %s, want %s", m.raw, want)
	}
	if m := c.next(); m.Type != "tick" || m.Seq != 1 {
		t.Fatalf("after the status got %s, want tick 1", m.raw)
	}

	late := e.dial("", nil)
	if m := late.next(); m.raw != want {
		t.Fatalf("a client connecting while stale got %s first, want %s", m.raw, want)
	}

	e.hub.SetStale(false, time.Time{})
	e.hub.SetStale(false, time.Time{})
	e.feed("STL", 2, 2, 1)
	for _, cl := range []*client{c, late} {
		if m := cl.next(); m.raw != `{"type":"status","state":"live"}` {
			t.Fatalf("after SetStale(false) got %s, want the live status", m.raw)
		}
	}
	if m := c.next(); m.Type != "tick" || m.Seq != 2 {
		t.Fatalf("after the live status got %s, want tick 2 (one live status only)", m.raw)
	}
}
