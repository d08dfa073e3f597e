package ingest_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/ingest"
	"github.com/findash/findash/internal/market"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// recorder is a TickPublisher that keeps what it is given and fails the
// first failN calls.
type recorder struct {
	mu    sync.Mutex
	calls int
	failN int
	ticks []market.Tick
}

func (r *recorder) Publish(_ context.Context, ticks []market.Tick) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.calls <= r.failN {
		return market.ErrUnavailable
	}
	r.ticks = append(r.ticks, ticks...)
	return nil
}

// simulate runs a simulator for d of fake time and returns what it published.
func simulate(t *testing.T, cfg ingest.SimConfig, d time.Duration, failN int) *recorder {
	rec := &recorder{failN: failN}
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		sim := ingest.NewSimulator(rec, cfg, time.Now, discard())
		done := make(chan error)
		go func() { done <- sim.Run(ctx) }()
		time.Sleep(d - time.Millisecond)
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	})
	return rec
}

func TestSimulator(t *testing.T) {
	rec := simulate(t, ingest.SimConfig{Seed: 1}, time.Second, 0)
	// 20 opening ticks at t=0, then batches of 10 at 50ms, 100ms, ... 950ms.
	if got, want := len(rec.ticks), 20+19*10; got != want {
		t.Errorf("published %d ticks in 1s, want %d", got, want)
	}
	if rec.calls != 20 {
		t.Errorf("published %d batches in 1s, want 20 (one every 50ms)", rec.calls)
	}
	syms := map[string]bool{}
	for i := range rec.ticks {
		tk := &rec.ticks[i]
		if err := tk.Validate(); err != nil {
			t.Fatalf("tick %+v: %v", tk, err)
		}
		syms[tk.Symbol] = true
	}
	if len(syms) != 20 {
		t.Errorf("saw %d symbols, want 20", len(syms))
	}
	for _, want := range []string{"BTC-USD", "AAPL", "EUR/USD", "BRK.B"} {
		if !syms[want] {
			t.Errorf("no ticks for %s", want)
		}
	}
	levels := map[string][2]float64{"BTC-USD": {30000, 60000}, "EUR/USD": {0.9, 1.3}, "AAPL": {150, 250}}
	for i := range rec.ticks {
		tk := &rec.ticks[i]
		if l, ok := levels[tk.Symbol]; ok && (tk.Price < l[0] || tk.Price > l[1]) {
			t.Errorf("%s at %v, want within %v", tk.Symbol, tk.Price, l)
		}
	}
}

func TestSimulatorDeterministic(t *testing.T) {
	a := simulate(t, ingest.SimConfig{Seed: 7, Symbols: 30, Rate: 1000}, 500*time.Millisecond, 0)
	b := simulate(t, ingest.SimConfig{Seed: 7, Symbols: 30, Rate: 1000}, 500*time.Millisecond, 0)
	if diff := cmp.Diff(a.ticks, b.ticks); diff != "" {
		t.Errorf("same seed, different ticks (-a +b):\n%s", diff)
	}
	syms := map[string]bool{}
	for _, tk := range a.ticks {
		syms[tk.Symbol] = true
	}
	if len(syms) != 30 {
		t.Errorf("saw %d symbols, want 30", len(syms))
	}
}

func TestSimulatorSurvivesPublishErrors(t *testing.T) {
	rec := simulate(t, ingest.SimConfig{Seed: 1}, time.Second, 5)
	if rec.calls != 20 {
		t.Errorf("made %d publish calls, want 20 (errors must not stop it)", rec.calls)
	}
	// The opening batch of 20 and four batches of 10 failed.
	if got, want := len(rec.ticks), 15*10; got != want {
		t.Errorf("published %d ticks after 5 failed batches, want %d", got, want)
	}
}

// TestSimulatorContinuesFromStart: with Start, a symbol's walk begins at the
// given price (the last quote after a restart), not its built-in level.
func TestSimulatorContinuesFromStart(t *testing.T) {
	cfg := ingest.SimConfig{Symbols: 3, Rate: 300, Seed: 1, Start: func(sym string) (float64, bool) {
		return 50000, sym == "BTC-USD"
	}}
	rec := simulate(t, cfg, 200*time.Millisecond, 0)
	seen := 0
	for _, tk := range rec.ticks {
		if tk.Symbol == "BTC-USD" {
			seen++
			if tk.Price < 45000 || tk.Price > 55000 {
				t.Fatalf("BTC-USD tick at %g, want near the start price 50000", tk.Price)
			}
		}
		if tk.Symbol == "ETH-USD" && tk.Price > 5000 {
			t.Fatalf("ETH-USD tick at %g, want near its built-in level 2300", tk.Price)
		}
	}
	if seen == 0 {
		t.Fatal("no BTC-USD tick published")
	}
}
