package history

import (
	"bytes"
	"fmt"
	"strings"
	"unsafe"

	"github.com/findash/findash/internal/market"
)

// Layout is a file layout findash imports.
type Layout uint8

// The layouts (docs/reference/cli.md#findash-import).
const (
	// LayoutBinanceAggTrades is Binance's spot aggTrades dump:
	// agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker,is_best_match.
	LayoutBinanceAggTrades Layout = iota + 1
	// LayoutBinanceTrades is Binance's spot trades dump:
	// id,price,qty,quote_qty,time,is_buyer_maker,is_best_match.
	LayoutBinanceTrades
	// LayoutCSV is findash's generic layout: a header naming the columns
	// symbol, ts, price and optionally size and id, in any order.
	LayoutCSV
	// LayoutBinanceKlines1m is Binance's spot 1m klines dump: open_time,
	// open,high,low,close,volume,close_time,quote_volume,count,
	// taker_buy_volume,taker_buy_quote_volume,ignore. Its rows are candles,
	// parsed by ParseKline (last, so the other layouts' keys keep their
	// numbers).
	LayoutBinanceKlines1m
)

// Source names the layout's rows in the import ranges of the store: a
// trade id of one source never dedups a row of another.
func (l Layout) Source() string {
	switch l {
	case LayoutBinanceAggTrades:
		return "binance_aggtrades"
	case LayoutBinanceTrades:
		return "binance_trades"
	case LayoutCSV:
		return "csv"
	case LayoutBinanceKlines1m:
		return "binance_klines_1m"
	}
	return "invalid"
}

// Keys. An imported tick's Seq is keyBase | layout<<56 | key, where key is
// the row's trade id (below 2^56), or for a generic CSV without an id
// column ts<<14 | n (n: the row's rank among the file's rows of that symbol
// and ts). Live ticks' seqs (streamSeq<<16 | index) stay far below keyBase,
// so the two never collide in the ticks table.
const (
	keyBase   uint64 = 1 << 62
	maxKey    uint64 = 1<<56 - 1
	maxPerMs         = 1<<14 - 1
	maxFields        = 12
	// MaxLine bounds one line of a file, in bytes.
	MaxLine = 4096
)

// usThreshold: a timestamp at or above it is in microseconds (Binance's
// spot dumps from 2025 on); in milliseconds it would be after the year 5000.
const usThreshold = 100_000_000_000_000

// Parser turns the lines of one file into ticks. Make one per file with
// NewParser; it is not safe for concurrent use.
type Parser struct {
	layout Layout
	symbol string // Binance layouts: every row's symbol
	line   int
	micros int8 // 0 undecided, 1 µs, -1 ms (decided by the first row, per file)

	// LayoutCSV: column positions (-1 absent), checked by the header.
	cols    struct{ symbol, ts, price, size, id int }
	ncols   int
	lastKey map[string]uint64 // per symbol: keys must increase
	lastTS  map[string][2]int64
}

// NewParser returns a parser of one file in layout; symbol is every row's
// symbol for the Binance layouts (ignored for LayoutCSV).
func NewParser(layout Layout, symbol string) *Parser {
	p := &Parser{layout: layout, symbol: symbol, lastKey: map[string]uint64{}}
	if layout == LayoutCSV {
		p.lastTS = map[string][2]int64{}
	}
	return p
}

// Line returns the number of the last line parsed (1-based).
func (p *Parser) Line() int { return p.line }

// Micros reports whether the file's timestamps are in microseconds (false
// until the first row is parsed).
func (p *Parser) Micros() bool { return p.micros == 1 }

