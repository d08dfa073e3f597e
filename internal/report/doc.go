// Package report builds users' candle reports into object storage and
// hands out signed download URLs.
//
// Flow: Service.Create stores the request (queued) and enqueues a
// build_report job; the worker role's job calls Builder.BuildReport, which
// marks it running, streams the file to object storage and marks it done
// (with its key and size) or, on the job's last attempt or a permanent
// error, failed. CSV is streamed: candles are read from the store one page
// (market.MaxLimit) at a time and written through a pipe into the object,
// so a report of any size uses constant memory. PDF is written by the
// Renderer in Config.PDF (internal/report/pdf, wired by cmd/findash in the
// worker role), which reads the same pages through Pages; a Service without
// one fails PDF builds permanently.
//
// Downloads: Service.DownloadURL signs "/api/v1/reports/{id}/download"
// with an expiry (HMAC-SHA256 over the path and the expiry, keyed by
// Config.SigningKey); Service.Open checks the signature and expiry in
// constant time before opening the object. A URL works for anyone holding
// it until it expires, like an S3 presigned URL.
//
// Imports. report imports only the domain (market) and the standard
// library. It must not import a database driver, an object storage client,
// the job queue or the PDF and chart libraries: it reaches them through
// Store, Objects, Enqueuer and Renderer, so the API and the stores that
// import report's types link none of them.
package report
