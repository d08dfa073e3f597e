package market

import (
	"math"
	"strconv"
	"time"
)

// The widest bounds any configuration may set (Limits.Validate). Within them
// no aggregate can overflow a float64, whatever the ticks: a volume is at
// most Count × HardMaxSize < 2^63 × 1e18 ≈ 9.2e36, a change in percent at
// most HardMaxPrice / HardMinPrice × 100 = 1e38, a change at most
// HardMaxPrice — all far below math.MaxFloat64 (≈ 1.8e308).
const (
	HardMinPrice    = 1e-18
	HardMaxPrice    = 1e18
	HardMaxSize     = 1e18
	HardMaxNotional = 1e24
)

// Defaults of Limits: wider than any market quotes (a meme coin at 1e-8 USD,
// a share at 1e6, a block of 1e12 tokens, a trade of 1e12 in a weak
// currency), narrow enough to refuse unit mistakes and hostile values.
const (
	DefaultMinPrice    = 1e-12
	DefaultMaxPrice    = 1e12
	DefaultMaxSize     = 1e15
	DefaultMaxNotional = 1e15
	DefaultMaxAhead    = 5 * time.Second
	DefaultMaxAge      = 7 * 24 * time.Hour // the default tick retention
)

// Reasons a tick is rejected: the closed set of Reason values of the
// ValidationErrors that Limits and the ingest parser return, and of the
// reason label of the rejected-ticks metric.
const (
	ReasonSyntax           = "syntax"        // not JSON, wrong type, unknown field
	ReasonMissingField     = "missing_field" // symbol, ts or price absent
	ReasonSymbol           = "symbol_invalid"
	ReasonTSInvalid        = "ts_invalid" // not Unix ms or RFC 3339, or outside 2000–2100
	ReasonTSInFuture       = "ts_in_future"
	ReasonTSTooOld         = "ts_too_old"
	ReasonPriceNotFinite   = "price_not_finite"
	ReasonPriceTooLow      = "price_too_low" // including zero and negative
	ReasonPriceTooHigh     = "price_too_high"
	ReasonSizeNotFinite    = "size_not_finite"
	ReasonSizeNegative     = "size_negative"
	ReasonSizeTooLarge     = "size_too_large"
	ReasonNotionalTooLarge = "notional_too_large"
	ReasonEmpty            = "empty" // a batch without ticks
)

// Reasons lists every Reason value, for metrics that pre-create their labels.
var Reasons = []string{
	ReasonSyntax, ReasonMissingField, ReasonSymbol, ReasonTSInvalid, ReasonTSInFuture,
	ReasonTSTooOld, ReasonPriceNotFinite, ReasonPriceTooLow, ReasonPriceTooHigh,
	ReasonSizeNotFinite, ReasonSizeNegative, ReasonSizeTooLarge, ReasonNotionalTooLarge, ReasonEmpty,
}

// Limits bound every value a tick may carry. The zero value of a field
// means its default (DefaultLimits); Validate checks a configuration.
type Limits struct {
	MinPrice    float64       // lowest price accepted
	MaxPrice    float64       // highest price accepted
	MaxSize     float64       // largest size accepted
	MaxNotional float64       // largest price × size accepted
	MaxAhead    time.Duration // how far past the server clock ts may lie
	MaxAge      time.Duration // how far behind the server clock ts may lie
}

// DefaultLimits returns the default bounds.
func DefaultLimits() Limits {
	return Limits{
		MinPrice: DefaultMinPrice, MaxPrice: DefaultMaxPrice, MaxSize: DefaultMaxSize,
		MaxNotional: DefaultMaxNotional, MaxAhead: DefaultMaxAhead, MaxAge: DefaultMaxAge,
	}
}

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits()
	if l.MinPrice == 0 {
		l.MinPrice = d.MinPrice
	}
	if l.MaxPrice == 0 {
		l.MaxPrice = d.MaxPrice
	}
	if l.MaxSize == 0 {
		l.MaxSize = d.MaxSize
	}
	if l.MaxNotional == 0 {
		l.MaxNotional = d.MaxNotional
	}
	if l.MaxAhead == 0 {
		l.MaxAhead = d.MaxAhead
	}
	if l.MaxAge == 0 {
		l.MaxAge = d.MaxAge
	}
	return l
}

// Validate reports a configuration outside the hard bounds (where an
// aggregate could overflow) or inconsistent in itself. Zero fields are
// judged as their defaults.
func (l Limits) Validate() error {
	l = l.WithDefaults()
	switch {
	case !(l.MinPrice >= HardMinPrice && l.MinPrice <= HardMaxPrice):
		return Invalid("min_price", "must be between %g and %g", HardMinPrice, HardMaxPrice)
	case !(l.MaxPrice >= l.MinPrice && l.MaxPrice <= HardMaxPrice):
		return Invalid("max_price", "must be between min_price and %g", HardMaxPrice)
	case !(l.MaxSize > 0 && l.MaxSize <= HardMaxSize):
		return Invalid("max_size", "must be > 0 and at most %g", HardMaxSize)
	case !(l.MaxNotional > 0 && l.MaxNotional <= HardMaxNotional):
		return Invalid("max_notional", "must be > 0 and at most %g", HardMaxNotional)
	case l.MaxAhead < 0:
		return Invalid("max_ahead", "must be >= 0")
	case l.MaxAge < 0:
		return Invalid("max_age", "must be >= 0")
	}
	return nil
}

