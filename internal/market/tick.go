package market

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

// hardLimits are the widest bounds any configuration may set.
var hardLimits = Limits{MinPrice: HardMinPrice, MaxPrice: HardMaxPrice, MaxSize: HardMaxSize, MaxNotional: HardMaxNotional}

// Validate checks the tick's fields against the contract, with the widest
// bounds any configuration allows (the Hard* constants): a valid symbol, a
// timestamp between 2000 and 2100, a finite price within
// [HardMinPrice, HardMaxPrice], a finite size within [0, HardMaxSize] and a
// notional within HardMaxNotional. Ingest checks the configured, narrower
// Limits and the clock (Limits.Check).
func (t *Tick) Validate() error { return hardLimits.Values(t) }

// Before reports whether t comes before u in event order: by TS, then by Seq.
func (t *Tick) Before(u *Tick) bool {
	return t.TS < u.TS || (t.TS == u.TS && t.Seq < u.Seq)
}
