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

// poster sends tick batches to POST /api/v1/ticks, or to a Centrifugo
// server's HTTP API.
type poster struct {
	client     *http.Client
	base       string
	url        string
	auth       string
	centrifugo bool
}

func newPoster(client *http.Client, target, apiKey, proto string) *poster {
	base := strings.TrimRight(target, "/")
	if proto == ProtoCentrifugo {
		return &poster{client: client, base: base, auth: apiKey, centrifugo: true}
	}
	return &poster{client: client, base: base, url: base + "/api/v1/ticks", auth: "Bearer " + apiKey}
}

// build returns the body that posts n ticks from symbols[first] on (see
// batch.build).
func (p *poster) build(b *batch, symbols []string, first, n int, now time.Time) []byte {
	if p.centrifugo {
		return b.buildCentrifugo(symbols, first, n, now)
	}
	return b.build(symbols, first, n, now)
}

// post sends body, n ticks built by build (n matters to Centrifugo only),
// and returns the number accepted.
func (p *poster) post(ctx context.Context, body []byte, n int) (int, error) {
	url := p.url
	if p.centrifugo {
		url = p.base + "/api/publish"
		if n > 1 {
			url = p.base + "/api/batch"
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("post ticks: %w", err)
	}
	if p.centrifugo {
		req.Header.Set("X-API-Key", p.auth)
	} else {
		req.Header.Set("Authorization", p.auth)
	}
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
	if p.centrifugo {
		// Centrifugo answers 200 with {"result":…} or {"error":…}, a
		// batch with one reply per command, each possibly an error.
		if resp.StatusCode != http.StatusOK || bytes.Contains(b, []byte(`"error"`)) {
			return 0, fmt.Errorf("publish: %s: %s", resp.Status, bytes.TrimSpace(b))
		}
		return n, nil
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
	b.buf = append(b.buf[:0], '[')
	for k := range n {
		if k > 0 {
			b.buf = append(b.buf, ',')
		}
		b.appendTick(symbols, first, k, now, us)
	}
	return append(b.buf, ']')
}

// buildCentrifugo returns the same ticks as build as the body of
// Centrifugo's /api/publish (one tick, to channel ticks:SYM) or /api/batch
// (several, one publish command each).
func (b *batch) buildCentrifugo(symbols []string, first, n int, now time.Time) []byte {
	us := now.UnixMicro()
	b.buf = b.buf[:0]
	if n > 1 {
		b.buf = append(b.buf, `{"commands":[`...)
	}
	for k := range n {
		if k > 0 {
			b.buf = append(b.buf, ',')
		}
		if n > 1 {
			b.buf = append(b.buf, `{"publish":`...)
		}
		b.buf = append(b.buf, `{"channel":"ticks:`...)
		b.buf = append(b.buf, symbols[(first+k)%len(symbols)]...)
		b.buf = append(b.buf, `","data":`...)
		b.appendTick(symbols, first, k, now, us)
		b.buf = append(b.buf, '}')
		if n > 1 {
			b.buf = append(b.buf, '}')
		}
	}
	if n > 1 {
		b.buf = append(b.buf, "]}"...)
	}
	return b.buf
}

// appendTick appends the k-th tick of a batch from symbols[first], sent at
// now (us: now in µs).
func (b *batch) appendTick(symbols []string, first, k int, now time.Time, us int64) {
	msTS := now.UnixMilli()
	i := (first + k) % len(symbols)
	// walk the price in cents, deterministic and always > 0
	step := float64((us/7+int64(k))%5-2) / 100
	if b.price[i]+step > 1 {
		b.price[i] += step
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

// primeSymbols posts one tick of each symbol to every target, in batches
// of at most 100 ticks (Centrifugo's batch API takes one command per tick).
func primeSymbols(ctx context.Context, client *http.Client, cfg WSConfig, symbols []string) error {
	b := newBatch(len(symbols))
	for _, t := range cfg.Targets {
		p := newPoster(client, t, cfg.APIKey, cfg.Proto)
		for first := 0; first < len(symbols); first += 100 {
			n := min(100, len(symbols)-first)
			if _, err := p.post(ctx, p.build(b, symbols, first, n, time.Now()), n); err != nil {
				return fmt.Errorf("prime: %w", err)
			}
		}
	}
	return nil
}