// Check judges a tick arriving now: Values, then ts within
// [now − MaxAge, now + MaxAhead]. The error is a *ValidationError with a
// Reason.
func (l *Limits) Check(t *Tick, now time.Time) error {
	if err := l.CheckLogged(t, now); err != nil {
		return err
	}
	if oldest := now.Add(-l.MaxAge).UnixMilli(); t.TS < oldest {
		return Reject("ts", ReasonTSTooOld, "%d is more than %s before the server clock (%d)", t.TS, l.MaxAge, now.UnixMilli())
	}
	return nil
}

// CheckLogged judges a tick read back from the event log, which was
// accepted at some time before now: Values, and ts not past now + MaxAhead.
// Its age is not judged: an old tick in the log was young when it came.
// Ticks that fail were written by a version with looser rules and are
// skipped, so that a bad value stored once cannot poison the state again.
func (l *Limits) CheckLogged(t *Tick, now time.Time) error {
	if err := l.Values(t); err != nil {
		return err
	}
	if newest := now.Add(l.MaxAhead).UnixMilli(); t.TS > newest {
		return Reject("ts", ReasonTSInFuture, "%d is more than %s past the server clock (%d)", t.TS, l.MaxAhead, now.UnixMilli())
	}
	return nil
}

// Values checks the symbol, the timestamp's range (MinTS, MaxTS), and that
// price, size and notional are finite and within l, not depending on the
// clock.
func (l *Limits) Values(t *Tick) error {
	if !ValidSymbol(t.Symbol) {
		err := CheckSymbol("symbol", t.Symbol).(*ValidationError)
		err.Reason = ReasonSymbol
		return err
	}
	if t.TS < MinTS || t.TS > MaxTS {
		return Reject("ts", ReasonTSInvalid, "%d is not a Unix millisecond time between 2000 and 2100", t.TS)
	}
	if err := l.price("price", t.Price); err != nil {
		return err
	}
	switch {
	case math.IsNaN(t.Size) || math.IsInf(t.Size, 0):
		return Reject("size", ReasonSizeNotFinite, "must be a finite number")
	case t.Size < 0:
		return Reject("size", ReasonSizeNegative, "%s is negative", num(t.Size))
	case t.Size > l.MaxSize:
		return Reject("size", ReasonSizeTooLarge, "%s is above the maximum size %s", num(t.Size), num(l.MaxSize))
	}
	if n := t.Price * t.Size; n > l.MaxNotional {
		return Reject("size", ReasonNotionalTooLarge, "price × size = %s is above the maximum notional %s", num(n), num(l.MaxNotional))
	}
	return nil
}

func (l *Limits) price(field string, p float64) error {
	switch {
	case math.IsNaN(p) || math.IsInf(p, 0):
		return Reject(field, ReasonPriceNotFinite, "must be a finite number")
	case !(p >= l.MinPrice):
		return Reject(field, ReasonPriceTooLow, "%s is below the minimum price %s", num(p), num(l.MinPrice))
	case p > l.MaxPrice:
		return Reject(field, ReasonPriceTooHigh, "%s is above the maximum price %s", num(p), num(l.MaxPrice))
	}
	return nil
}

// CheckCandle judges a stored candle before it is restored into the live
// state: a known interval, a positive count, prices within l with
// low ≤ open, close ≤ high, a finite volume within Count × MaxSize, and a
// bucket that does not start past now + MaxAhead. A candle that fails was
// written from ticks a looser version accepted; it is skipped.
func (l *Limits) CheckCandle(c *Candle, now time.Time) error {
	if !ValidSymbol(c.Symbol) {
		return Reject("symbol", ReasonSymbol, "%q is not a symbol", truncate(c.Symbol, 40))
	}
	if c.Interval >= Interval(NumIntervals) {
		return Invalid("interval", "%d is not an interval", c.Interval)
	}
	if c.Count <= 0 {
		return Invalid("count", "%d is not positive", c.Count)
	}
	for _, p := range [...]float64{c.Open, c.High, c.Low, c.Close} {
		if err := l.price("price", p); err != nil {
			return err
		}
	}
	if !(c.Low <= c.Open && c.Low <= c.Close && c.High >= c.Open && c.High >= c.Close) {
		return Invalid("price", "open %s, high %s, low %s, close %s are inconsistent", num(c.Open), num(c.High), num(c.Low), num(c.Close))
	}
	switch {
	case math.IsNaN(c.Volume) || math.IsInf(c.Volume, 0):
		return Reject("volume", ReasonSizeNotFinite, "must be a finite number")
	case c.Volume < 0:
		return Reject("volume", ReasonSizeNegative, "%s is negative", num(c.Volume))
	case c.Volume > float64(c.Count)*l.MaxSize:
		return Reject("volume", ReasonSizeTooLarge, "%s is above count × the maximum size", num(c.Volume))
	}
	if newest := now.Add(l.MaxAhead).UnixMilli(); c.Start > newest || c.LastTS > newest {
		return Reject("start", ReasonTSInFuture, "%d is past the server clock (%d)", c.Start, now.UnixMilli())
	}
	return nil
}

// num formats a float for an error message.
func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// finite returns f, or 0 when f is NaN or ±Inf: the last guard that keeps a
// value JSON cannot encode out of what readers get. Within Limits it never
// changes anything.
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}
