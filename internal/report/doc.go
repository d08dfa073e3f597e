// Package report builds users' candle reports into object storage and
// hands out signed download URLs.
//
// Flow: Service.Create stores the request (queued) and enqueues a
// build_report job; the worker role's job calls Builder.BuildReport, which
// marks it running, streams the file to object storage and marks it done
// (with its key and size) or, on the job's last attempt or a permanent
// error, failed. CSV is streamed: candles are read from the store one page
// (market.MaxLimit) at a time and written through a pipe into the object,
// so a report of any size uses constant memory. PDF (pdf.go) reads the same
// pages into a per-symbol summary (count, first/last, open, high, low,
// close, change, volume) and a chart of at most MaxChartCandles bars
// (adjacent candles merged pairwise when the range holds more), renders
// each chart to a PNG with go-analyze/charts and lays out the document
// with fpdf: a summary table on page one, one chart page per symbol. Its
// memory is bounded by the number of symbols, not the range; fpdf holds
// the document in memory until it is written to the pipe.
//
// Downloads: Service.DownloadURL signs "/api/v1/reports/{id}/download"
// with an expiry (HMAC-SHA256 over the path and the expiry, keyed by
// Config.SigningKey); Service.Open checks the signature and expiry in
// constant time before opening the object. A URL works for anyone holding
// it until it expires, like an S3 presigned URL.
//
// Imports. report imports only the domain (market) besides its PDF
// renderer's libraries. It must not import a database driver, an object
// storage client or the job queue: it reaches them through Store, Objects
// and Enqueuer.
package report
