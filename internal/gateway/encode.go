package gateway

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/findash/findash/internal/market"
)

// Server messages are built by hand with append so that a tick costs one
// small copy into its batch buffer and no reflection; rarer messages use
// encoding/json for their data. Every function returns a message of its own
// that is never modified once handed to a connection.

func appendTick(b []byte, channel string, t *market.Tick) []byte {
	b = append(b, `{"type":"tick","channel":"`...)
	b = append(b, channel...) // symbols need no escaping (A-Z 0-9 . - _ /)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, t.Seq, 10)
	b = append(b, `,"data":{"symbol":"`...)
	b = append(b, t.Symbol...)
	b = append(b, `","ts":`...)
	b = strconv.AppendInt(b, t.TS, 10)
	b = append(b, `,"price":`...)
	b = market.AppendJSONFloat(b, t.Price)
	b = append(b, `,"size":`...)
	b = market.AppendJSONFloat(b, t.Size)
	return append(b, "}}"...)
}

func encodeGap(channel string, from, to uint64) []byte {
	b := make([]byte, 0, 64+len(channel))
	b = append(b, `{"type":"gap","channel":"`...)
	b = append(b, channel...)
	b = append(b, `","from":`...)
	b = strconv.AppendUint(b, from, 10)
	b = append(b, `,"to":`...)
	b = strconv.AppendUint(b, to, 10)
	return append(b, '}')
}

func encodeReply(typ string, id int64, hasID bool) []byte {
	b := make([]byte, 0, 48)
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, '"')
	if hasID {
		b = append(b, `,"id":`...)
		b = strconv.AppendInt(b, id, 10)
	}
	return append(b, '}')
}

func encodeError(id int64, hasID bool, code, message string) []byte {
	msg, _ := json.Marshal(message) // a string always marshals
	b := make([]byte, 0, 64+len(code)+len(msg))
	b = append(b, `{"type":"error"`...)
	if hasID {
		b = append(b, `,"id":`...)
		b = strconv.AppendInt(b, id, 10)
	}
	b = append(b, `,"code":"`...)
	b = append(b, code...)
	b = append(b, `","message":`...)
	b = append(b, msg...)
	return append(b, '}')
}

func encodeReconnect(afterMS int64) []byte {
	b := append([]byte(nil), `{"type":"reconnect","after_ms":`...)
	b = strconv.AppendInt(b, afterMS, 10)
	return append(b, '}')
}

// encodeData returns {"type":typ,"channel":channel,"data":<data as JSON>}.
// nil and a quote (a ticks channel's snapshot, sent at every subscribe) are
// appended by hand: encoding/json's reflection was the deepest stack of a
// WebSocket connect, where the handshake's goroutine grew its stack (issue
// 14); anything else, or a quote appendQuote does not write exactly as
// encoding/json would, goes through encoding/json.
func encodeData(typ, channel string, data any) ([]byte, error) {
	var d []byte
	switch v := data.(type) {
	case nil:
		d = []byte("null")
	case market.Quote:
		if quotePlain(&v) {
			b := make([]byte, 0, 48+len(typ)+len(channel)+200)
			b = appendDataHead(b, typ, channel)
			b = appendQuote(b, &v)
			return append(b, '}'), nil
		}
	}
	if d == nil {
		var err error
		if d, err = json.Marshal(data); err != nil {
			return nil, err
		}
	}
	b := make([]byte, 0, 32+len(typ)+len(channel)+len(d))
	b = appendDataHead(b, typ, channel)
	b = append(b, d...)
	return append(b, '}'), nil
}

// appendDataHead appends {"type":typ,"channel":channel,"data":
func appendDataHead(b []byte, typ, channel string) []byte {
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","channel":"`...)
	b = append(b, channel...)
	return append(b, `","data":`...)
}

// quotePlain reports whether appendQuote writes q as encoding/json does:
// a symbol that needs no escaping and finite numbers (encoding/json
// refuses NaN and ±Inf).
func quotePlain(q *market.Quote) bool {
	for i := 0; i < len(q.Symbol); i++ {
		c := q.Symbol[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	for _, f := range [...]float64{q.Price, q.Open24h, q.High24h, q.Low24h, q.Volume24h, q.Change24h, q.ChangePct24h} {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return false
		}
	}
	return true
}

// appendQuote appends q as encoding/json writes it (see quotePlain).
func appendQuote(b []byte, q *market.Quote) []byte {
	b = append(b, `{"symbol":"`...)
	b = append(b, q.Symbol...)
	b = append(b, `","price":`...)
	b = market.AppendJSONFloat(b, q.Price)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, q.TS, 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, q.Seq, 10)
	b = append(b, `,"open_24h":`...)
	b = market.AppendJSONFloat(b, q.Open24h)
	b = append(b, `,"high_24h":`...)
	b = market.AppendJSONFloat(b, q.High24h)
	b = append(b, `,"low_24h":`...)
	b = market.AppendJSONFloat(b, q.Low24h)
	b = append(b, `,"volume_24h":`...)
	b = market.AppendJSONFloat(b, q.Volume24h)
	b = append(b, `,"change_24h":`...)
	b = market.AppendJSONFloat(b, q.Change24h)
	b = append(b, `,"change_pct_24h":`...)
	b = market.AppendJSONFloat(b, q.ChangePct24h)
	return append(b, '}')
}
