package fakeexchange

import (
	"embed"
	"strconv"
	"strings"
	"time"
)

// Fixtures are the venues' documented message examples (Binance Spot API
// docs: web-socket-streams.md "Aggregate Trade Streams", rest-api.md
// "Compressed/Aggregate trades list"; Coinbase Exchange docs: WebSocket
// channels "matches", "heartbeat", REST "Get product trades"), with their
// times moved to 2025 so that findash accepts them. The encoders below
// write exactly these layouts (encode_test.go checks it byte for byte).
//
//go:embed fixtures
var Fixtures embed.FS

// Fixture returns the fixture file at name ("binance/aggTrade.json"),
// without its trailing newline.
func Fixture(name string) []byte {
	b, err := Fixtures.ReadFile("fixtures/" + name)
	if err != nil {
		panic("fakeexchange: no fixture " + name) // a programmer error: the names are constants
	}
	return []byte(strings.TrimRight(string(b), "\n"))
}

// Trade is one trade of the fake exchange. Price and Size are the decimal
// strings the venue sends.
type Trade struct {
	Symbol string // the venue's name: BTCUSDT (Binance), BTC-USD (Coinbase)
	ID     int64
	Time   time.Time
	Price  string
	Size   string
	// Sequence is the Coinbase product sequence of the trade's match message.
	Sequence int64
	// BuyerMaker is Binance's "m" (and Coinbase's maker side "buy").
	BuyerMaker bool
}

// appendBinanceAggTrade appends t as a combined-stream aggTrade event.
func appendBinanceAggTrade(dst []byte, t *Trade) []byte {
	ms := t.Time.UnixMilli()
	dst = append(dst, `{"stream":"`...)
	dst = append(dst, strings.ToLower(t.Symbol)...)
	dst = append(dst, `@aggTrade","data":{"e":"aggTrade","E":`...)
	dst = strconv.AppendInt(dst, ms+2, 10) // event time: just after the trade
	dst = append(dst, `,"s":"`...)
	dst = append(dst, t.Symbol...)
	dst = append(dst, `",`...)
	dst = appendBinanceFields(dst, t)
	return append(dst, "}}"...)
}

// appendBinanceFields appends the fields of an aggregate trade from "a" on,
// shared by the stream and the REST history.
func appendBinanceFields(dst []byte, t *Trade) []byte {
	dst = append(dst, `"a":`...)
	dst = strconv.AppendInt(dst, t.ID, 10)
	dst = append(dst, `,"p":"`...)
	dst = append(dst, t.Price...)
	dst = append(dst, `","q":"`...)
	dst = append(dst, t.Size...)
	// One underlying trade per aggregate trade: first = last = 2×id.
	dst = append(dst, `","f":`...)
	dst = strconv.AppendInt(dst, firstTradeID(t.ID), 10)
	dst = append(dst, `,"l":`...)
	dst = strconv.AppendInt(dst, lastTradeID(t.ID), 10)
	dst = append(dst, `,"T":`...)
	dst = strconv.AppendInt(dst, t.Time.UnixMilli(), 10)
	dst = append(dst, `,"m":`...)
	dst = strconv.AppendBool(dst, t.BuyerMaker)
	return append(dst, `,"M":true`...)
}

// The fake's underlying trade ids of aggregate trade id (the fixtures'
// values are kept by Trade fields set from them in the test).
var (
	firstTradeID = func(id int64) int64 { return 2 * id }
	lastTradeID  = func(id int64) int64 { return 2 * id }
)

// appendBinanceREST appends trades as a GET /api/v3/aggTrades answer.
func appendBinanceREST(dst []byte, trades []Trade) []byte {
	dst = append(dst, '[')
	for i := range trades {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '{')
		dst = appendBinanceFields(dst, &trades[i])
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

const coinbaseTime = "2006-01-02T15:04:05.000000Z"

// appendCoinbaseMatch appends t as a matches-channel message of type typ
// ("match" or "last_match").
func appendCoinbaseMatch(dst []byte, typ string, t *Trade) []byte {
	dst = append(dst, `{"type":"`...)
	dst = append(dst, typ...)
	dst = append(dst, `","trade_id":`...)
	dst = strconv.AppendInt(dst, t.ID, 10)
	dst = append(dst, `,"sequence":`...)
	dst = strconv.AppendInt(dst, t.Sequence, 10)
	dst = append(dst, `,"maker_order_id":"`...)
	dst = appendOrderID(dst, t.ID, 'a')
	dst = append(dst, `","taker_order_id":"`...)
	dst = appendOrderID(dst, t.ID, 'b')
	dst = append(dst, `","time":"`...)
	dst = t.Time.UTC().AppendFormat(dst, coinbaseTime)
	dst = append(dst, `","product_id":"`...)
	dst = append(dst, t.Symbol...)
	dst = append(dst, `","size":"`...)
	dst = append(dst, t.Size...)
	dst = append(dst, `","price":"`...)
	dst = append(dst, t.Price...)
	dst = append(dst, `","side":"`...)
	dst = append(dst, coinbaseSide(t)...)
	return append(dst, `"}`...)
}

// appendOrderID appends a UUID-shaped order id derived from a trade id.
func appendOrderID(dst []byte, id int64, tag byte) []byte {
	var hex [32]byte
	s := strconv.FormatInt(id, 16)
	for i := range hex {
		hex[i] = '0'
	}
	hex[0] = tag
	copy(hex[32-len(s):], s)
	h := hex[:]
	dst = append(dst, h[0:8]...)
	dst = append(dst, '-')
	dst = append(dst, h[8:12]...)
	dst = append(dst, '-')
	dst = append(dst, h[12:16]...)
	dst = append(dst, '-')
	dst = append(dst, h[16:20]...)
	dst = append(dst, '-')
	return append(dst, h[20:32]...)
}

// coinbaseSide is the maker order's side.
func coinbaseSide(t *Trade) string {
	if t.BuyerMaker {
		return "buy"
	}
	return "sell"
}

// appendCoinbaseHeartbeat appends a heartbeat of product.
func appendCoinbaseHeartbeat(dst []byte, product string, seq, lastTradeID int64, now time.Time) []byte {
	dst = append(dst, `{"type":"heartbeat","sequence":`...)
	dst = strconv.AppendInt(dst, seq, 10)
	dst = append(dst, `,"last_trade_id":`...)
	dst = strconv.AppendInt(dst, lastTradeID, 10)
	dst = append(dst, `,"product_id":"`...)
	dst = append(dst, product...)
	dst = append(dst, `","time":"`...)
	dst = now.UTC().AppendFormat(dst, coinbaseTime)
	return append(dst, `"}`...)
}

// appendCoinbaseREST appends trades (newest first) as a GET
// /products/{id}/trades answer.
func appendCoinbaseREST(dst []byte, trades []Trade) []byte {
	dst = append(dst, '[')
	for i := range trades {
		t := &trades[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"time":"`...)
		dst = t.Time.UTC().AppendFormat(dst, coinbaseTime)
		dst = append(dst, `","trade_id":`...)
		dst = strconv.AppendInt(dst, t.ID, 10)
		dst = append(dst, `,"price":"`...)
		dst = append(dst, t.Price...)
		dst = append(dst, `","size":"`...)
		dst = append(dst, t.Size...)
		dst = append(dst, `","side":"`...)
		dst = append(dst, coinbaseSide(t)...)
		dst = append(dst, `"}`...)
	}
	return append(dst, ']')
}
