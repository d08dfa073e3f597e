package feed

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// Coinbase Exchange's public endpoints (the defaults of Config.WSURL and
// RESTURL).
const (
	CoinbaseWSURL   = "wss://ws-feed.exchange.coinbase.com"
	CoinbaseRESTURL = "https://api.exchange.coinbase.com"
)

// coinbase speaks Coinbase Exchange: the "matches" channel (each match
// carries its product's sequence number and trade_id) and the "heartbeat"
// channel (every second per product, with the product's last trade_id),
// and GET /products/{id}/trades to fill gaps.
//
// Gaps are found by trade_id, which has no holes per product; sequence
// numbers do (the matches channel skips the order book's other events), so
// they only order messages: a match whose sequence is not above the last
// one seen is a repeat or out of order and is dropped. A heartbeat whose
// last_trade_id is past the mark says matches were missed: they are
// filled. A connection without a heartbeat for Silence is replaced.
type coinbase struct {
	cfg      *Config
	seq      map[string]int64  // product → last sequence seen (reader goroutine only)
	products map[string]string // the subscribed product ids, interned by the fast decoder
}

// NewCoinbase returns the Coinbase Exchange feed of cfg.Symbols (BTC-USD,
// Coinbase's own product ids), with its metrics on m.
func NewCoinbase(cfg Config, log Log, m *Metrics, logger *slog.Logger) *Feed {
	if cfg.WSURL == "" {
		cfg.WSURL = CoinbaseWSURL
	}
	if cfg.RESTURL == "" {
		cfg.RESTURL = CoinbaseRESTURL
	}
	c := &coinbase{seq: make(map[string]int64, len(cfg.Symbols)), products: make(map[string]string, len(cfg.Symbols))}
	for _, s := range cfg.Symbols {
		c.products[s] = s
	}
	f := newFeed(c, cfg, log, m, logger)
	c.cfg = &f.cfg
	return f
}

func (c *coinbase) name() string           { return "coinbase" }
func (c *coinbase) silence() time.Duration { return 5 * time.Second }

func (c *coinbase) dial(ctx context.Context, d *websocket.Dialer) (*websocket.Conn, error) {
	conn, resp, err := d.DialContext(ctx, c.cfg.WSURL, nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial coinbase: %s: %w", resp.Status, err)
		}
		return nil, fmt.Errorf("dial coinbase: %w", err)
	}
	sub, _ := json.Marshal(map[string]any{"type": "subscribe", "product_ids": c.cfg.Symbols, "channels": []string{"matches", "heartbeat"}})
	conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := conn.WriteMessage(websocket.TextMessage, sub); err != nil {
		conn.Close()
		return nil, fmt.Errorf("subscribe to coinbase: %w", err)
	}
	conn.SetWriteDeadline(time.Time{})
	clear(c.seq) // sequences restart being compared on a new connection
	return conn, nil
}

// coinbaseMsg holds the fields of the messages the feed reads: match and
// last_match, heartbeat, subscriptions, error.
type coinbaseMsg struct {
	Type        string `json:"type"`
	TradeID     *int64 `json:"trade_id"`
	Sequence    int64  `json:"sequence"`
	LastTradeID int64  `json:"last_trade_id"`
	ProductID   string `json:"product_id"`
	Time        string `json:"time"`
	Size        string `json:"size"`
	Price       string `json:"price"`
}

