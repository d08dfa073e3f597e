package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"time"

	"github.com/findash/findash/internal/market"
)

// TickPublisher takes batches of valid ticks; *Publisher implements it. It
// must not keep ticks after it returns.
type TickPublisher interface {
	Publish(ctx context.Context, ticks []market.Tick) error
}

// SimConfig tunes the simulator.
type SimConfig struct {
	Symbols int           // how many symbols (default 20)
	Rate    int           // ticks per second over all symbols (default 200)
	Seed    int64         // random seed; the same seed and clock give the same ticks
	Every   time.Duration // batch period (default 50ms)
	// Start, when set, gives the price a symbol's walk continues from (the
	// last quote, after a restart) when it reports true; otherwise the walk
	// starts at the symbol's built-in level. Called once, when Run starts.
	Start func(symbol string) (price float64, ok bool)
}

// Simulator generates a plausible market: one geometric Brownian motion
// per symbol (no drift), with realistic price levels, daily volatilities
// and trade sizes. The volatility is per unit of time, not per tick: a
// step over dt has log-return N(−σ²dt/2, σ²dt) with σ the symbol's daily
// volatility and dt in days, so the tick rate changes how often a price
// moves, never how far it moves in a day (BTC-USD: 3.5 % a day, 0.18 % in
// 4 minutes).
type Simulator struct {
	pub   TickPublisher
	cfg   SimConfig
	clock func() time.Time
	log   *slog.Logger
	rng   *rand.Rand
	syms  []simSymbol
}

type simSymbol struct {
	name     string
	price    float64 // current mid, unrounded
	sigma    float64 // daily volatility: standard deviation of the log-return over a day
	decimals float64 // 10^price decimals, for rounding
	size     float64 // typical trade size
	lots     bool    // sizes are whole numbers
	last     int64   // ms since epoch of the previous step; 0 before the first
}

// msPerDay is the unit of simSymbol.sigma.
const msPerDay = 24 * 3600 * 1000

// simBase lists the well-known symbols the simulator starts with, with
// daily volatilities of the order these markets show (crypto 3.5–6 %,
// large stocks 1–3.5 %, major currency pairs 0.5 %).
var simBase = []simSymbol{
	{name: "BTC-USD", price: 43000, sigma: 0.035, decimals: 100, size: 0.05},
	{name: "ETH-USD", price: 2300, sigma: 0.045, decimals: 100, size: 0.8},
	{name: "AAPL", price: 190, sigma: 0.015, decimals: 100, size: 100, lots: true},
	{name: "EUR/USD", price: 1.08, sigma: 0.005, decimals: 1e5, size: 100000, lots: true},
	{name: "BRK.B", price: 360, sigma: 0.01, decimals: 100, size: 50, lots: true},
	{name: "MSFT", price: 375, sigma: 0.015, decimals: 100, size: 80, lots: true},
	{name: "NVDA", price: 480, sigma: 0.03, decimals: 100, size: 120, lots: true},
	{name: "SOL-USD", price: 100, sigma: 0.06, decimals: 1000, size: 12},
	{name: "GBP/USD", price: 1.27, sigma: 0.005, decimals: 1e5, size: 100000, lots: true},
	{name: "USD/JPY", price: 148, sigma: 0.006, decimals: 1000, size: 100000, lots: true},
	{name: "TSLA", price: 240, sigma: 0.035, decimals: 100, size: 90, lots: true},
	{name: "AMZN", price: 150, sigma: 0.02, decimals: 100, size: 100, lots: true},
	{name: "GOOGL", price: 140, sigma: 0.018, decimals: 100, size: 100, lots: true},
	{name: "META", price: 330, sigma: 0.023, decimals: 100, size: 60, lots: true},
	{name: "JPM", price: 170, sigma: 0.013, decimals: 100, size: 70, lots: true},
	{name: "SPY", price: 470, sigma: 0.01, decimals: 100, size: 200, lots: true},
	{name: "XAU-USD", price: 2030, sigma: 0.009, decimals: 100, size: 2},
	{name: "BF.B", price: 60, sigma: 0.015, decimals: 100, size: 40, lots: true},
	{name: "DOGE-USD", price: 0.09, sigma: 0.06, decimals: 1e5, size: 5000},
	{name: "USD/CHF", price: 0.88, sigma: 0.005, decimals: 1e5, size: 100000, lots: true},
}

