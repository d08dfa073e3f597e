package market

// Quote is the latest price of a symbol with its rolling 24 h statistics.
type Quote struct {
	Symbol       string  `json:"symbol"`
	Price        float64 `json:"price"`
	TS           int64   `json:"ts"` // ms since epoch, UTC, of the last tick
	Seq          uint64  `json:"seq"`
	Open24h      float64 `json:"open_24h"`
	High24h      float64 `json:"high_24h"`
	Low24h       float64 `json:"low_24h"`
	Volume24h    float64 `json:"volume_24h"`
	Change24h    float64 `json:"change_24h"`
	ChangePct24h float64 `json:"change_pct_24h"`
}
