package market

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"
)

func TestLimitsCheck(t *testing.T) {
	now := time.UnixMilli(1764244800000)
	lim := DefaultLimits()
	ok := Tick{Symbol: "BTC-USD", TS: now.UnixMilli(), Price: 43123.5, Size: 0.25}
	tests := []struct {
		name   string
		edit   func(*Tick)
		reason string
	}{
		{"valid", func(*Tick) {}, ""},
		{"zero size", func(t *Tick) { t.Size = 0 }, ""},
		{"smallest price", func(t *Tick) { t.Price = DefaultMinPrice }, ""},
		{"largest price", func(t *Tick) { t.Price, t.Size = DefaultMaxPrice, 1 }, ""},
		{"5 s ahead", func(t *Tick) { t.TS += 5000 }, ""},
		{"just older than 7 days", func(t *Tick) { t.TS -= 7*24*3600*1000 + 1 }, ReasonTSTooOld},
		{"7 days old", func(t *Tick) { t.TS -= 7 * 24 * 3600 * 1000 }, ""},
		{"5.001 s ahead", func(t *Tick) { t.TS += 5001 }, ReasonTSInFuture},
		{"2099", func(t *Tick) { t.TS = 4070908800000 }, ReasonTSInFuture},
		{"ts in seconds", func(t *Tick) { t.TS /= 1000 }, ReasonTSInvalid},
		{"bad symbol", func(t *Tick) { t.Symbol = "b" }, ReasonSymbol},
		{"zero price", func(t *Tick) { t.Price = 0 }, ReasonPriceTooLow},
		{"negative price", func(t *Tick) { t.Price = -1 }, ReasonPriceTooLow},
		{"tiny price", func(t *Tick) { t.Price = 1e-300 }, ReasonPriceTooLow},
		{"denormal price", func(t *Tick) { t.Price = 5e-324 }, ReasonPriceTooLow},
		{"huge price", func(t *Tick) { t.Price = 1e13 }, ReasonPriceTooHigh},
		{"NaN price", func(t *Tick) { t.Price = math.NaN() }, ReasonPriceNotFinite},
		{"Inf price", func(t *Tick) { t.Price = math.Inf(1) }, ReasonPriceNotFinite},
		{"negative size", func(t *Tick) { t.Size = -1 }, ReasonSizeNegative},
		{"NaN size", func(t *Tick) { t.Size = math.NaN() }, ReasonSizeNotFinite},
		{"Inf size", func(t *Tick) { t.Size = math.Inf(1) }, ReasonSizeNotFinite},
		{"huge size", func(t *Tick) { t.Size = 1e308 }, ReasonSizeTooLarge},
		{"huge notional", func(t *Tick) { t.Price, t.Size = 1e9, 1e9 }, ReasonNotionalTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tick := ok
			tt.edit(&tick)
			err := lim.Check(&tick, now)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Check(%+v) = %v, want nil", tick, err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Reason != tt.reason || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Check(%+v) = %v, want reason %s matching ErrInvalid", tick, err, tt.reason)
			}
		})
	}
	// A logged tick is not judged by its age.
	old := ok
	old.TS -= 30 * 24 * 3600 * 1000
	if err := lim.CheckLogged(&old, now); err != nil {
		t.Errorf("CheckLogged(30 days old) = %v, want nil", err)
	}
}

func TestLimitsValidate(t *testing.T) {
	tests := []struct {
		name string
		lim  Limits
		ok   bool
	}{
		{"zero is the defaults", Limits{}, true},
		{"hard bounds", Limits{MinPrice: HardMinPrice, MaxPrice: HardMaxPrice, MaxSize: HardMaxSize, MaxNotional: HardMaxNotional}, true},
		{"min price too low", Limits{MinPrice: 1e-300}, false},
		{"max price too high", Limits{MaxPrice: 1e300}, false},
		{"max below min", Limits{MinPrice: 10, MaxPrice: 1}, false},
		{"size too large", Limits{MaxSize: 1e308}, false},
		{"notional too large", Limits{MaxNotional: math.Inf(1)}, false},
		{"NaN", Limits{MaxPrice: math.NaN()}, false},
		{"negative ahead", Limits{MaxAhead: -1}, false},
	}
	for _, tt := range tests {
		if err := tt.lim.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok = %v", tt.name, err, tt.ok)
		}
	}
}