// NewSimulator returns a simulator publishing to p, timing ticks with clock.
func NewSimulator(p TickPublisher, cfg SimConfig, clock func() time.Time, log *slog.Logger) *Simulator {
	if cfg.Symbols <= 0 {
		cfg.Symbols = 20
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 200
	}
	if cfg.Every <= 0 {
		cfg.Every = 50 * time.Millisecond
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x9e3779b97f4a7c15))
	syms := make([]simSymbol, cfg.Symbols)
	for i := range syms {
		if i < len(simBase) {
			syms[i] = simBase[i]
			continue
		}
		syms[i] = simSymbol{
			name:     fmt.Sprintf("SIM-%03d", i+1),
			price:    math.Round(math.Exp(rng.Float64()*6)*100) / 100, // 1 .. ~400
			sigma:    0.01 + rng.Float64()*0.02,                       // 1–3 % a day
			decimals: 100, size: 100, lots: true,
		}
		syms[i].price = max(syms[i].price, 1)
	}
	return &Simulator{pub: p, cfg: cfg, clock: clock, log: log.With("component", "simulator"), rng: rng, syms: syms}
}

// Symbols returns the names of the simulated symbols.
func (s *Simulator) Symbols() []string {
	out := make([]string, len(s.syms))
	for i := range s.syms {
		out[i] = s.syms[i].name
	}
	return out
}

// Run publishes a batch every SimConfig.Every until ctx ends, then returns
// nil. The first batch holds one tick of every symbol so that every symbol
// shows at once. A failed publish is logged (once per outage) and its ticks
// are dropped: simulated data is not worth blocking for.
func (s *Simulator) Run(ctx context.Context) error {
	if s.cfg.Start != nil {
		for i := range s.syms {
			if p, ok := s.cfg.Start(s.syms[i].name); ok && p > 0 {
				s.syms[i].price = p
			}
		}
	}
	tk := time.NewTicker(s.cfg.Every)
	defer tk.Stop()
	perBatch := float64(s.cfg.Rate) * s.cfg.Every.Seconds()
	batch := make([]market.Tick, 0, int(perBatch)+len(s.syms)+1)
	carry := 0.0
	failing := false
	s.log.Info("simulator started", "symbols", len(s.syms), "rate", s.cfg.Rate)
	for first := true; ; first = false {
		batch = batch[:0]
		now := s.clock().UnixMilli()
		if first {
			for i := range s.syms {
				batch = append(batch, s.next(i, now))
			}
		} else {
			carry += perBatch
			n := int(carry)
			carry -= float64(n)
			for range n {
				batch = append(batch, s.next(s.rng.IntN(len(s.syms)), now))
			}
		}
		if len(batch) > 0 {
			pctx, cancel := context.WithTimeout(ctx, max(2*time.Second, 4*s.cfg.Every))
			err := s.pub.Publish(pctx, batch)
			cancel()
			switch {
			case err != nil && ctx.Err() == nil && !failing:
				failing = true
				s.log.Warn("simulator cannot publish; dropping its ticks until it can", "err", err)
			case err == nil && failing:
				failing = false
				s.log.Info("simulator publishing again")
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tk.C:
		}
	}
}

// next moves symbol i to time ts (ms) along its geometric Brownian motion
// and returns its tick. The first step of a symbol does not move it.
func (s *Simulator) next(i int, ts int64) market.Tick {
	sym := &s.syms[i]
	if sym.last > 0 && ts > sym.last {
		dt := float64(ts-sym.last) / msPerDay
		sym.price *= math.Exp(-sym.sigma*sym.sigma*dt/2 + sym.sigma*math.Sqrt(dt)*s.rng.NormFloat64())
	}
	sym.last = max(sym.last, ts)
	price := math.Round(sym.price*sym.decimals) / sym.decimals
	if price <= 0 {
		price = sym.price
	}
	// Trade sizes are roughly log-normal around the symbol's typical size.
	size := sym.size * math.Exp(0.8*s.rng.NormFloat64()-0.32)
	if sym.lots {
		size = max(1, math.Round(size))
	} else {
		size = math.Round(size*1e4) / 1e4
	}
	return market.Tick{Symbol: sym.name, TS: ts, Price: price, Size: size}
}
