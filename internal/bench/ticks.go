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

// batch builds JSON arrays of bench ticks. Each tick's size is its send
// time in microseconds since the Unix epoch (exact in a float64 until
// the year 2255), which is how a receiver measures ingest-to-client latency
// without sharing memory with the sender; ts is the same instant in ms.
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
		b.buf = strconv.AppendInt(b.buf, us, 10)
		b.buf = append(b.buf, '}')
	}
	return append(b.buf, ']')
}
