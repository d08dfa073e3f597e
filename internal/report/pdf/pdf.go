package pdf

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"codeberg.org/go-pdf/fpdf"
	"github.com/go-analyze/charts"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/report"
)

// Config configures a Renderer.
type Config struct {
	// Now is the clock that dates each document (default time.Now).
	Now func() time.Time
}

// Renderer renders candle reports as PDF documents; it implements
// report.Renderer. It holds no state between documents and is safe for
// concurrent use.
type Renderer struct {
	now func() time.Time
}

// New returns a Renderer.
func New(cfg Config) *Renderer {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Renderer{now: cfg.Now}
}

// Render writes r as a PDF: a title, a summary table with one row per
// symbol, then one page per symbol with its candlestick chart (a PNG
// rendered by go-analyze/charts). A symbol without candles gets a row of
// dashes and a page that says so. It reads each symbol's candles once,
// through pages, into a summary and a chart of at most MaxChartCandles
// bars.
func (rd *Renderer) Render(ctx context.Context, r report.Report, pages report.Pages, w io.Writer) error {
	sums := make([]*symbolSummary, 0, len(r.Symbols))
	for _, sym := range r.Symbols {
		sum := &symbolSummary{symbol: sym}
		err := pages(ctx, sym, func(cs []market.Candle) error {
			for i := range cs {
				sum.add(&cs[i])
			}
			return nil
		})
		if err != nil {
			return err
		}
		sums = append(sums, sum)
	}

	pdf := fpdf.New("L", "mm", "A4", "")
	pdf.SetTitle("findash report "+strconv.FormatInt(r.ID, 10), true)
	pdf.SetCreator("findash", true)
	pdf.SetCreationDate(rd.now().UTC())
	pdf.SetAutoPageBreak(true, 12)
	pdf.AddPage()
	pdf.SetFont("Helvetica", "B", 16)
	pdf.CellFormat(0, 10, "findash candle report", "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 10)
	pdf.CellFormat(0, 6, fmt.Sprintf("Interval %s, from %s to %s (UTC)", r.Interval, fmtMS(r.From), fmtMS(r.To)), "", 1, "L", false, 0, "")
	pdf.Ln(4)

	cols := []struct {
		title string
		width float64
		align string
	}{
		{"Symbol", 38, "L"}, {"Candles", 20, "R"}, {"Ticks", 22, "R"}, {"First", 36, "L"}, {"Last", 36, "L"},
		{"Open", 24, "R"}, {"High", 24, "R"}, {"Low", 24, "R"}, {"Close", 24, "R"}, {"Change %", 20, "R"}, {"Volume", 0, "R"},
	}
	pdf.SetFont("Helvetica", "B", 9)
	pdf.SetFillColor(230, 230, 230)
	for i, c := range cols {
		ln := 0
		if i == len(cols)-1 {
			ln = 1
		}
		pdf.CellFormat(c.width, 7, c.title, "1", ln, c.align, true, 0, "")
	}
	pdf.SetFont("Helvetica", "", 9)
	for _, sum := range sums {
		row := []string{sum.symbol, "0", "0", "-", "-", "-", "-", "-", "-", "-", "-"}
		if sum.candles > 0 {
			chg := "-"
			if sum.open != 0 {
				chg = strconv.FormatFloat((sum.close-sum.open)/sum.open*100, 'f', 2, 64)
			}
			row = []string{sum.symbol, strconv.FormatInt(sum.candles, 10), strconv.FormatInt(sum.ticks, 10),
				fmtMS(sum.first), fmtMS(sum.last), fmtPrice(sum.open), fmtPrice(sum.high), fmtPrice(sum.low), fmtPrice(sum.close),
				chg, fmtPrice(sum.volume)}
		}
		for i, c := range cols {
			ln := 0
			if i == len(cols)-1 {
				ln = 1
			}
			pdf.CellFormat(c.width, 6, row[i], "1", ln, c.align, false, 0, "")
		}
	}

	for _, sum := range sums {
		if err := ctx.Err(); err != nil {
			return err
		}
		pdf.AddPage()
		pdf.SetFont("Helvetica", "B", 14)
		pdf.CellFormat(0, 9, sum.symbol+" - "+r.Interval.String()+" candles", "", 1, "L", false, 0, "")
		bars := sum.bars()
		if len(bars) == 0 {
			pdf.SetFont("Helvetica", "", 10)
			pdf.CellFormat(0, 6, "No candles in this range.", "", 1, "L", false, 0, "")
			continue
		}
		if sum.perBar > 1 {
			pdf.SetFont("Helvetica", "", 9)
			pdf.CellFormat(0, 5, fmt.Sprintf("Each bar merges %d %s candles.", sum.perBar, r.Interval), "", 1, "L", false, 0, "")
		}
		png, err := chartPNG(sum.symbol, bars)
		if err != nil {
			return fmt.Errorf("chart of %s: %w", sum.symbol, err)
		}
		name := "chart-" + sum.symbol
		opts := fpdf.ImageOptions{ImageType: "PNG"}
		pdf.RegisterImageOptionsReader(name, opts, bytes.NewReader(png))
		pdf.ImageOptions(name, 10, pdf.GetY()+2, 277, 0, false, opts, 0, "")
	}
	if err := pdf.Error(); err != nil {
		return fmt.Errorf("build pdf: %w", err)
	}
	if err := pdf.Output(w); err != nil {
		return fmt.Errorf("write pdf: %w", err)
	}
	return nil
}

// chartPNG renders bars as a candlestick chart, 1200×600 px.
func chartPNG(symbol string, bars []market.Candle) ([]byte, error) {
	data := make([]charts.OHLCData, len(bars))
	labels := make([]string, len(bars))
	for i, c := range bars {
		data[i] = charts.OHLCData{Open: c.Open, High: c.High, Low: c.Low, Close: c.Close}
		labels[i] = time.UnixMilli(c.Start).UTC().Format("01-02 15:04")
	}
	opt := charts.NewCandlestickOptionWithData(data)
	opt.XAxis = charts.XAxisOption{Labels: labels}
	opt.Legend = charts.LegendOption{SeriesNames: []string{symbol}, Show: charts.Ptr(true)}
	p := charts.NewPainter(charts.PainterOptions{OutputFormat: charts.ChartOutputPNG, Width: 1200, Height: 600})
	if err := p.CandlestickChart(opt); err != nil {
		return nil, err
	}
	return p.Bytes()
}

func fmtMS(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05") }

func fmtPrice(v float64) string {
	if math.Abs(v) >= 1000 {
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 8, 64)
}
