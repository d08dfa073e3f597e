package feed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// Binance's public endpoints (the defaults of Config.WSURL and RESTURL).
const (
	BinanceWSURL   = "wss://stream.binance.com:9443"
	BinanceRESTURL = "https://api.binance.com"
)

// binance speaks Binance Spot: the aggregate trade streams (<symbol>@aggTrade)
// on the combined-stream endpoint, and GET /api/v3/aggTrades?fromId= to fill
// gaps. Binance pings every 20 s (gorilla answers with the payload) and
// closes every connection after 24 h: the reconnect fills from the mark.
type binance struct {
	cfg   *Config
	names map[string]string // BTCUSDT → BTC-USDT
}

// NewBinance returns the Binance Spot feed of cfg.Symbols (BTC-USDT), with
// its metrics on m.
func NewBinance(cfg Config, log Log, m *Metrics, logger *slog.Logger) *Feed {
	if cfg.WSURL == "" {
		cfg.WSURL = BinanceWSURL
	}
	if cfg.RESTURL == "" {
		cfg.RESTURL = BinanceRESTURL
	}
	b := &binance{names: make(map[string]string, len(cfg.Symbols))}
	for _, s := range cfg.Symbols {
		b.names[BinanceSymbol(s)] = s
	}
	f := newFeed(b, cfg, log, m, logger)
	b.cfg = &f.cfg
	return f
}

// BinanceSymbol returns Binance's name of a normalised symbol: BTC-USDT →
// BTCUSDT.
func BinanceSymbol(sym string) string { return strings.ReplaceAll(sym, "-", "") }

func (b *binance) name() string           { return "binance" }
func (b *binance) silence() time.Duration { return 60 * time.Second }

func (b *binance) dial(ctx context.Context, d *websocket.Dialer) (*websocket.Conn, error) {
	streams := make([]string, len(b.cfg.Symbols))
	for i, s := range b.cfg.Symbols {
		streams[i] = strings.ToLower(BinanceSymbol(s)) + "@aggTrade"
	}
	u := strings.TrimRight(b.cfg.WSURL, "/") + "/stream?streams=" + strings.Join(streams, "/")
	conn, resp, err := d.DialContext(ctx, u, nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial binance: %s: %w", resp.Status, err)
		}
		return nil, fmt.Errorf("dial binance: %w", err)
	}
	return conn, nil
}

// binanceAggTrade is an aggregate trade, in the stream ("e":"aggTrade")
// and in the REST history alike.
//
// encoding/json matches keys case-insensitively when no field matches
// exactly, so "E" (event time, a number) would land in Event without its
// own field: every one-letter key that differs only in case is declared.
type binanceAggTrade struct {
	Event     string `json:"e"`
	EventTime int64  `json:"E"`
	Symbol    string `json:"s"`
	ID        *int64 `json:"a"`
	Price     string `json:"p"`
	Qty       string `json:"q"`
	Time      int64  `json:"T"`
	Maker     bool   `json:"m"`
	Ignore    bool   `json:"M"`
}

// binanceEnvelope is a combined-stream message: {"stream":…,"data":…}. An
// answer to a request ({"result":null,"id":1}) or an error ({"code":…,
// "msg":…}) has no stream.
// The data is decoded in the same pass (one scan of the message, not two):
// on a stream other than aggTrade it is ignored.
type binanceEnvelope struct {
	Stream string          `json:"stream"`
	Data   binanceAggTrade `json:"data"`
	Result json.RawMessage `json:"result"`
	ID     json.RawMessage `json:"id"`
}

var errMalformed = errors.New("malformed venue message")

func (b *binance) parse(msg []byte, dst []Trade) ([]Trade, event, error) {
	var env binanceEnvelope
	if !fastBinanceEnvelope(msg, &env) {
		slow := new(binanceEnvelope) // on the heap here only: env stays on the stack
		if err := json.Unmarshal(msg, slow); err != nil {
			return dst, event{}, fmt.Errorf("%w: %w", errMalformed, err)
		}
		env = *slow
	}
	if env.Stream == "" {
		if env.ID != nil {
			return dst, event{kind: kindControl}, nil
		}
		return dst, event{kind: kindUnknown}, nil
	}
	if !strings.HasSuffix(env.Stream, "@aggTrade") {
		return dst, event{kind: kindUnknown}, nil
	}
	a := &env.Data
	if a.Event != "aggTrade" {
		return dst, event{}, fmt.Errorf("%w: event %q on an aggTrade stream", errMalformed, a.Event)
	}
	t, err := b.trade(a, a.Symbol)
	if err != nil {
		return dst, event{}, err
	}
	if t.Symbol == "" {
		return dst, event{kind: kindUnknown}, nil
	}
	return append(dst, t), event{kind: kindTrades}, nil
}

// trade validates a and returns it as a Trade of symbol (Binance's name);
// a symbol the feed does not know gives a Trade without Symbol.
func (b *binance) trade(a *binanceAggTrade, symbol string) (Trade, error) {
	if a.ID == nil || *a.ID < 0 {
		return Trade{}, fmt.Errorf("%w: aggregate trade without an id", errMalformed)
	}
	t := Trade{Symbol: b.names[symbol], ID: *a.ID, TS: a.Time}
	var err error
	if t.Price, err = parseDecimal(a.Price); err != nil {
		return Trade{}, fmt.Errorf("%w: price: %w", errMalformed, err)
	}
	if t.Size, err = parseDecimal(a.Qty); err != nil {
		return Trade{}, fmt.Errorf("%w: quantity: %w", errMalformed, err)
	}
	if err := validate(&t); err != nil {
		return Trade{}, err
	}
	return t, nil
}

func (b *binance) fetch(ctx context.Context, symbol string, from, to int64, limit int) ([]Trade, error) {
	q := url.Values{"symbol": {BinanceSymbol(symbol)}, "fromId": {strconv.FormatInt(from, 10)}, "limit": {strconv.Itoa(limit)}}
	body, err := getJSON(ctx, b.cfg, strings.TrimRight(b.cfg.RESTURL, "/")+"/api/v3/aggTrades?"+q.Encode())
	if err != nil {
		return nil, err
	}
	var page []binanceAggTrade
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, fmt.Errorf("binance aggTrades: %w: %w", errMalformed, err)
	}
	out := make([]Trade, 0, len(page))
	for i := range page {
		t, err := b.trade(&page[i], BinanceSymbol(symbol))
		if err != nil {
			return nil, fmt.Errorf("binance aggTrades: %w", err)
		}
		if to > 0 && t.ID > to {
			break
		}
		out = append(out, t)
	}
	return out, nil
}

// getJSON GETs u and returns its body, at most cfg.MaxBodyBytes of it; a
// status other than 200 is an error naming it.
func getJSON(ctx context.Context, cfg *Config, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("request %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := cfg.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, cfg.MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: read body: %w", req.URL.Path, err)
	}
	if int64(len(body)) > cfg.MaxBodyBytes {
		return nil, fmt.Errorf("GET %s: body larger than %d bytes", req.URL.Path, cfg.MaxBodyBytes)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", req.URL.Path, resp.Status)
	}
	return body, nil
}
