package history

import (
	"archive/zip"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/findash/findash/internal/market"
)

// Store is where imported ticks go; the SQLite store implements it.
type Store interface {
	// ImportTicks writes ticks of one symbol from source, ordered by Seq
	// (their key), in one transaction: the ticks whose key lies in a range
	// already imported from source for that symbol are skipped, the others
	// stored with the candles rolled up from them, and the batch's key
	// range recorded. It returns how many were written. Importing the same
	// rows again therefore writes nothing, even after retention deleted
	// their ticks.
	ImportTicks(ctx context.Context, source string, ticks []market.Tick) (written int, err error)
	// ImportCandles writes 1m candles of one symbol from source (klines),
	// ordered by FirstSeq (their key), in one transaction, with the same
	// key-range deduplication as ImportTicks: the candles not imported
	// before are merged into the stored 1m candles and the coarser ones
	// they roll up into (5m … 1d; not 1s, finer than a kline). It returns
	// how many it wrote.
	ImportCandles(ctx context.Context, source string, candles []market.Candle) (written int, err error)
	// Candles returns the stored candles of q (oldest first), for the check
	// that klines and trades never share a minute (mix.go).
	Candles(ctx context.Context, q market.CandleQuery) ([]market.Candle, error)
}

// Progress hears about an import as it goes; cmd/findash draws a bar or
// prints lines. Its methods are called from the importing goroutine.
type Progress interface {
	// Start begins file name of total bytes (-1: unknown).
	Start(name string, total int64)
	// Advance reports bytes read and rows parsed since the last call.
	Advance(bytes, rows int64)
	// Done ends the file.
	Done(r Result)
}

// Result is one file's import.
type Result struct {
	File    string
	Symbol  string // the Binance layouts' symbol; "" for the generic CSV
	Layout  Layout
	Micros  bool  // timestamps were in microseconds
	Rows    int64 // rows parsed
	Written int64 // ticks (klines: 1m candles) written; Rows-Written were already imported
	Elapsed time.Duration
}

// Config tunes an Importer.
type Config struct {
	// Batch is how many rows are written per transaction (default 10,000).
	Batch int
	// Now is the clock (default time.Now), for Result.Elapsed.
	Now func() time.Time
	// Register, when set, is called with the symbols of a batch that this
	// Importer has not registered yet, before anything of the batch is
	// written (cmd/findash registers them in the symbol registry). An error
	// stops the import with nothing of that batch written; batches written
	// before stay, as after a bad row.
	Register func(ctx context.Context, symbols []string) error
}

// Importer loads files into a Store. Not safe for concurrent use: one
// goroutine imports its files one after the other.
type Importer struct {
	store      Store
	cfg        Config
	prog       Progress
	registered map[string]struct{} // symbols Config.Register took; at most the registry's cap
}

