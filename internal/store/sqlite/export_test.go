package sqlite

// SetRowsPerStatement changes how many rows one tick INSERT and one candle
// upsert carry, for benchmarking the strategies; it returns a func restoring
// the defaults. Not safe while writes are running.
func SetRowsPerStatement(ticks, candles int) (restore func()) {
	t, c := tickInsert.rowsPer, candleUpsert.rowsPer
	tickInsert.rowsPer, candleUpsert.rowsPer = ticks, candles
	return func() { tickInsert.rowsPer, candleUpsert.rowsPer = t, c }
}
