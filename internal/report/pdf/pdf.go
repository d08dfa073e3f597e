package pdf

import (
	"bytes"
	"context"
	"fmt"
	"io"
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

	// Widths add up to the 277 mm between the margins of a landscape A4
	// page (a width of 0, "to the margin", left Volume 9 mm: it overlapped
	// Change %); a value wider than its cell is set smaller (fitCell).
	cols := []struct {
		title string
		width float64
		align string
	}{
		{"Symbol", 27, "L"}, {"Candles", 16, "R"}, {"Ticks", 17, "R"}, {"First (UTC)", 35, "L"}, {"Last (UTC)", 35, "L"},
		{"Open", 25, "R"}, {"High", 25, "R"}, {"Low", 25, "R"}, {"Close", 25, "R"}, {"Change %", 18, "R"}, {"Volume", 29, "R"},
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
			d := sum.decimals
			row = []string{sum.symbol, strconv.FormatInt(sum.candles, 10), strconv.FormatInt(sum.ticks, 10),
				report.FormatTime(sum.first), report.FormatTime(sum.last),
				report.FormatPrice(sum.open, d), report.FormatPrice(sum.high, d), report.FormatPrice(sum.low, d), report.FormatPrice(sum.close, d),
				chg, report.FormatVolume(sum.volume)}
		}
		for i, c := range cols {
			ln := 0
			if i == len(cols)-1 {
				ln = 1
			}
			fitCell(pdf, c.width, 6, row[i], ln, c.align)
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
		vol, err := volumePNG(bars)
		if err != nil {
			return fmt.Errorf("volume chart of %s: %w", sum.symbol, err)
		}
		// The candles (1200×450 px → 277×104 mm) and, under them on the same
		// page and time axis, the volume of each bar (1200×150 → 277×35).
		opts := fpdf.ImageOptions{ImageType: "PNG"}
		y := pdf.GetY() + 2
		pdf.RegisterImageOptionsReader("chart-"+sum.symbol, opts, bytes.NewReader(png))
		pdf.ImageOptions("chart-"+sum.symbol, 10, y, 277, 0, false, opts, 0, "")
		pdf.RegisterImageOptionsReader("volume-"+sum.symbol, opts, bytes.NewReader(vol))
		pdf.ImageOptions("volume-"+sum.symbol, 10, y+104+2, 277, 0, false, opts, 0, "")
	}
	if err := pdf.Error(); err != nil {
		return fmt.Errorf("build pdf: %w", err)
	}
	if err := pdf.Output(w); err != nil {
		return fmt.Errorf("write pdf: %w", err)
	}
	return nil
}

// fitCell writes a table cell, setting the text smaller (down to 5 pt) when
// it is wider than the cell so it never spills into its neighbour, and
// restores the font size.
func fitCell(pdf *fpdf.Fpdf, w, h float64, text string, ln int, align string) {
	size, _ := pdf.GetFontSize()
	for s := size; pdf.GetStringWidth(text) > w-2 && s > 5; {
		s -= 0.5
		pdf.SetFontSize(s)
	}
	pdf.CellFormat(w, h, text, "1", ln, align, false, 0, "")
	pdf.SetFontSize(size)
}

// volumePNG renders the volume of each bar as a bar chart, 1200×150 px,
// on the candles' time axis.
func volumePNG(bars []market.Candle) ([]byte, error) {
	vols := make([]float64, len(bars))
	labels := make([]string, len(bars))
	for i, c := range bars {
		vols[i] = market.RoundDerived(c.Volume)
		labels[i] = time.UnixMilli(c.Start).UTC().Format("01-02 15:04")
	}
	opt := charts.NewBarChartOptionWithData([][]float64{vols})
	opt.CategoryAxis = charts.CategoryAxisOption{Labels: labels}
	opt.Legend = charts.LegendOption{SeriesNames: []string{"Volume"}, Show: charts.Ptr(true)}
	p := charts.NewPainter(charts.PainterOptions{OutputFormat: charts.ChartOutputPNG, Width: 1200, Height: 150})
	if err := p.BarChart(opt); err != nil {
		return nil, err
	}
	return p.Bytes()
}

// chartPNG renders bars as a candlestick chart, 1200×450 px.
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
	p := charts.NewPainter(charts.PainterOptions{OutputFormat: charts.ChartOutputPNG, Width: 1200, Height: 450})
	if err := p.CandlestickChart(opt); err != nil {
		return nil, err
	}
	return p.Bytes()
}

func fmtMS(ms int64) string { return report.FormatTime(ms) }
