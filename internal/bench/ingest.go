package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// IngestConfig configures RunIngest.
type IngestConfig struct {
	// Target is the instance's public base URL; APIKey authenticates.
	Target, APIKey string
	// Rate is the target ticks per second; 0 sends as fast as the server
	// answers.
	Rate     float64
	Duration time.Duration
	// BatchSize ticks per POST (default 1000), Workers POSTs in flight
	// (default 8), over Symbols symbols (default 100).
	BatchSize, Workers, Symbols int
	// Progress shows live status; nil shows none.
	Progress *Progress
}

// RunIngest runs `findash bench ingest`: workers POST batches of ticks, a
// prober measures the time from a tick's POST to its price in
// /api/v1/quotes, and at the end the 24 h volume of the run's own symbols
// (every tick has size 1) is compared with the ticks accepted: the
// difference is reported as lost.
func RunIngest(ctx context.Context, cfg IngestConfig) (*Result, error) {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.Symbols <= 0 {
		cfg.Symbols = 100
	}
	if cfg.Duration <= 0 || cfg.Rate < 0 {
		return nil, fmt.Errorf("%w: duration must be > 0 and rate >= 0", ErrUsage)
	}
	if cfg.APIKey == "" {
		return nil, fmt.Errorf("%w: an API key is needed to send ticks (--api-key or FINDASH_API_KEY)", ErrUsage)
	}
	target := strings.TrimRight(cfg.Target, "/")
	client := newLoadClient(cfg.Workers + 2)
	defer client.CloseIdleConnections()
	p := newPoster(client, target, cfg.APIKey, ProtoFindash)
	prog := cfg.Progress

	// The run's own symbols, so that their volume counts only its ticks.
	run := strings.ToUpper(strconv.FormatInt(time.Now().UnixMilli()%(36*36*36*36*36), 36))
	symbols := make([]string, cfg.Symbols)
	for i := range symbols {
		symbols[i] = fmt.Sprintf("I%s-%04d", run, i)
	}
	probeSym := "I" + run + "-PROBE"

	var lim *rate.Limiter
	if cfg.Rate > 0 {
		lim = rate.NewLimiter(rate.Limit(cfg.Rate), max(cfg.BatchSize, int(cfg.Rate/20)))
	}
	post := NewHistogram()
	var accepted, batches, errs atomic.Int64
	var errMu sync.Mutex
	var firstErr error
	runCtx, stop := context.WithTimeout(ctx, cfg.Duration)
	defer stop()
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for k := 0; runCtx.Err() == nil; k++ {
				if lim != nil && lim.WaitN(runCtx, cfg.BatchSize) != nil {
					return
				}
				buf = ingestBatch(buf[:0], symbols, (w*7919+k*cfg.BatchSize)%len(symbols), cfg.BatchSize, time.Now())
				ts := time.Now()
				n, err := p.post(context.WithoutCancel(runCtx), buf, 0) // a started batch finishes
				if err != nil {
					errs.Add(1)
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
					continue
				}
				post.Record(time.Since(ts))
				accepted.Add(int64(n))
				batches.Add(1)
			}
		}()
	}
	vis := NewHistogram()
	var lost atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		probe(runCtx, p, target, probeSym, vis, &lost)
	}()
	prog.Phase("ingest")
	var last int64
	stopProg := prog.Start(ctx, time.Second, func() string {
		n := accepted.Load()
		s := fmt.Sprintf("%s ticks/s accepted, %d batches, %d errors, visibility p99 %s", human(float64(n-last)), batches.Load(), errs.Load(), ms(vis.Quantiles().P99))
		last = n
		return s
	})
	wg.Wait()
	elapsed := time.Since(t0)
	stopProg()

	res := &Result{Kind: "ingest", Target: cfg.Target, DurationS: elapsed.Seconds()}
	res.ThroughputPerS = float64(accepted.Load()) / elapsed.Seconds()
	res.setLatency(post.Quantiles())
	res.Errors = errs.Load()
	vq := vis.Quantiles()
	res.IngestResult = &IngestResult{
		BatchSize: cfg.BatchSize, Workers: cfg.Workers, Batches: batches.Load(), TicksAccepted: accepted.Load(),
		VisibilityP50MS: vq.P50, VisibilityP99MS: vq.P99, VisibilityMaxMS: vq.Max, VisibilityCount: vq.Count,
	}
	prog.Phase("verify")
	seen, err := awaitVolume(ctx, target, symbols, accepted.Load(), 30*time.Second)
	if err != nil {
		res.Notes = append(res.Notes, "could not verify the ticks in quotes: "+err.Error())
	}
	res.Lost = lost.Load() + max(0, accepted.Load()-seen)
	res.Drops = res.Lost
	if firstErr != nil {
		res.Notes = append(res.Notes, "first error: "+firstErr.Error())
	}
	res.Machine = ThisMachine()
	return res, nil
}

