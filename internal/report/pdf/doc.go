// Package pdf renders candle reports as PDF documents: a summary table on
// page one (per symbol: candles, ticks, first and last bucket, open, high,
// low, close, change, volume) and one candlestick chart page per symbol. It
// implements report.Renderer; cmd/findash hands a *Renderer to the report
// service of the process that builds reports (the worker role).
//
// Memory. Each symbol's candles are read once, a page at a time, into a
// summary and a chart of at most MaxChartCandles bars (adjacent candles
// merged pairwise when the range holds more), so memory is bounded by the
// number of symbols, not the range. Each chart is rendered to a PNG with
// go-analyze/charts and laid out with fpdf, which holds the document in
// memory until it is written out.
//
// Concurrency. A Renderer keeps no state between documents; Render may run
// concurrently for different reports.
//
// Imports. pdf imports the report and market types, fpdf and
// go-analyze/charts. It must not import a store, object storage or the job
// queue: it reads candles only through the report.Pages it is given. Only
// cmd/findash imports it, so the API and the stores never link the PDF and
// chart libraries.
package pdf