// Parse parses one line (without its newline) into t. ok is false for a
// line that holds no tick (a header, a blank line). A row that breaks the
// layout or the tick limits (market.Tick.Validate) is an error matching
// market.ErrInvalid that names the line. Rows of one symbol must come in
// key order (a trade id, or the time for a CSV without ids).
func (p *Parser) Parse(line []byte, t *market.Tick) (ok bool, err error) {
	var f [maxFields][]byte
	n, ok, err := p.fields(line, &f)
	if !ok || err != nil {
		return false, err
	}
	var key uint64
	switch p.layout {
	case LayoutBinanceAggTrades, LayoutBinanceTrades:
		want, tsCol := 8, 5
		if p.layout == LayoutBinanceTrades {
			want, tsCol = 7, 4
		}
		if n != want {
			return false, p.errorf("", "has %d fields, want %d (%s)", n, want, p.layout.Source())
		}
		if key, err = p.uint("id", f[0]); err != nil {
			return false, err
		}
		t.Symbol = p.symbol
		if t.TS, err = p.ts(f[tsCol]); err != nil {
			return false, err
		}
		if t.Price, err = p.float("price", f[1]); err != nil {
			return false, err
		}
		if t.Size, err = p.float("size", f[2]); err != nil {
			return false, err
		}
	case LayoutCSV:
		if n != p.ncols {
			return false, p.errorf("", "has %d fields, want %d (as the header)", n, p.ncols)
		}
		t.Symbol = p.intern(f[p.cols.symbol])
		if t.TS, err = p.ts(f[p.cols.ts]); err != nil {
			return false, err
		}
		if t.Price, err = p.float("price", f[p.cols.price]); err != nil {
			return false, err
		}
		t.Size = 0
		if p.cols.size >= 0 {
			if t.Size, err = p.float("size", f[p.cols.size]); err != nil {
				return false, err
			}
		}
		if p.cols.id >= 0 {
			if key, err = p.uint("id", f[p.cols.id]); err != nil {
				return false, err
			}
		} else if key, err = p.timeKey(t.Symbol, t.TS); err != nil {
			return false, err
		}
	default:
		return false, fmt.Errorf("parse: layout %d: %w", p.layout, market.ErrInvalid)
	}
	if err := t.Validate(); err != nil {
		return false, p.errorf("", "%v", err)
	}
	if key > maxKey {
		return false, p.errorf("id", "%d is above 2^56-1", key)
	}
	if last, seen := p.lastKey[t.Symbol]; seen && key <= last {
		return false, p.errorf("id", "%d does not follow %d: rows of a symbol must be in id (or, without ids, time) order", key, last)
	}
	p.lastKey[t.Symbol] = key
	t.Seq = keyBase | uint64(p.layout)<<56 | key
	return true, nil
}

// fields splits one line into f: ok is false for a line that holds no
// row (blank, a header).
func (p *Parser) fields(line []byte, f *[maxFields][]byte) (n int, ok bool, err error) {
	p.line++
	line = bytes.TrimRight(line, "\r")
	if len(line) == 0 {
		return 0, false, nil
	}
	if len(line) > MaxLine {
		return 0, false, p.errorf("", "longer than %d bytes", MaxLine)
	}
	n = split(line, f)
	if n > maxFields {
		// Checked here, before any layout or the header reads f[:n]
		// (a 13-field CSV header sliced past the array: found by FuzzParse).
		return 0, false, p.errorf("", "more than %d fields", maxFields)
	}
	if p.layout == LayoutCSV && p.ncols == 0 {
		return 0, false, p.header(f[:n], n)
	}
	if p.line == 1 && n > 0 && len(f[0]) > 0 && (f[0][0] < '0' || f[0][0] > '9') {
		return 0, false, nil // a Binance header (files from 2022 on have one)
	}
	return n, true, nil
}

// ParseKline parses one line of a LayoutBinanceKlines1m file into c, a 1m
// candle whose FirstSeq and LastSeq hold the row's key (keyBase |
// layout<<56 | open time in ms), FirstTS its open time and LastTS its close
// time. ok is false for a line that holds no candle: a header, a blank
// line, or a minute without trades (Binance repeats the last close there
// with zero volume; findash has no candle for a minute without ticks). A
// row that breaks the layout (12 fields; open time on a minute; close time
// in that minute; low ≤ open, close ≤ high; prices and volume within the
// tick limits) is an error matching market.ErrInvalid that names the line.
// Rows must come in time order.
func (p *Parser) ParseKline(line []byte, c *market.Candle) (ok bool, err error) {
	if p.layout != LayoutBinanceKlines1m {
		return false, fmt.Errorf("parse kline: layout %d: %w", p.layout, market.ErrInvalid)
	}
	var f [maxFields][]byte
	n, ok, err := p.fields(line, &f)
	if !ok || err != nil {
		return false, err
	}
	if n != 12 {
		return false, p.errorf("", "has %d fields, want 12 (%s)", n, p.layout.Source())
	}
	open, err := p.ts(f[0])
	if err != nil {
		return false, err
	}
	closeTS, err := p.ts(f[6])
	if err != nil {
		return false, err
	}
	iv := market.Interval1m
	if open < 0 || iv.Start(open) != open {
		return false, p.errorf("ts", "open time %d is not the start of a minute: only 1m klines are imported", open)
	}
	if closeTS < open || closeTS >= open+iv.Millis() {
		return false, p.errorf("ts", "close time %d is not in the minute opened at %d: only 1m klines are imported", closeTS, open)
	}
	var v [5]float64 // open, high, low, close, volume
	for i, name := range [5]string{"open", "high", "low", "close", "volume"} {
		if v[i], err = p.float(name, f[i+1]); err != nil {
			return false, err
		}
	}
	count, err := p.uint("count", f[8])
	if err != nil {
		return false, err
	}
	if count == 0 {
		return false, nil
	}
	if count > 1<<53 {
		return false, p.errorf("count", "%d is above 2^53", count)
	}
	for i := range 4 {
		probe := market.Tick{Symbol: p.symbol, TS: open, Price: v[i], Size: v[4]}
		if err := probe.Validate(); err != nil {
			return false, p.errorf("", "%v", err)
		}
	}
	if !(v[2] <= v[0] && v[2] <= v[3] && v[0] <= v[1] && v[3] <= v[1]) {
		return false, p.errorf("", "low %v, open %v, close %v, high %v: want low ≤ open, close ≤ high", v[2], v[0], v[3], v[1])
	}
	key := uint64(open)
	if last, seen := p.lastKey[p.symbol]; seen && key <= last {
		return false, p.errorf("ts", "open time %d does not follow %d: rows must be in time order", open, last)
	}
	p.lastKey[p.symbol] = key
	seq := keyBase | uint64(p.layout)<<56 | key
	*c = market.Candle{
		Symbol: p.symbol, Interval: iv, Start: open,
		Open: v[0], High: v[1], Low: v[2], Close: v[3], Volume: v[4], Count: int64(count),
		FirstTS: open, FirstSeq: seq, LastTS: closeTS, LastSeq: seq,
	}
	return true, nil
}

