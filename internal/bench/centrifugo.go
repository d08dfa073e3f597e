package bench

import (
	"bytes"
	"strconv"
	"strings"
)

// Client protocols a bench run speaks (fleetConfig.Proto, WSConfig.Proto).
const (
	// ProtoFindash is findash's WebSocket protocol (docs/reference/websocket.md),
	// also spoken by the bare baseline server (BareServer).
	ProtoFindash = "findash"
	// ProtoCentrifugo is Centrifugo v6's JSON client protocol over
	// /connection/websocket, with publications through its HTTP API
	// (/api/publish, /api/batch) authenticated by X-API-Key. The server
	// must let anonymous clients connect and subscribe to the ticks
	// namespace (docs/benchmarks/ws.md gives the configuration).
	ProtoCentrifugo = "centrifugo"
)

// subscribeMessage returns the first message a connection sends to
// subscribe to the ticks of syms, and, for Centrifugo, how many replies
// must come back before the subscriptions are in place (findash answers
// with one ack). Centrifugo takes several commands in one frame, one JSON
// object per line: connect, then one subscribe per channel.
func subscribeMessage(proto string, syms []string) ([]byte, int) {
	var b strings.Builder
	if proto == ProtoCentrifugo {
		b.WriteString(`{"id":1,"connect":{}}`)
		for j, s := range syms {
			b.WriteString("\n{\"id\":")
			b.WriteString(strconv.Itoa(j + 2))
			b.WriteString(`,"subscribe":{"channel":"ticks:` + s + `"}}`)
		}
		return []byte(b.String()), 1 + len(syms)
	}
	b.WriteString(`{"op":"subscribe","id":1,"channels":[`)
	for j, s := range syms {
		if j > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"ticks:` + s + `"`)
	}
	b.WriteString("]}")
	return []byte(b.String()), 1
}

var (
	centPushPrefix  = []byte(`{"push":`)
	centReplyPrefix = []byte(`{"id":`)
	centError       = []byte(`"error":`)
)

// handleCentrifugo accounts for one message of Centrifugo's JSON protocol:
// a reply to a command ({"id":N,…}, an error when it holds "error"), a
// push of a publication ({"push":{"channel":…,"pub":{"data":{…tick…},
// "offset":N}}}, offset only on channels with history), or a ping ({},
// answered with {}). A push other than a publication (join, leave,
// unsubscribe, disconnect) counts as an error: the bench never asks for
// them.
func (r *reader) handleCentrifugo(msg []byte, now int64, m *msgCounts) {
	msg = bytes.TrimSpace(msg)
	switch {
	case len(msg) == 0:
	case bytes.Equal(msg, []byte("{}")):
		r.pong = true
	case bytes.HasPrefix(msg, centPushPrefix):
		if t, ok := parseCentrifugoPush(msg); ok {
			r.delivered(t, now, m)
			return
		}
		if !bytes.Contains(msg, []byte(`"pub":`)) {
			m.errors++
			return
		}
		t, ok := parseTickWith(msg, `"offset":`, false)
		if !ok {
			m.errors++
			return
		}
		r.delivered(t, now, m)
	case bytes.HasPrefix(msg, centReplyPrefix):
		if bytes.Contains(msg, centError) {
			m.errors++
		}
		if r.awaiting--; r.awaiting <= 0 {
			r.acked = true
		}
	default:
		m.errors++
	}
}