// TestAggregatesCannotOverflow: the most extreme ticks the hard bounds
// allow, many of them, still give finite, encodable quotes and candles.
func TestAggregatesCannotOverflow(t *testing.T) {
	hard := Limits{MinPrice: HardMinPrice, MaxPrice: HardMaxPrice, MaxSize: HardMaxSize, MaxNotional: HardMaxNotional, MaxAhead: time.Hour, MaxAge: time.Hour}
	s := NewState()
	var u Update
	ts := int64(1764244800000)
	for i := range 10_000 {
		price := HardMinPrice
		if i%2 == 1 {
			price = HardMaxPrice
		}
		tk := Tick{Symbol: "X", TS: ts + int64(i)*10, Price: price, Size: HardMaxNotional / price, Seq: uint64(i + 1)}
		tk.Size = min(tk.Size, HardMaxSize)
		if err := hard.Values(&tk); err != nil {
			t.Fatal(err)
		}
		u.Reset()
		s.Apply([]Tick{tk}, &u)
	}
	q, _ := s.Quote("X")
	for name, v := range map[string]float64{"volume": q.Volume24h, "change": q.Change24h, "change_pct": q.ChangePct24h} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Errorf("quote %s = %v", name, v)
		}
	}
	if _, err := json.Marshal(q); err != nil {
		t.Errorf("quote %+v does not encode: %v", q, err)
	}
	for _, iv := range Intervals {
		c, _ := s.OpenCandle("X", iv)
		if math.IsInf(c.Volume, 0) || c.Volume <= 0 {
			t.Errorf("%s candle volume %v", iv, c.Volume)
		}
	}
}

// TestQuoteNeverNonFinite: even a State fed values outside every bound (a
// store written by an older version) gives quotes JSON can encode.
func TestQuoteNeverNonFinite(t *testing.T) {
	s := NewState()
	var u Update
	ts := int64(1764244800000)
	s.Apply([]Tick{
		{Symbol: "X", TS: ts, Price: 1e-300, Size: 1e308, Seq: 1},
		{Symbol: "X", TS: ts + 60_000, Price: 1e10, Size: 1e308, Seq: 2},
	}, &u)
	q, _ := s.Quote("X")
	if _, err := json.Marshal(q); err != nil {
		t.Errorf("quote %+v does not encode: %v", q, err)
	}
	if _, err := json.Marshal(s.Quotes(nil)); err != nil {
		t.Errorf("quotes do not encode: %v", err)
	}
}

func TestCheckCandle(t *testing.T) {
	now := time.UnixMilli(1764244800000)
	lim := DefaultLimits()
	ok := Candle{Symbol: "X", Interval: Interval1m, Start: now.UnixMilli() - 60_000, Open: 2, High: 3, Low: 1, Close: 2, Volume: 10, Count: 3, LastTS: now.UnixMilli() - 1}
	tests := []struct {
		name string
		edit func(*Candle)
		ok   bool
	}{
		{"valid", func(*Candle) {}, true},
		{"infinite volume", func(c *Candle) { c.Volume = math.Inf(1) }, false},
		{"volume beyond count × max size", func(c *Candle) { c.Volume = 4e15 }, false},
		{"negative volume", func(c *Candle) { c.Volume = -1 }, false},
		{"tiny price", func(c *Candle) { c.Low = 1e-300 }, false},
		{"high below open", func(c *Candle) { c.High = 1.5 }, false},
		{"no ticks", func(c *Candle) { c.Count = 0 }, false},
		{"2099", func(c *Candle) { c.Start = 4070908800000 }, false},
		{"bad interval", func(c *Candle) { c.Interval = 99 }, false},
	}
	for _, tt := range tests {
		c := ok
		tt.edit(&c)
		if err := lim.CheckCandle(&c, now); (err == nil) != tt.ok {
			t.Errorf("%s: CheckCandle = %v, want ok = %v", tt.name, err, tt.ok)
		}
	}
}
