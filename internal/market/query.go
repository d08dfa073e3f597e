package market

// MaxLimit and DefaultLimit bound every paginated list.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// CandleQuery selects the candles of one symbol and interval whose Start lies
// in [From, To] (ms, UTC, both inclusive), oldest first, at most Limit: the
// oldest Limit of the range, or with Newest the newest Limit (still
// returned oldest first).
type CandleQuery struct {
	Symbol   string
	Interval Interval
	From     int64
	To       int64
	Limit    int
	// Newest keeps the newest Limit candles of the range instead of the
	// oldest (TradingView's countback: "the N bars before to").
	Newest bool
}
