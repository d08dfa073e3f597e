package market

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestShortDecimalMatchesStrconv: wherever appendShortDecimal answers, it
// writes strconv's shortest 'f' text, byte for byte; it answers for the
// decimals prices and sizes are (up to 15 significant digits), and leaves
// the rest (binary noise, zero, the 'e' range) to strconv.
func TestShortDecimalMatchesStrconv(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	check := func(f float64, mustAnswer bool) {
		t.Helper()
		want := strconv.AppendFloat(nil, f, 'f', -1, 64)
		got, ok := appendShortDecimal([]byte("x"), f)
		if !ok {
			if mustAnswer {
				t.Fatalf("%v (%s): not answered", f, want)
			}
			if string(got) != "x" {
				t.Fatalf("%v: wrote %q while not answering", f, got)
			}
			return
		}
		if string(got[1:]) != string(want) {
			t.Fatalf("%v: got %s, strconv %s", f, got[1:], want)
		}
	}
	for _, f := range []float64{
		1e-6, 1.5e-6, 0.1, 0.2, 0.3, 0.05, 0.00123, 1, 10, 100, 100.6, 104.06, 43000.25,
		1.08, 999999999999999, 99999999999999.9, 0.999999999999999, 123456789.012345,
		-3.96, -0.05, 9007199254740991, 1e15, 1e21, 0.1 + 0.2, 100.1 - 104.06,
		math.Nextafter(1, 2), math.SmallestNonzeroFloat64, math.MaxFloat64, 0, math.Copysign(0, -1),
		math.NaN(), math.Inf(1), 5e-7,
	} {
		check(f, false)
		check(-f, false)
	}
	for range 300_000 {
		// A decimal of 1–15 significant digits with its point anywhere
		// within the fast path's range.
		digits := 1 + r.IntN(15)
		m := r.Int64N(int64(math.Pow10(digits)))
		k := r.IntN(22)
		f, err := strconv.ParseFloat(strconv.FormatInt(m, 10)+"e-"+strconv.Itoa(k), 64)
		if err != nil {
			t.Fatal(err)
		}
		if r.IntN(2) == 0 {
			f = -f
		}
		abs := math.Abs(f)
		check(f, abs >= 1e-6 && abs < 1e15)
		check(RoundDerived(f*1.0000001), false)
		// Any float64 at all: random bits.
		check(math.Float64frombits(r.Uint64()), false)
		check(r.Float64()*math.Pow10(r.IntN(20)-6), false)
	}
}
