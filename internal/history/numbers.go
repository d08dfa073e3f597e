package history

import (
	"math"
	"strconv"
)

// Number parsing for the import's hot path (docs/benchmarks/import.md:
// strconv's float parser was a quarter of the parse). The fast paths take
// the plain forms Binance's dumps use — unsigned decimal digits, a
// fraction — and give exactly strconv's result; anything else (a sign, an
// exponent, NaN, too many digits, an empty field) goes to strconv, which
// decides. FuzzNumbersEquivalent checks both against strconv.

// float10 holds the powers of ten a float64 represents exactly.
var float10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFloat parses b as strconv.ParseFloat(b, 64) does.
func parseFloat(b []byte) (float64, error) {
	if v, ok := fastFloat(b); ok {
		return v, nil
	}
	return strconv.ParseFloat(unsafeString(b), 64)
}

// fastFloat parses digits[.digits] with at most 19 significant digits in
// all, when the mantissa is below 2^53 and the fraction has at most 22
// digits: then mantissa and 10^frac are exact float64s and their quotient
// is correctly rounded (Clinger's fast path, the one strconv takes first),
// so the result is strconv's.
func fastFloat(b []byte) (float64, bool) {
	var mant uint64
	digits, frac := 0, -1 // frac: digits after the point; -1 before it
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			if digits == 19 {
				return 0, false
			}
			if mant != 0 || c != '0' {
				digits++ // leading zeros do not count
			}
			mant = mant*10 + uint64(c-'0')
			if frac >= 0 {
				frac++
			}
		case c == '.' && frac < 0:
			frac = 0
		default:
			return 0, false
		}
	}
	intDigits := len(b)
	if frac >= 0 {
		intDigits = len(b) - frac - 1
	}
	if intDigits == 0 || frac == 0 || mant >= 1<<53 || frac > 22 {
		return 0, false // ".5", "1.", "" and the rest: strconv
	}
	if frac <= 0 {
		return float64(mant), true
	}
	return float64(mant) / float10[frac], true
}

// parseUint parses b as strconv.ParseUint(b, 10, 64) does.
func parseUint(b []byte) (uint64, error) {
	if len(b) > 0 && len(b) <= 19 {
		var n uint64
		for _, c := range b {
			if c < '0' || c > '9' {
				return strconv.ParseUint(unsafeString(b), 10, 64)
			}
			n = n*10 + uint64(c-'0')
		}
		return n, nil
	}
	return strconv.ParseUint(unsafeString(b), 10, 64)
}

// parseInt parses b as strconv.ParseInt(b, 10, 64) does.
func parseInt(b []byte) (int64, error) {
	if len(b) > 0 && b[0] != '-' && b[0] != '+' {
		if n, err := parseUint(b); err == nil && n <= math.MaxInt64 {
			return int64(n), nil
		}
	}
	return strconv.ParseInt(unsafeString(b), 10, 64)
}
