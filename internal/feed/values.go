package feed

import (
	"fmt"
	"strconv"

	"github.com/findash/findash/internal/market"
)

// parseDecimal parses a venue's decimal string ("0.01633102"), at most 64
// bytes long.
func parseDecimal(s string) (float64, error) {
	if len(s) == 0 || len(s) > 64 {
		return 0, fmt.Errorf("%d-byte number", len(s))
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		// s may view the message buffer (coinbasefast.go), which the next
		// read reuses: the error keeps only a copy (%q), not NumError.Num.
		if ne, ok := err.(*strconv.NumError); ok {
			err = ne.Err
		}
		return 0, fmt.Errorf("number %.20q: %w", s, err)
	}
	return v, nil
}

// validate checks t's values against the tick contract's widest bounds
// (market.Tick.Validate): a venue is network input like any other.
func validate(t *Trade) error {
	if t.ID < 0 {
		return fmt.Errorf("%w: negative trade id", errMalformed)
	}
	sym := t.Symbol
	if sym == "" {
		sym = "X" // a symbol the feed does not know: checked by the caller
	}
	tick := market.Tick{Symbol: sym, TS: t.TS, Price: t.Price, Size: t.Size}
	if err := tick.Validate(); err != nil {
		return fmt.Errorf("%w: %w", errMalformed, err)
	}
	return nil
}
