package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Symbols returns n bench symbol names: B0000, B0001, ….
func Symbols(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("B%04d", i)
	}
	return out
}

// poster sends tick batches to POST /api/v1/ticks.
type poster struct {
	client *http.Client
	url    string
	auth   string
}

func newPoster(client *http.Client, target, apiKey string) *poster {
	return &poster{client: client, url: strings.TrimRight(target, "/") + "/api/v1/ticks", auth: "Bearer " + apiKey}
}

// post sends body (a JSON array of ticks) and returns the number accepted.
func (p *poster) post(ctx context.Context, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("post ticks: %w", err)
	}
	req.Header.Set("Authorization", p.auth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("post ticks: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, fmt.Errorf("post ticks: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusAccepted {
		return 0, fmt.Errorf("post ticks: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	var ok struct {
		Accepted int `json:"accepted"`
	}
	if err := json.Unmarshal(b, &ok); err != nil {
		return 0, fmt.Errorf("post ticks: answer %q: %w", b, err)
	}
	return ok.Accepted, nil
}

// sentModulus is the period of the send time a bench tick carries in its
// size, in µs (1,000 s): the size stays below 1e9, and price × size below
// 1e12, well within the server's tick limits (--tick-max-size,
// --tick-max-notional, default 1e15), while any latency under 1,000 s is
// recovered exactly by sinceSent.
const sentModulus int64 = 1_000_000_000

// sinceSent returns the µs from a tick's send time (its size: the send
// time modulo sentModulus) to now, in [0, sentModulus).
func sinceSent(now, sizeMicros int64) int64 {
	return ((now-sizeMicros)%sentModulus + sentModulus) % sentModulus
}

// batch builds JSON arrays of bench ticks. Each tick's size is its send
// time in microseconds since the Unix epoch modulo sentModulus, which is
// how a receiver measures ingest-to-client latency without sharing memory
// with the sender (sinceSent); ts is the same instant in ms.
type batch struct {
	buf   []byte
	price []float64 // per symbol, a slow deterministic walk
}

func newBatch(symbols int) *batch {
	b := &batch{price: make([]float64, symbols)}
	for i := range b.price {
		b.price[i] = 100 + float64(i%50)
	}
	return b
}

// build returns n ticks for symbols[first], symbols[first+1], … (wrapping),
// all stamped with now. The slice is reused by the next call.
func (b *batch) build(symbols []string, first, n int, now time.Time) []byte {
	us := now.UnixMicro()
	msTS := now.UnixMilli()
	b.buf = append(b.buf[:0], '[')
	for k := range n {
		i := (first + k) % len(symbols)
		// walk the price in cents, deterministic and always > 0
		step := float64((us/7+int64(k))%5-2) / 100
		if b.price[i]+step > 1 {
			b.price[i] += step
		}
		if k > 0 {
			b.buf = append(b.buf, ',')
		}
		b.buf = append(b.buf, `{"symbol":"`...)
		b.buf = append(b.buf, symbols[i]...)
		b.buf = append(b.buf, `","ts":`...)
		b.buf = strconv.AppendInt(b.buf, msTS, 10)
		b.buf = append(b.buf, `,"price":`...)
		b.buf = strconv.AppendFloat(b.buf, b.price[i], 'f', 2, 64)
		b.buf = append(b.buf, `,"size":`...)
		b.buf = strconv.AppendInt(b.buf, us%sentModulus, 10)
		b.buf = append(b.buf, '}')
	}
	return append(b.buf, ']')
}
