// Package archive keeps raw ticks past the database's retention as Parquet
// files in object storage (a directory on disk or an S3 bucket), where
// standard tools (DuckDB, pandas/pyarrow, Spark, Trino) read them, and
// reads them back for findash's own API.
//
// Layout. Hive-style partitions by UTC day and symbol:
//
//	ticks/date=2026-12-01/manifest.json
//	ticks/date=2026-12-01/symbol=BTC-USD/part-0000-<sha256 prefix>.parquet
//	ticks/date=2026-12-01/symbol=EUR%2FUSD/part-0000-….parquet
//
// A file holds one symbol's ticks of one day sorted by (ts, seq), columns
// ts TIMESTAMP(MILLIS, UTC), seq INT64, price DOUBLE, size DOUBLE (row),
// zstd-compressed, in row groups of DefaultRowGroupRows; a day with more
// than DefaultMaxFileRows ticks has several parts. The day's manifest
// (Manifest) lists every symbol's parts with rows, bytes, ts range and
// SHA-256, so readers find files without listing the bucket.
//
// Crash safety. ArchiveBefore writes a part, reads it back (size,
// checksum, footer row count), then replaces the day's manifest entry and
// reads the manifest back; only then is the day reported archived
// (Result.Until), and retention deletes ticks before Until only. A crash
// anywhere leaves the ticks in the database; the next run merges them with
// what the archive already holds and writes the same bytes under the same
// keys (part names carry their content's hash), replacing the entry, so
// the archive never holds a tick twice. Parts a rewritten entry no longer
// lists are deleted when the store can delete; left behind, they cost
// storage only.
//
// Concurrency. An Archiver's calls are safe for concurrent use, but two
// runs archiving the same day at once race on the day's manifest (the last
// write wins, and both hold the same ticks unless one saw a late tick):
// the worker runs archiving from its one retention job, and `findash
// archive` is for an operator, not a second schedule.
//
// Memory. A symbol-day is held in memory while it is written: 48 bytes
// per tick (twice while merging with what the archive holds) plus its
// encoded file and the copy read back, so ~100 MB per 1M ticks of the
// busiest symbol-day.
//
// Imports. archive imports the domain (market), parquet-go and the
// Prometheus client. It must not import a store, the object store adapter
// or the job queue: it reads through Source, writes through Objects, and
// cmd/findash wires them.
package archive
