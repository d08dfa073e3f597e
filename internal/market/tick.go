package market

import "math"

// Tick is one trade or price update.
type Tick struct {
	Symbol string  `json:"symbol"`
	TS     int64   `json:"ts"` // ms since epoch, UTC (event time)
	Price  float64 `json:"price"`
	Size   float64 `json:"size"`
	// Seq is assigned by the event log: strictly increasing per symbol across
	// every instance. Zero until the tick has been logged.
	Seq uint64 `json:"seq,omitempty"`
}

// Timestamps outside [MinTS, MaxTS] are rejected: they are almost always a
// unit mistake (seconds or microseconds instead of milliseconds).
const (
	MinTS int64 = 946684800000  // 2000-01-01T00:00:00Z
	MaxTS int64 = 4102444800000 // 2100-01-01T00:00:00Z
)

// Validate checks the tick's fields against the contract: a valid symbol,
// a timestamp in range, price > 0 and finite, size ≥ 0 and finite.
func (t *Tick) Validate() error {
	if err := CheckSymbol("symbol", t.Symbol); err != nil {
		return err
	}
	if t.TS < MinTS || t.TS > MaxTS {
		return Invalid("ts", "%d is not a Unix millisecond time between 2000 and 2100", t.TS)
	}
	if !(t.Price > 0) || math.IsInf(t.Price, 0) {
		return Invalid("price", "must be > 0 and finite")
	}
	if !(t.Size >= 0) || math.IsInf(t.Size, 0) {
		return Invalid("size", "must be >= 0 and finite")
	}
	return nil
}

// Before reports whether t comes before u in event order: by TS, then by Seq.
func (t *Tick) Before(u *Tick) bool {
	return t.TS < u.TS || (t.TS == u.TS && t.Seq < u.Seq)
}