func (c *coinbase) parse(msg []byte, dst []Trade) ([]Trade, event, error) {
	var m coinbaseMsg
	if !fastCoinbaseMsg(msg, &m, c.products) {
		slow := new(coinbaseMsg) // on the heap here only: m stays on the stack
		if err := json.Unmarshal(msg, slow); err != nil {
			return dst, event{}, fmt.Errorf("%w: %w", errMalformed, err)
		}
		m = *slow
	}
	switch m.Type {
	case "match", "last_match":
		if m.Sequence > 0 {
			if last, ok := c.seq[m.ProductID]; ok && m.Sequence <= last {
				return dst, event{kind: kindControl}, nil // a repeat: the mark drops it anyway
			}
		}
		t, err := c.trade(m.ProductID, m.TradeID, m.Time, m.Price, m.Size)
		if err != nil {
			return dst, event{}, err
		}
		if m.Sequence > 0 {
			c.seq[m.ProductID] = m.Sequence
		}
		return append(dst, t), event{kind: kindTrades}, nil
	case "heartbeat":
		if m.ProductID == "" || m.LastTradeID < 0 {
			return dst, event{}, fmt.Errorf("%w: heartbeat without product or with a negative trade id", errMalformed)
		}
		return dst, event{kind: kindHeartbeat, symbol: m.ProductID, lastID: m.LastTradeID}, nil
	case "subscriptions":
		return dst, event{kind: kindControl}, nil
	case "":
		return dst, event{}, fmt.Errorf("%w: no type", errMalformed)
	}
	return dst, event{kind: kindUnknown}, nil // error, ticker, status, …
}

// trade validates one match (stream or REST) of product.
func (c *coinbase) trade(product string, id *int64, ts, price, size string) (Trade, error) {
	if id == nil {
		return Trade{}, fmt.Errorf("%w: match without trade_id", errMalformed)
	}
	t := Trade{Symbol: product, ID: *id}
	if len(ts) > 40 {
		return Trade{}, fmt.Errorf("%w: %d-byte time", errMalformed, len(ts))
	}
	var ok bool
	if t.TS, ok = fastCoinbaseTime(ts); !ok {
		tm, err := time.Parse(time.RFC3339Nano, strings.Clone(ts)) // ts views the message; the error keeps it
		if err != nil {
			return Trade{}, fmt.Errorf("%w: time: %w", errMalformed, err)
		}
		t.TS = tm.UnixMilli()
	}
	var err error
	if t.Price, err = parseDecimal(price); err != nil {
		return Trade{}, fmt.Errorf("%w: price: %w", errMalformed, err)
	}
	if t.Size, err = parseDecimal(size); err != nil {
		return Trade{}, fmt.Errorf("%w: size: %w", errMalformed, err)
	}
	if err := validate(&t); err != nil {
		return Trade{}, err
	}
	return t, nil
}

// coinbaseTrade is one trade of GET /products/{id}/trades.
type coinbaseTrade struct {
	Time    string `json:"time"`
	TradeID *int64 `json:"trade_id"`
	Price   string `json:"price"`
	Size    string `json:"size"`
}

// fetch pages the product's history with the cursor just below from
// (before=from-1: the page of trades newer than it, newest first). A page
// that starts past from (the venue answered a newer page) is followed by
// pages toward older trades (after=oldest) until from is reached, at most
// 10 pages.
func (c *coinbase) fetch(ctx context.Context, symbol string, from, to int64, limit int) ([]Trade, error) {
	base := strings.TrimRight(c.cfg.RESTURL, "/") + "/products/" + url.PathEscape(symbol) + "/trades?"
	q := url.Values{"before": {strconv.FormatInt(from-1, 10)}, "limit": {strconv.Itoa(limit)}}
	var out []Trade
	for range 10 {
		body, err := getJSON(ctx, c.cfg, base+q.Encode())
		if err != nil {
			return nil, err
		}
		var page []coinbaseTrade
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, fmt.Errorf("coinbase trades: %w: %w", errMalformed, err)
		}
		oldest := int64(-1)
		for i := range page {
			t, err := c.trade(symbol, page[i].TradeID, page[i].Time, page[i].Price, page[i].Size)
			if err != nil {
				return nil, fmt.Errorf("coinbase trades: %w", err)
			}
			if oldest < 0 || t.ID < oldest {
				oldest = t.ID
			}
			if t.ID >= from && (to == 0 || t.ID <= to) {
				out = append(out, t)
			}
		}
		if len(page) == 0 || oldest <= from {
			break
		}
		q = url.Values{"after": {strconv.FormatInt(oldest, 10)}, "limit": {strconv.Itoa(limit)}}
	}
	slices.SortFunc(out, func(a, b Trade) int { return cmp.Compare(a.ID, b.ID) })
	out = slices.CompactFunc(out, func(a, b Trade) bool { return a.ID == b.ID })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
