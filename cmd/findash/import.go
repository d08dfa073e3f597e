package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/findash/findash/internal/config"
	"github.com/findash/findash/internal/history"
	"github.com/findash/findash/internal/symbol"
)

// importCommand is `findash import binance|csv FILE...`: published trade
// history loaded into the database directly (internal/history).
func importCommand(environ []string, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Import trade history files into the database",
		Long: `Import trade history files into the database.

Files are loaded into the database directly (the SQLite file in --data-dir,
or PostgreSQL with --database-url), whether a server runs or not; their candles answer /api/v1/candles and
/udf/history at once. Importing a file again, or a file overlapping one
imported before, writes nothing twice: rows are identified by their trade id
(or, in a CSV without ids, by symbol, time and rank at that time). The live
state (quotes, 24 h statistics) does not see imported ticks. The symbols
imported are registered (source import, within --max-symbols), so symbol
searches (/udf/search) find them: before anything of theirs is written, and
a symbol past the cap stops the import. On a terminal a
progress bar shows rows/s and the time left; otherwise a line per file.`,
	}
	cmd.AddCommand(importBinanceCommand(environ, stdout, stderr), importCSVCommand(environ, stdout, stderr))
	return cmd
}

func importBinanceCommand(environ []string, stdout, stderr io.Writer) *cobra.Command {
	var symbol string
	c := &cobra.Command{
		Use:   "binance FILE...",
		Short: "Import Binance public-data dumps (spot aggTrades, trades and 1m klines)",
		Long: `Import Binance public-data dumps (spot aggTrades, trades and 1m klines).

FILE is a file of https://data.binance.vision as published, named
SYMBOL-aggTrades-DATE, SYMBOL-trades-DATE or SYMBOL-1m-DATE (klines), zipped
or not, with a header line or not; timestamps in milliseconds (files before
2025) or microseconds (from 2025) are told apart per file. The symbol comes
from the name, spelled as findash does (BTCUSDT: BTC-USDT), unless --symbol is
given.

Trades become ticks and the candles rolled up from them. Klines become
candles only: each 1m kline is merged into the 1m, 5m, 15m, 1h and 1d candles
of its minute (no 1s candle, no tick); minutes without trades are skipped.
Klines of other intervals are refused: findash rolls 1m up itself. Klines and
trades of the same market never share a minute: both would count the same
trades, so importing one kind into a minute holding candles of the other
(trades, or live ticks, for klines) is refused, naming the minute.`,
		Example: `  findash import binance BTCUSDT-aggTrades-2024-01-01.zip BTCUSDT-aggTrades-2024-01-02.zip
  findash import binance --symbol BTC-USD BTCUSDT-trades-2025-03.zip
  findash import binance ETHUSDT-1m-2024-01.zip`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			type job struct {
				path, sym string
				layout    history.Layout
			}
			jobs := make([]job, len(args))
			for i, a := range args {
				l, sym, err := history.BinanceFile(a, symbol)
				if err != nil {
					return err
				}
				jobs[i] = job{a, sym, l}
			}
			syms := make([]string, len(jobs))
			for i, j := range jobs {
				syms[i] = j.sym
			}
			return withImporter(cmd, environ, stdout, stderr, syms, func(ctx context.Context, im *history.Importer) error {
				for _, j := range jobs {
					if _, err := im.ImportFile(ctx, j.path, j.layout, j.sym); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	c.Flags().StringVar(&symbol, "symbol", "", "the symbol of every FILE (default: from the file name, BTCUSDT as BTC-USDT)")
	importFlags(c)
	return c
}

func importCSVCommand(environ []string, stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "csv FILE...",
		Short: "Import CSV files of ticks (symbol,ts,price[,size][,id])",
		Long: `Import CSV files of ticks (symbol,ts,price[,size][,id]).

The first line names the columns, in any order: symbol, ts (Unix
milliseconds, or microseconds, told apart per file), price, and optionally
size (default 0) and id (an integer below 2^56 identifying the row; rows of a
symbol in increasing id order). Without id, rows of a symbol must be in time
order and a row is identified by its time and its rank among the rows of that
time. A file may be zipped. A batch's new symbols are registered before it is
written: a symbol past --max-symbols stops the import there (the batches
before it stay; import the file again once there is room).`,
		Example: `  findash import csv ticks.csv
  printf 'symbol,ts,price,size\nBTC-USD,1764244800123,43123.5,0.25\n' > t.csv && findash import csv t.csv`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withImporter(cmd, environ, stdout, stderr, nil, func(ctx context.Context, im *history.Importer) error {
				for _, a := range args {
					if _, err := im.ImportFile(ctx, a, history.LayoutCSV, ""); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	importFlags(c)
	return c
}

// importFlags gives an import command the store's flags and the cap of the
// symbol registry its symbols are registered in.
func importFlags(c *cobra.Command) {
	config.StoreFlags(c.Flags())
	c.Flags().Int("max-symbols", symbol.DefaultMax, "the cap to register the imported symbols within; the same as the server's --max-symbols")
}

// withImporter opens the store of the configuration (SQLite or PostgreSQL)
// and runs fn with an importer into it that registers the symbols it
// imports (symbol.SourceImport), syms (the Binance files' symbols) before
// any file is read: all or none.
func withImporter(cmd *cobra.Command, environ []string, stdout, stderr io.Writer, syms []string, fn func(context.Context, *history.Importer) error) error {
	cfg, log, err := loadForTool(cmd.Flags(), environ, stderr)
	if err != nil {
		return err
	}
	st, err := openStore(cmd.Context(), cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	hs, ok := st.database.(history.Store)
	if !ok {
		return errors.New("this store cannot import history") // both stores can: a programmer error
	}
	reg := symbol.New(st, symbol.Config{Max: cfg.MaxSymbols}, log, nil)
	register := func(ctx context.Context, names []string) error {
		err := reg.Register(ctx, names, symbol.SourceImport)
		if re := (*symbol.RejectError)(nil); errors.As(err, &re) {
			more := ""
			if re.Count > 1 {
				more = fmt.Sprintf(" (and %d more new symbols)", re.Count-1)
			}
			return fmt.Errorf("symbol %s%s would pass the cap of %d registered symbols (raise --max-symbols or remove symbols with findash symbol remove); nothing of it written", re.Symbol, more, re.Max)
		}
		return err
	}
	if len(syms) > 0 {
		if err := register(cmd.Context(), syms); err != nil {
			return fmt.Errorf("import: %w", err)
		}
	}
	var prog history.Progress = &lineProgress{w: stdout, now: time.Now}
	if f, ok := stderr.(*os.File); ok && config.IsTerminal(f) {
		prog = &barProgress{w: stderr, out: stdout, now: time.Now}
	}
	return fn(cmd.Context(), history.New(hs, history.Config{Register: register}, prog))
}

// lineProgress prints a line per file, and one every 5 s of a long file.
type lineProgress struct {
	w          io.Writer
	now        func() time.Time
	name       string
	total      int64
	done, rows int64
	start, at  time.Time
}

func (p *lineProgress) Start(name string, total int64) {
	p.name, p.total, p.done, p.rows = name, total, 0, 0
	p.start = p.now()
	p.at = p.start
}

func (p *lineProgress) Advance(bytes, rows int64) {
	p.done += bytes
	p.rows += rows
	if now := p.now(); now.Sub(p.at) >= 5*time.Second {
		p.at = now
		pct := ""
		if p.total > 0 {
			pct = fmt.Sprintf(", %.0f%%", 100*float64(p.done)/float64(p.total))
		}
		fmt.Fprintf(p.w, "%s: %d rows%s, %.0f rows/s\n", p.name, p.rows, pct, float64(p.rows)/now.Sub(p.start).Seconds())
	}
}

func (p *lineProgress) Done(r history.Result) { printResult(p.w, r) }

func printResult(w io.Writer, r history.Result) {
	unit := "ms"
	if r.Micros {
		unit = "µs"
	}
	rate := float64(r.Rows) / max(r.Elapsed.Seconds(), 1e-9)
	fmt.Fprintf(w, "%s: %d rows (timestamps in %s), %d new, %d already imported, in %s (%.0f rows/s)\n",
		r.File, r.Rows, unit, r.Written, r.Rows-r.Written, r.Elapsed.Round(time.Millisecond), rate)
}

// barProgress draws a progress bar (bytes, rows/s, time left) on a terminal.
type barProgress struct {
	w, out io.Writer
	now    func() time.Time
	bar    *progressbar.ProgressBar
	rows   int64
	start  time.Time
}

func (p *barProgress) Start(name string, total int64) {
	p.rows, p.start = 0, p.now()
	p.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(p.w), progressbar.OptionSetDescription(name),
		progressbar.OptionShowBytes(true), progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish(),
		progressbar.OptionFullWidth())
}

func (p *barProgress) Advance(bytes, rows int64) {
	p.rows += rows
	p.bar.Describe(fmt.Sprintf("%d rows, %.0f rows/s", p.rows, float64(p.rows)/max(p.now().Sub(p.start).Seconds(), 1e-9)))
	p.bar.Add64(bytes)
}

func (p *barProgress) Done(r history.Result) {
	p.bar.Finish()
	printResult(p.out, r)
}
