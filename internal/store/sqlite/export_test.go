package sqlite

import "context"

// SetRowsPerStatement changes how many rows one tick INSERT and one candle
// upsert carry, for benchmarking the strategies; it returns a func restoring
// the defaults. Not safe while writes are running.
func SetRowsPerStatement(ticks, candles int) (restore func()) {
	t, c := tickInsert.rowsPer, candleUpsert.rowsPer
	tickInsert.rowsPer, candleUpsert.rowsPer = ticks, candles
	return func() { tickInsert.rowsPer, candleUpsert.rowsPer = t, c }
}

// CacheSizes returns PRAGMA cache_size as the writer connection and a
// reader connection see it (negative: KiB).
func (db *DB) CacheSizes(ctx context.Context) (writer, reader int, err error) {
	if err := db.w.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&writer); err != nil {
		return 0, 0, err
	}
	if err := db.r.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&reader); err != nil {
		return 0, 0, err
	}
	return writer, reader, nil
}
