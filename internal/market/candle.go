package market

// Candle is the OHLCV summary of the ticks of one symbol in one bucket.
//
// The zero Candle (Count == 0) is empty; Apply and Merge on it adopt the
// other side. The First*/Last* fields record which ticks are the open and the
// close so that partial candles merge in any order to the same result; stores
// keep them so a late tick can update a stored candle correctly.
type Candle struct {
	Symbol   string   `json:"symbol"`
	Interval Interval `json:"interval"`
	Start    int64    `json:"start"` // bucket start, ms since epoch, UTC
	Open     float64  `json:"open"`
	High     float64  `json:"high"`
	Low      float64  `json:"low"`
	Close    float64  `json:"close"`
	Volume   float64  `json:"volume"`
	Count    int64    `json:"count"`

	FirstTS  int64  `json:"-"` // TS of the open tick
	FirstSeq uint64 `json:"-"` // Seq of the open tick
	LastTS   int64  `json:"-"` // TS of the close tick
	LastSeq  uint64 `json:"-"` // Seq of the close tick
}

// NewCandle returns the candle of interval iv that holds only t.
func NewCandle(iv Interval, t *Tick) Candle {
	return Candle{
		Symbol: t.Symbol, Interval: iv, Start: iv.Start(t.TS),
		Open: t.Price, High: t.Price, Low: t.Price, Close: t.Price,
		Volume: t.Size, Count: 1,
		FirstTS: t.TS, FirstSeq: t.Seq, LastTS: t.TS, LastSeq: t.Seq,
	}
}

// Apply adds tick t to c. The caller guarantees t falls in c's bucket
// (c.Interval.Start(t.TS) == c.Start) or that c is empty.
func (c *Candle) Apply(t *Tick) {
	if c.Count == 0 {
		*c = NewCandle(c.Interval, t)
		return
	}
	if t.Price > c.High {
		c.High = t.Price
	}
	if t.Price < c.Low {
		c.Low = t.Price
	}
	c.Volume += t.Size
	c.Count++
	if t.TS < c.FirstTS || (t.TS == c.FirstTS && t.Seq < c.FirstSeq) {
		c.Open, c.FirstTS, c.FirstSeq = t.Price, t.TS, t.Seq
	}
	if t.TS > c.LastTS || (t.TS == c.LastTS && t.Seq >= c.LastSeq) {
		c.Close, c.LastTS, c.LastSeq = t.Price, t.TS, t.Seq
	}
}

// Merge folds o (a partial candle of the same symbol, interval and bucket)
// into c. Merge is commutative and associative, so partial candles computed
// from disjoint sets of ticks merge to the candle of their union.
func (c *Candle) Merge(o *Candle) {
	if o.Count == 0 {
		return
	}
	if c.Count == 0 {
		*c = *o
		return
	}
	if o.High > c.High {
		c.High = o.High
	}
	if o.Low < c.Low {
		c.Low = o.Low
	}
	c.Volume += o.Volume
	c.Count += o.Count
	if o.FirstTS < c.FirstTS || (o.FirstTS == c.FirstTS && o.FirstSeq < c.FirstSeq) {
		c.Open, c.FirstTS, c.FirstSeq = o.Open, o.FirstTS, o.FirstSeq
	}
	if o.LastTS > c.LastTS || (o.LastTS == c.LastTS && o.LastSeq > c.LastSeq) {
		c.Close, c.LastTS, c.LastSeq = o.Close, o.LastTS, o.LastSeq
	}
}

// CandleKey identifies a candle.
type CandleKey struct {
	Symbol   string
	Interval Interval
	Start    int64
}

// Key returns c's identity.
func (c *Candle) Key() CandleKey { return CandleKey{c.Symbol, c.Interval, c.Start} }

// Rollup accumulates partial candles for every interval from a stream of
// ticks, one partial per (symbol, interval, bucket). It is what a persister
// folds a batch into before upserting with Merge semantics. Not safe for
// concurrent use; reuse it with Reset to avoid allocation.
type Rollup struct {
	idx     map[CandleKey]int
	candles []Candle
}

// NewRollup returns an empty Rollup.
func NewRollup() *Rollup { return &Rollup{idx: make(map[CandleKey]int)} }

// Add folds t into the partial candles of every interval.
func (r *Rollup) Add(t *Tick) {
	for _, iv := range Intervals {
		k := CandleKey{t.Symbol, iv, iv.Start(t.TS)}
		if i, ok := r.idx[k]; ok {
			r.candles[i].Apply(t)
			continue
		}
		r.idx[k] = len(r.candles)
		r.candles = append(r.candles, NewCandle(iv, t))
	}
}

// Candles returns the partial candles accumulated since the last Reset, in
// first-touched order. The slice is owned by r until Reset.
func (r *Rollup) Candles() []Candle { return r.candles }

// rollupKeep is how many partial candles a Rollup keeps room for across a
// Reset: a batch of that many symbols' worth of candles (a map of them and
// a slice) is reused; a larger one, rare, is given back, so that one burst
// of new symbols does not stay allocated for good.
const rollupKeep = 6 * 1024

// Reset empties r, keeping its memory unless it held more than rollupKeep
// candles.
func (r *Rollup) Reset() {
	if len(r.candles) > rollupKeep {
		r.idx, r.candles = make(map[CandleKey]int), nil
		return
	}
	clear(r.idx)
	clear(r.candles) // drop the symbol strings they hold
	r.candles = r.candles[:0]
}