// header reads the generic layout's header line.
func (p *Parser) header(f [][]byte, n int) error {
	p.cols.symbol, p.cols.ts, p.cols.price, p.cols.size, p.cols.id = -1, -1, -1, -1, -1
	for i, name := range f {
		var c *int
		switch strings.ToLower(strings.TrimSpace(string(name))) {
		case "symbol":
			c = &p.cols.symbol
		case "ts":
			c = &p.cols.ts
		case "price":
			c = &p.cols.price
		case "size":
			c = &p.cols.size
		case "id":
			c = &p.cols.id
		default:
			return p.errorf("header", "unknown column %q: the columns are symbol, ts, price, size and id", truncate(string(name)))
		}
		if *c >= 0 {
			return p.errorf("header", "column %q twice", string(name))
		}
		*c = i
	}
	if p.cols.symbol < 0 || p.cols.ts < 0 || p.cols.price < 0 {
		return p.errorf("header", "needs the columns symbol, ts and price (and optionally size, id)")
	}
	p.ncols = n
	return nil
}

// timeKey is the key of a CSV row without an id: ts<<14 | its rank among
// the rows of its symbol at ts.
func (p *Parser) timeKey(sym string, ts int64) (uint64, error) {
	last := p.lastTS[sym]
	n := int64(0)
	if last[0] == ts && last[1] != 0 {
		n = last[1]
	}
	if n > maxPerMs {
		return 0, p.errorf("ts", "more than %d rows of %s at %d without an id column", maxPerMs+1, sym, ts)
	}
	p.lastTS[sym] = [2]int64{ts, n + 1}
	return uint64(ts)<<14 | uint64(n), nil
}

// intern returns the symbol of b, allocating once per distinct symbol.
func (p *Parser) intern(b []byte) string {
	for s := range p.lastKey { // few symbols per file
		if s == string(b) {
			return s
		}
	}
	return string(b)
}

func (p *Parser) ts(b []byte) (int64, error) {
	v, err := parseInt(b)
	if err != nil {
		return 0, p.errorf("ts", "%q is not an integer", truncate(string(b)))
	}
	if p.micros == 0 {
		p.micros = -1
		if v >= usThreshold {
			p.micros = 1
		}
	}
	if p.micros == 1 {
		v /= 1000 // µs → ms
	}
	return v, nil
}

func (p *Parser) float(field string, b []byte) (float64, error) {
	v, err := parseFloat(b)
	if err != nil {
		return 0, p.errorf(field, "%q is not a number", truncate(string(b)))
	}
	return v, nil
}

func (p *Parser) uint(field string, b []byte) (uint64, error) {
	v, err := parseUint(b)
	if err != nil {
		return 0, p.errorf(field, "%q is not an unsigned integer", truncate(string(b)))
	}
	return v, nil
}

func (p *Parser) errorf(field, format string, args ...any) error {
	return market.Invalid(field, "line %d: %s", p.line, fmt.Sprintf(format, args...))
}

// split cuts line at commas into f; a line of more than maxFields fields
// counts maxFields+1 (refused by every layout).
//
// A plain loop over the bytes: the fields are short (a few to 20 bytes),
// where a call to bytes.IndexByte per field cost more than it saved (15 %
// of the parse in the profile).
func split(line []byte, f *[maxFields][]byte) int {
	n, start := 0, 0
	for i, c := range line {
		if c != ',' {
			continue
		}
		if n == maxFields-1 {
			return maxFields + 1
		}
		f[n] = line[start:i]
		n++
		start = i + 1
	}
	f[n] = line[start:]
	return n + 1
}

// unsafeString views b as a string without copying, for strconv only (which
// keeps no reference to its argument except in the error, which callers
// replace).
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