// ingestBatch appends a JSON array of n ticks of size 1 over symbols,
// starting at first.
func ingestBatch(b []byte, symbols []string, first, n int, now time.Time) []byte {
	msTS := now.UnixMilli()
	b = append(b, '[')
	for k := range n {
		i := (first + k) % len(symbols)
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"symbol":"`...)
		b = append(b, symbols[i]...)
		b = append(b, `","ts":`...)
		b = strconv.AppendInt(b, msTS, 10)
		b = append(b, `,"price":`...)
		b = strconv.AppendFloat(b, 100+float64((k+i)%200)/100, 'f', 2, 64)
		b = append(b, `,"size":1}`...)
	}
	return append(b, ']')
}

// probe posts one tick to sym every 100 ms with a new price and polls
// quotes until it shows; the time from POST to seen is recorded in vis.
// A probe not seen within 10 s is lost.
func probe(ctx context.Context, p *poster, target, sym string, vis *Histogram, lost *atomic.Int64) {
	hc := p.client
	url := target + "/api/v1/quotes?symbols=" + sym
	for k := 1; ctx.Err() == nil; k++ {
		price := float64(k)
		t0 := time.Now()
		body := fmt.Appendf(nil, `[{"symbol":%q,"ts":%d,"price":%d,"size":1}]`, sym, t0.UnixMilli(), k)
		if _, err := p.post(context.WithoutCancel(ctx), body, 0); err != nil {
			if ctx.Err() == nil {
				sleep(ctx, 100*time.Millisecond)
			}
			continue
		}
		seen := false
		for deadline := t0.Add(10 * time.Second); time.Now().Before(deadline); {
			b, _, err := fetch(context.WithoutCancel(ctx), hc, url)
			if err == nil {
				var q struct {
					Data []struct {
						Price float64 `json:"price"`
					} `json:"data"`
				}
				if json.Unmarshal(b, &q) == nil && len(q.Data) == 1 && q.Data[0].Price >= price {
					vis.Record(time.Since(t0))
					seen = true
					break
				}
			}
			time.Sleep(time.Millisecond)
		}
		if !seen {
			lost.Add(1)
		}
		sleep(ctx, 100*time.Millisecond)
	}
}

// awaitVolume waits until the 24 h volume of symbols adds up to want (each
// bench tick has size 1) or timeout passes, and returns the last sum.
func awaitVolume(ctx context.Context, target string, symbols []string, want int64, timeout time.Duration) (int64, error) {
	hc := newLoadClient(1)
	defer hc.CloseIdleConnections()
	var got int64
	var lastErr error
	for deadline := time.Now().Add(timeout); ; {
		got, lastErr = 0, nil
		for i := 0; i < len(symbols); i += 100 {
			chunk := symbols[i:min(i+100, len(symbols))]
			b, _, err := fetch(ctx, hc, target+"/api/v1/quotes?symbols="+strings.Join(chunk, ","))
			if err != nil {
				lastErr = err
				break
			}
			var q struct {
				Data []struct {
					Volume float64 `json:"volume_24h"`
				} `json:"data"`
			}
			if err := json.Unmarshal(b, &q); err != nil {
				lastErr = err
				break
			}
			for _, d := range q.Data {
				got += int64(d.Volume)
			}
		}
		if lastErr == nil && got >= want || time.Now().After(deadline) || !sleep(ctx, 100*time.Millisecond) {
			return got, lastErr
		}
	}
}
