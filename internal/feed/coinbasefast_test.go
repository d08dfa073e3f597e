package feed

import (
	"math/rand/v2"
	"testing"
	"time"
)

// fastCoinbaseTime agrees with time.Parse on times spread over the years
// 0000–9999, every fraction length and the edges of months and leap days.
func TestFastCoinbaseTimeAgreesWithTimeParse(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	lo := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
	layouts := []string{"2006-01-02T15:04:05Z", "2006-01-02T15:04:05.0Z", "2006-01-02T15:04:05.000Z",
		"2006-01-02T15:04:05.000000Z", "2006-01-02T15:04:05.000000000Z"}
	for i := range 200_000 {
		var tm time.Time
		if i%2 == 0 {
			tm = time.Unix(lo+rng.Int64N(hi-lo), rng.Int64N(1e9)).UTC()
		} else { // around a month's end
			y, m := 1+rng.IntN(9998), time.Month(1+rng.IntN(12))
			tm = time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(2*86400e9)) - 86400e9)
		}
		s := tm.Format(layouts[i%len(layouts)])
		want, err := time.Parse(time.RFC3339Nano, s)
		ms, ok := fastCoinbaseTime(s)
		if err != nil || !ok || ms != want.UnixMilli() {
			t.Fatalf("fastCoinbaseTime(%q) = %d, %v; time.Parse: %d, %v", s, ms, ok, want.UnixMilli(), err)
		}
	}
	for _, s := range []string{"2025-02-29T00:00:00Z", "2025-04-31T00:00:00Z", "2025-11-27T24:00:00Z", "2025-11-27T12:00:00.Z",
		"2025-11-27T12:00:00+00:00", "2025-11-27 12:00:00Z", "2025-11-27T12:00:00.1234567890Z"} {
		if ms, ok := fastCoinbaseTime(s); ok {
			t.Errorf("fastCoinbaseTime(%q) = %d, want declined", s, ms)
		}
	}
}
