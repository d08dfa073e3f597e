package market

import (
	"encoding/json"
	"math"
	"strconv"
)

// DerivedDigits is how many significant digits a derived value keeps when
// it leaves findash (decision 0009): prices and sizes arrive as decimals
// and are sent back as given, but a difference, a ratio or a sum of floats
// picks up binary noise in the last of float64's 15–17 digits
// (100.1 − 104.06 = −3.960000000000008). Twelve digits drop that noise and
// keep more precision than any market quotes.
const DerivedDigits = 12

// RoundDerived rounds f to DerivedDigits significant digits, to the nearest
// float64 of that decimal, so that encoding/json then writes the shortest
// decimal: −3.960000000000008 becomes −3.96. NaN and ±Inf are returned as
// they are.
func RoundDerived(f float64) float64 {
	if f == 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return f
	}
	// Scale to a 12-digit integer, round, scale back: the integer and the
	// powers of ten up to 1e22 are exact in a float64, so the division (or
	// multiplication) lands on the float64 nearest the rounded decimal. A
	// few nanoseconds, where formatting and parsing take a few hundred.
	k := DerivedDigits - 1 - int(math.Floor(math.Log10(math.Abs(f))))
	switch {
	case k >= 0 && k <= 22:
		p := math.Pow10(k)
		return math.Round(f*p) / p
	case k < 0 && k >= -22:
		p := math.Pow10(-k)
		return math.Round(f/p) * p
	}
	var buf [32]byte // beyond the exact powers: through the decimal text
	r, err := strconv.ParseFloat(string(strconv.AppendFloat(buf[:0], f, 'e', DerivedDigits-1, 64)), 64)
	if err != nil {
		return f // cannot happen: AppendFloat wrote a valid float
	}
	return r
}

// MarshalJSON writes the candle as its tags say, with the volume (a sum of
// tick sizes) rounded by RoundDerived; open, high, low and close are tick
// prices and go out as they came in. It appends by hand: the gateway sends
// a candle at every change.
func (c Candle) MarshalJSON() ([]byte, error) {
	return c.AppendJSON(make([]byte, 0, 192)), nil
}

// AppendJSON appends what MarshalJSON writes to b: a list of candles is
// written into one buffer, without encoding/json checking and compacting
// each candle's output again.
func (c *Candle) AppendJSON(b []byte) []byte {
	b = append(b, `{"symbol":`...)
	b = appendJSONString(b, c.Symbol)
	b = append(b, `,"interval":`...)
	b = appendJSONString(b, c.Interval.String())
	b = append(b, `,"start":`...)
	b = strconv.AppendInt(b, c.Start, 10)
	b = append(b, `,"open":`...)
	b = AppendJSONFloat(b, c.Open)
	b = append(b, `,"high":`...)
	b = AppendJSONFloat(b, c.High)
	b = append(b, `,"low":`...)
	b = AppendJSONFloat(b, c.Low)
	b = append(b, `,"close":`...)
	b = AppendJSONFloat(b, c.Close)
	b = append(b, `,"volume":`...)
	b = AppendJSONFloat(b, RoundDerived(c.Volume))
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, c.Count, 10)
	return append(b, '}')
}

// AppendJSONFloat appends f as encoding/json writes it; NaN and ±Inf
// (which validation keeps out, and encoding/json refuses) become 0. A
// price or size as it arrived (a decimal of at most 15 significant
// digits) takes appendShortDecimal's fast path; anything else
// strconv's shortest search. Candles and the gateway's tick and quote
// messages write their floats with it.
func AppendJSONFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, '0')
	}
	if d, ok := appendShortDecimal(b, f); ok {
		return d
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' { // e-09 to e-9, as encoding/json does
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendShortDecimal appends f as strconv.AppendFloat(b, f, 'f', -1, 64)
// does when f is the float64 of a decimal of at most 15 significant digits
// within [1e-6, 1e15) — a price or size as it arrived, a RoundDerived
// value — and reports whether it did. strconv's shortest-decimal search
// was most of the cost of rendering a candle (five floats), paid at every
// refill of a live candle key; this finds the same digits with a few
// multiplications (BenchmarkCandleAppendJSON: 0.7–2.1 → 0.3–0.45 µs).
//
// Why it is the same: it tries k = 0, 1, … fractional digits and takes the
// first m = round(|f|·10^k) (< 10^15) for which m / 10^k == |f|. Below
// 2^53 m and 10^k (k ≤ 22) are exact and the division is correctly
// rounded, so m / 10^k is the float64 nearest the decimal m·10^-k, which
// is what parsing it gives: it reads back as f. |f|·10^k is off from the
// decimal's m by at most 10^15·2^-52 < 0.5, so the rounding finds m when
// such a decimal exists. Two decimals of at most 15 significant digits
// never read back as one float64 (float64 keeps 15 digits), so the one
// found is the only one of its length and no shorter one exists (it
// would have been found at a smaller k): strconv's shortest decimal is
// this one. The fractional digits are fewest, so m has no trailing zero.
func appendShortDecimal(b []byte, f float64) ([]byte, bool) {
	abs := math.Abs(f)
	if !(abs >= 1e-6 && abs < 1e15) { // also NaN, ±0 (-0 is "-0")
		return b, false
	}
	for k := 0; k <= 22; k++ {
		p := math.Pow10(k)
		m := math.Round(abs * p)
		if m >= 1e15 {
			return b, false
		}
		if m/p != abs {
			continue
		}
		if f < 0 {
			b = append(b, '-')
		}
		start := len(b)
		b = strconv.AppendUint(b, uint64(m), 10)
		if k == 0 {
			return b, true
		}
		digits := len(b) - start
		if digits > k { // 123.45: make room for the point
			b = append(b, 0)
			point := len(b) - 1 - k
			copy(b[point+1:], b[point:len(b)-1])
			b[point] = '.'
			return b, true
		}
		// 0.00123: "0." and k-digits zeros before the digits.
		pad := 2 + k - digits
		for range pad {
			b = append(b, 0)
		}
		copy(b[start+pad:], b[start:start+digits])
		b[start], b[start+1] = '0', '.'
		for i := start + 2; i < start+pad; i++ {
			b[i] = '0'
		}
		return b, true
	}
	return b, false
}

// appendJSONString appends s quoted; symbols need no escaping, anything
// else goes through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
