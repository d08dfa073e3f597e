package gateway

// The connection-level status message: whether the data the hub serves is
// live or stale (a region cut off from the primary's log, decision 0036).

import (
	"strconv"
	"time"
)

// SetStale tells every client whether the data this hub serves is stale:
// with stale true, the hub's source of ticks has not been heard from since
// since (a region whose link to the primary region is down), so the last
// prices clients hold may be out of date although their connections are
// fine; each connection is sent {"type":"status","state":"stale",…} once,
// and every connection opened while stale gets it first. With stale false,
// after a stale period, each is sent {"type":"status","state":"live"}. A
// call that changes nothing sends nothing. Status messages are not
// dropped for a full send queue: they are few and small.
func (h *Hub) SetStale(stale bool, since time.Time) {
	h.connsMu.Lock()
	defer h.connsMu.Unlock()
	if stale == (h.status != nil) {
		return
	}
	msg := encodeStatus(stale, since)
	if stale {
		h.status = msg
		h.met.stale.Set(1)
	} else {
		h.status = nil
		h.met.stale.Set(0)
	}
	for c := range h.conns {
		c.mu.Lock()
		if !c.closing {
			c.appendLocked(msg)
			c.signalLocked()
		}
		c.mu.Unlock()
	}
}

// encodeStatus returns the status message: stale (with since in ms since
// the epoch, and the reason) or live.
func encodeStatus(stale bool, since time.Time) []byte {
	if !stale {
		return []byte(`{"type":"status","state":"live"}`)
	}
	b := append([]byte(nil), `{"type":"status","state":"stale","reason":"region_link_down","since":`...)
	b = strconv.AppendInt(b, since.UnixMilli(), 10)
	return append(b, '}')
}
