package report

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/findash/findash/internal/market"
)

// Pages reads one symbol's candles in a report's range, oldest first, and
// calls page with each page of at most market.MaxLimit of them, so a
// renderer of any range holds one page at a time. It stops at page's first
// error and returns it.
type Pages func(ctx context.Context, symbol string, page func([]market.Candle) error) error

// Renderer writes a report in a format the Service does not write itself
// (PDF: *pdf.Renderer in internal/report/pdf, which holds the layout and
// chart libraries so that nothing importing report links them). Render is
// called once per build, concurrently for different reports; it reads r's
// candles through pages and writes the whole file to w.
type Renderer interface {
	Render(ctx context.Context, r Report, pages Pages, w io.Writer) error
}

// pages returns the Pages of r's range, read from the store a page
// (market.MaxLimit candles) at a time: closed candles only, those whose
// bucket ended before now (the build's start), so the CSV and the PDF of
// a range hold the same candles and never a still-moving one.
func (s *Service) pages(r Report, now time.Time) Pages {
	to := closedTo(r.To, r.Interval, now)
	return func(ctx context.Context, sym string, page func([]market.Candle) error) error {
		from := r.From
		for from <= to {
			cs, err := s.store.Candles(ctx, market.CandleQuery{Symbol: sym, Interval: r.Interval, From: from, To: to, Limit: market.MaxLimit})
			if err != nil {
				return fmt.Errorf("read candles of %s: %w", sym, err)
			}
			if len(cs) > 0 {
				if err := page(cs); err != nil {
					return err
				}
			}
			if len(cs) < market.MaxLimit {
				return nil
			}
			from = cs[len(cs)-1].Start + 1
		}
		return nil
	}
}
