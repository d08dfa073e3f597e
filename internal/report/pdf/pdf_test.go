package pdf_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/report"
	"github.com/findash/findash/internal/report/pdf"
)

const t0 = int64(1_764_244_800_000) // 2025-11-27 12:00 UTC

// pagesOf serves counts[sym] consecutive 1m candles of each symbol from
// t0, in pages of market.MaxLimit as the report service reads its store.
func pagesOf(counts map[string]int) report.Pages {
	return func(ctx context.Context, sym string, page func([]market.Candle) error) error {
		n := counts[sym]
		for start := 0; start < n; start += market.MaxLimit {
			cs := make([]market.Candle, min(market.MaxLimit, n-start))
			for k := range cs {
				i := start + k
				o := 100 + float64(i%17) - float64(i%5)
				c := o + float64(i%3) - 1
				cs[k] = market.Candle{Symbol: sym, Interval: market.Interval1m, Start: t0 + int64(i)*60_000,
					Open: o, High: max(o, c) + 0.5, Low: min(o, c) - 0.25, Close: c, Volume: float64(i%7) + 0.5, Count: int64(i%4 + 1)}
			}
			if err := page(cs); err != nil {
				return err
			}
		}
		return nil
	}
}

// pdfText returns the PDF's uncompressed content: every stream inflated
// when it is zlib data, else as is.
func pdfText(t *testing.T, b []byte) string {
	t.Helper()
	var sb strings.Builder
	rest := b
	for {
		i := bytes.Index(rest, []byte("stream\n"))
		if i < 0 {
			break
		}
		sb.Write(rest[:i])
		rest = rest[i+len("stream\n"):]
		j := bytes.Index(rest, []byte("endstream"))
		if j < 0 {
			t.Fatal("PDF stream without endstream")
		}
		if zr, err := zlib.NewReader(bytes.NewReader(rest[:j])); err == nil {
			if data, err := io.ReadAll(zr); err == nil {
				sb.Write(data)
			}
		} else {
			sb.Write(rest[:j])
		}
		rest = rest[j+len("endstream"):]
	}
	sb.Write(rest)
	return sb.String()
}

// TestPDF renders a report of three symbols — one with more candles than
// MaxChartCandles, so its chart merges them, and one with none — and reads
// the document's text back.
func TestPDF(t *testing.T) {
	counts := map[string]int{"BTC-USD": 700, "AAPL": 30}
	r := report.Report{ID: 7, Symbols: []string{"AAPL", "BTC-USD", "NO-CANDLES"}, Interval: market.Interval1m,
		From: t0, To: t0 + 10_000*60_000, Format: report.PDF}
	var buf bytes.Buffer
	if err := pdf.New(pdf.Config{}).Render(t.Context(), r, pagesOf(counts), &buf); err != nil {
		t.Fatalf("Render() error: %v", err)
	}
	b := buf.Bytes()
	if !bytes.HasPrefix(b, []byte("%PDF-")) || !bytes.Contains(b[max(0, len(b)-32):], []byte("%%EOF")) {
		t.Fatalf("PDF starts %.16q, ends %q; want %%PDF- … %%%%EOF", b, b[max(0, len(b)-32):])
	}
	text := pdfText(t, b)
	for _, want := range []string{"(AAPL)", "(BTC-USD)", "(NO-CANDLES)", "(Symbol)", "(Change %)", "(700)",
		"(AAPL - 1m candles)", "(BTC-USD - 1m candles)", "(No candles in this range.)", "(Each bar merges 4 1m candles.)"} {
		if !strings.Contains(text, want) {
			t.Errorf("PDF content lacks %s", want)
		}
	}
	// Two charts with their volume under them, each a PNG image XObject.
	if n := strings.Count(text, "/Subtype /Image"); n != 4 {
		t.Errorf("PDF holds %d images, want 4 (a candle chart and a volume chart per symbol with candles)", n)
	}
}

// TestPDFReadError: a failed read ends the render with that error.
func TestPDFReadError(t *testing.T) {
	boom := errors.New("store down")
	pages := func(context.Context, string, func([]market.Candle) error) error { return boom }
	r := report.Report{Symbols: []string{"AAPL"}, Interval: market.Interval1m, From: t0, To: t0, Format: report.PDF}
	if err := pdf.New(pdf.Config{}).Render(t.Context(), r, pages, io.Discard); !errors.Is(err, boom) {
		t.Fatalf("Render() with a failing read = %v, want %v", err, boom)
	}
}
