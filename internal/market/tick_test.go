package market

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestValidSymbol(t *testing.T) {
	good := []string{"BTC-USD", "AAPL", "EUR/USD", "BRK.B", "A", "X_1", strings.Repeat("Z", 32)}
	bad := []string{"", "btc-usd", "BTC USD", "BTC:USD", strings.Repeat("Z", 33), "Ä", "A*", "A>"}
	for _, s := range good {
		if !ValidSymbol(s) {
			t.Errorf("ValidSymbol(%q) = false, want true", s)
		}
	}
	for _, s := range bad {
		if ValidSymbol(s) {
			t.Errorf("ValidSymbol(%q) = true, want false", s)
		}
	}
}

func TestTickValidate(t *testing.T) {
	ok := Tick{Symbol: "BTC-USD", TS: 1764244800123, Price: 43123.5, Size: 0.25}
	tests := []struct {
		name  string
		edit  func(*Tick)
		field string
	}{
		{"valid", func(*Tick) {}, ""},
		{"zero size", func(t *Tick) { t.Size = 0 }, ""},
		{"bad symbol", func(t *Tick) { t.Symbol = "b" }, "symbol"},
		{"ts in seconds", func(t *Tick) { t.TS = 1764244800 }, "ts"},
		{"zero price", func(t *Tick) { t.Price = 0 }, "price"},
		{"NaN price", func(t *Tick) { t.Price = math.NaN() }, "price"},
		{"Inf price", func(t *Tick) { t.Price = math.Inf(1) }, "price"},
		{"negative size", func(t *Tick) { t.Size = -1 }, "size"},
		{"NaN size", func(t *Tick) { t.Size = math.NaN() }, "size"},
		{"Inf size", func(t *Tick) { t.Size = math.Inf(1) }, "size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tick := ok
			tt.edit(&tick)
			err := tick.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.field || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate() = %v, want a ValidationError on %q matching ErrInvalid", err, tt.field)
			}
		})
	}
}