// New returns an Importer into store reporting to prog (nil: none).
func New(store Store, cfg Config, prog Progress) *Importer {
	if cfg.Batch <= 0 {
		cfg.Batch = 10_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if prog == nil {
		prog = nopProgress{}
	}
	return &Importer{store: store, cfg: cfg, prog: prog, registered: map[string]struct{}{}}
}

// register passes the symbols of syms not registered yet to
// Config.Register, all of them in one call.
func (im *Importer) register(ctx context.Context, syms []string) error {
	if im.cfg.Register == nil {
		return nil
	}
	var fresh []string
	for _, s := range syms {
		if _, ok := im.registered[s]; !ok {
			fresh = append(fresh, s)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	sort.Strings(fresh)
	if err := im.cfg.Register(ctx, fresh); err != nil {
		return fmt.Errorf("register %d new symbols (%s…): %w", len(fresh), fresh[0], err)
	}
	for _, s := range fresh {
		im.registered[s] = struct{}{}
	}
	return nil
}

type nopProgress struct{}

func (nopProgress) Start(string, int64)  {}
func (nopProgress) Advance(int64, int64) {}
func (nopProgress) Done(Result)          {}

// BinanceFile names the layout and symbol of a Binance public-data file
// from its name, as published: BTCUSDT-aggTrades-2024-01-01.zip,
// BTCUSDT-trades-2025-03.csv. symbol, when not empty, overrides the name's.
func BinanceFile(path, symbol string) (Layout, string, error) {
	base := filepath.Base(path)
	parts := strings.Split(base, "-")
	if len(parts) < 2 {
		return 0, "", market.Invalid("file", "%s is not named like a Binance dump (SYMBOL-aggTrades-DATE.zip, SYMBOL-trades-DATE.zip or SYMBOL-1m-DATE.zip)", base)
	}
	var l Layout
	switch parts[1] {
	case "aggTrades":
		l = LayoutBinanceAggTrades
	case "trades":
		l = LayoutBinanceTrades
	case "1m":
		l = LayoutBinanceKlines1m
	case "1s", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1mo":
		// One interval only: klines of two intervals of one market overlap,
		// and merged they would count each trade twice (decision 0026).
		return 0, "", market.Invalid("file", "%s: %s klines are not imported, only 1m klines (findash rolls 1m up into 5m, 15m, 1h and 1d)", base, parts[1])
	default:
		return 0, "", market.Invalid("file", "%s: %q dumps are not imported (aggTrades, trades and 1m klines are)", base, truncate(parts[1]))
	}
	if symbol == "" {
		symbol = NormalizeBinance(parts[0])
	}
	if err := market.CheckSymbol("symbol", symbol); err != nil {
		return 0, "", err
	}
	return l, symbol, nil
}

// binanceQuotes are the quote assets findash splits Binance symbols at,
// longest first within a shared suffix.
var binanceQuotes = []string{"FDUSD", "USDT", "USDC", "TUSD", "BUSD", "DAI", "BTC", "ETH", "BNB", "EUR", "TRY", "BRL", "GBP", "JPY", "AUD", "USD"}

// NormalizeBinance spells a Binance symbol as findash does: BTCUSDT →
// BTC-USDT. A symbol with no known quote asset is returned as is.
func NormalizeBinance(s string) string {
	s = strings.ToUpper(s)
	for _, q := range binanceQuotes {
		if base, ok := strings.CutSuffix(s, q); ok && base != "" {
			return base + "-" + q
		}
	}
	return s
}

// ImportFile imports one file, plain CSV or a zip of CSV files, in layout
// (symbol: the Binance layouts' symbol). A bad row stops the file with an
// error naming its line; what was written before stays (importing the file
// again after fixing it skips those rows).
func (im *Importer) ImportFile(ctx context.Context, path string, layout Layout, symbol string) (Result, error) {
	res := Result{File: path, Layout: layout}
	if layout != LayoutCSV {
		res.Symbol = symbol
	}
	start := im.cfg.Now()
	f, err := os.Open(path)
	if err != nil {
		return res, fmt.Errorf("import %s: %w", path, err)
	}
	defer f.Close()
	var head [4]byte
	n, _ := io.ReadFull(f, head[:])
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return res, fmt.Errorf("import %s: %w", path, err)
	}
	if n == 4 && string(head[:]) == "PK\x03\x04" {
		err = im.importZip(ctx, f, path, layout, symbol, &res)
	} else {
		total := int64(-1)
		if st, err := f.Stat(); err == nil {
			total = st.Size()
		}
		im.prog.Start(path, total)
		err = im.importCSV(ctx, f, path, NewParser(layout, symbol), &res)
	}
	res.Elapsed = im.cfg.Now().Sub(start)
	im.prog.Done(res)
	return res, err
}

func (im *Importer) importZip(ctx context.Context, f *os.File, path string, layout Layout, symbol string, res *Result) error {
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	zr, err := zip.NewReader(f, st.Size())
	if err != nil {
		return fmt.Errorf("import %s: %w", path, market.Invalid("file", "not a readable zip: %v", err))
	}
	var total int64
	var csvs []*zip.File
	for _, e := range zr.File {
		if strings.HasSuffix(strings.ToLower(e.Name), ".csv") {
			csvs = append(csvs, e)
			total += int64(e.UncompressedSize64)
		}
	}
	if len(csvs) == 0 {
		return fmt.Errorf("import %s: %w", path, market.Invalid("file", "the zip holds no .csv file"))
	}
	im.prog.Start(path, total)
	for _, e := range csvs {
		rc, err := e.Open()
		if err != nil {
			return fmt.Errorf("import %s: %s: %w", path, e.Name, err)
		}
		err = im.importCSV(ctx, rc, path+":"+e.Name, NewParser(layout, symbol), res)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// importCSV parses r line by line and writes batches of ticks per symbol.
func (im *Importer) importCSV(ctx context.Context, r io.Reader, name string, p *Parser, res *Result) error {
	counter := &countingReader{r: r}
	br := bufio.NewReaderSize(counter, 64<<10)
	batch := map[string][]market.Tick{}
	var klines []market.Candle // LayoutBinanceKlines1m: one symbol
	pending := 0
	var lastBytes, lastRows int64
	var syms []string
	flush := func() error {
		syms = syms[:0]
		if len(klines) > 0 {
			syms = append(syms, klines[0].Symbol)
		}
		for sym, ticks := range batch {
			if len(ticks) > 0 {
				syms = append(syms, sym)
			}
		}
		if err := im.register(ctx, syms); err != nil {
			return fmt.Errorf("import %s: %w", name, err)
		}
		if len(klines) > 0 {
			if err := im.checkMix(ctx, klines[0].Symbol, klines[0].Start, klines[len(klines)-1].Start, true); err != nil {
				return fmt.Errorf("import %s: %w", name, err)
			}
			w, err := im.store.ImportCandles(ctx, p.layout.Source(), klines)
			if err != nil {
				return fmt.Errorf("import %s: write %d klines of %s: %w", name, len(klines), klines[0].Symbol, err)
			}
			res.Written += int64(w)
			klines = klines[:0]
		}
		for sym, ticks := range batch {
			if len(ticks) == 0 {
				continue
			}
			lo, hi := ticks[0].TS, ticks[0].TS
			for i := range ticks {
				lo, hi = min(lo, ticks[i].TS), max(hi, ticks[i].TS)
			}
			if err := im.checkMix(ctx, sym, lo, hi, false); err != nil {
				return fmt.Errorf("import %s: %w", name, err)
			}
			w, err := im.store.ImportTicks(ctx, p.layout.Source(), ticks)
			if err != nil {
				return fmt.Errorf("import %s: write %d ticks of %s: %w", name, len(ticks), sym, err)
			}
			res.Written += int64(w)
			batch[sym] = ticks[:0]
		}
		pending = 0
		im.prog.Advance(counter.n-lastBytes, res.Rows-lastRows)
		lastBytes, lastRows = counter.n, res.Rows
		return nil
	}
	var t market.Tick
	var c market.Candle
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return fmt.Errorf("import %s: %w", name, p.errorf("", "longer than %d bytes", MaxLine))
		}
		if len(line) > 0 {
			var ok bool
			var perr error
			if p.layout == LayoutBinanceKlines1m {
				ok, perr = p.ParseKline(trimNewline(line), &c)
			} else {
				ok, perr = p.Parse(trimNewline(line), &t)
			}
			if perr != nil {
				return fmt.Errorf("import %s: %w", name, perr)
			}
			if ok {
				res.Rows++
				if p.layout == LayoutBinanceKlines1m {
					klines = append(klines, c)
				} else {
					batch[t.Symbol] = append(batch[t.Symbol], t)
				}
				if pending++; pending >= im.cfg.Batch {
					if err := flush(); err != nil {
						return err
					}
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("import %s: read: %w", name, err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("import %s: %w", name, ctx.Err())
		}
	}
	res.Micros = res.Micros || p.Micros()
	return flush()
}

func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		return b[:n-1]
	}
	return b
}

// countingReader counts the bytes read through it, for the progress.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}
