package market

import "strings"

// Interval is a candle width.
type Interval uint8

// The candle intervals of the contract, narrowest first.
const (
	Interval1s Interval = iota
	Interval1m
	Interval5m
	Interval15m
	Interval1h
	Interval1d
	numIntervals
)

// Intervals lists every interval, narrowest first.
var Intervals = [numIntervals]Interval{Interval1s, Interval1m, Interval5m, Interval15m, Interval1h, Interval1d}

// NumIntervals is the number of intervals.
const NumIntervals = int(numIntervals)

var intervalNames = [numIntervals]string{"1s", "1m", "5m", "15m", "1h", "1d"}
var intervalMillis = [numIntervals]int64{1000, 60_000, 300_000, 900_000, 3_600_000, 86_400_000}

// ParseInterval parses "1s", "1m", "5m", "15m", "1h" or "1d".
func ParseInterval(s string) (Interval, error) {
	for i, n := range intervalNames {
		if n == s {
			return Interval(i), nil
		}
	}
	return 0, Invalid("interval", "%q is not one of %s", truncate(s, 16), strings.Join(intervalNames[:], " "))
}

// String returns the interval's name, e.g. "15m".
func (iv Interval) String() string {
	if iv >= numIntervals {
		return "invalid"
	}
	return intervalNames[iv]
}

// Millis returns the interval's width in milliseconds.
func (iv Interval) Millis() int64 { return intervalMillis[iv] }

// Start returns the start (ms, UTC) of the bucket that holds ts.
func (iv Interval) Start(ts int64) int64 {
	w := intervalMillis[iv]
	s := ts - ts%w
	if ts < 0 && ts%w != 0 {
		s -= w
	}
	return s
}

// MarshalText implements encoding.TextMarshaler.
func (iv Interval) MarshalText() ([]byte, error) { return []byte(iv.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (iv *Interval) UnmarshalText(b []byte) error {
	v, err := ParseInterval(string(b))
	if err != nil {
		return err
	}
	*iv = v
	return nil
}
