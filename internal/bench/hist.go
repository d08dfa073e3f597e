package bench

import (
	"encoding/base64"
	"fmt"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds from 1 µs to 5 minutes with three
// significant digits: every percentile is exact to 0.1 %.
const (
	histLowest  = 1
	histHighest = int64(5 * time.Minute / time.Microsecond)
	histDigits  = 3
)

// Histogram is a latency histogram (HDR: log-bucketed with linear
// sub-buckets), safe for concurrent use. Recording a value takes one short
// lock; writers that record many values at once should use RecordMany.
type Histogram struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{h: hdrhistogram.New(histLowest, histHighest, histDigits)}
}

// Record adds one latency. Values below 1 µs count as 1 µs and values above
// five minutes as five minutes (a clock step must not lose a sample).
func (h *Histogram) Record(d time.Duration) {
	v := clampMicros(d)
	h.mu.Lock()
	_ = h.h.RecordValue(v) // v is in range: RecordValue cannot fail
	h.mu.Unlock()
}

// RecordMicros adds latencies given in microseconds, under one lock.
func (h *Histogram) RecordMicros(us []int64) {
	h.mu.Lock()
	for _, v := range us {
		_ = h.h.RecordValue(clampRange(v))
	}
	h.mu.Unlock()
}

func clampMicros(d time.Duration) int64 { return clampRange(int64(d / time.Microsecond)) }

func clampRange(v int64) int64 {
	if v < histLowest {
		return histLowest
	}
	if v > histHighest {
		return histHighest
	}
	return v
}

// Merge adds every sample of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == h {
		return
	}
	o.mu.Lock()
	c := o.h.Clone()
	o.mu.Unlock()
	h.mu.Lock()
	h.h.Merge(c)
	h.mu.Unlock()
}

// Count is the number of samples.
func (h *Histogram) Count() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.h.TotalCount()
}

// Quantiles summarises a histogram in milliseconds.
type Quantiles struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
	Mean  float64 `json:"mean_ms"`
}

// Quantiles returns the percentiles of the samples recorded so far; all
// zero when there are none.
func (h *Histogram) Quantiles() Quantiles {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.h.TotalCount() == 0 {
		return Quantiles{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Quantiles{
		Count: h.h.TotalCount(),
		P50:   ms(h.h.ValueAtQuantile(50)),
		P90:   ms(h.h.ValueAtQuantile(90)),
		P99:   ms(h.h.ValueAtQuantile(99)),
		P999:  ms(h.h.ValueAtQuantile(99.9)),
		Max:   ms(h.h.Max()),
		Mean:  h.h.Mean() / 1000,
	}
}

// MarshalText encodes the histogram in the HDR V2 compressed format, base64:
// a child process of `bench ws --procs` hands its samples to the parent so.
func (h *Histogram) MarshalText() ([]byte, error) {
	h.mu.Lock()
	b, err := h.h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	h.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("encode histogram: %w", err)
	}
	return []byte(base64.StdEncoding.EncodeToString(b)), nil
}

// UnmarshalText replaces h's samples with those of a MarshalText encoding.
func (h *Histogram) UnmarshalText(text []byte) error {
	raw, err := base64.StdEncoding.DecodeString(string(text))
	if err != nil {
		return fmt.Errorf("decode histogram: %w", err)
	}
	d, err := hdrhistogram.Decode(raw)
	if err != nil {
		return fmt.Errorf("decode histogram: %w", err)
	}
	n := hdrhistogram.New(histLowest, histHighest, histDigits)
	n.Merge(d)
	h.mu.Lock()
	h.h = n
	h.mu.Unlock()
	return nil
}
