package config

import (
	"time"

	"github.com/spf13/pflag"
)

// symbolFlags registers the symbol limits (docs/security.md "Symbols").
func symbolFlags(fs *pflag.FlagSet) {
	fs.Int("max-symbols", 10_000, "most symbols that may exist; a tick of a new symbol past it is refused (422 symbol_limit); -1 = no cap")
	fs.Bool("strict-symbols", false, "take ticks only of symbols registered with findash symbol add (else a symbol's first tick registers it, up to --max-symbols)")
	fs.Duration("symbol-idle-after", 25*time.Hour, "a symbol without ticks this long has its live state (24h statistics, open candles) freed, keeping its last quote")
}

// validateSymbols checks the values of symbolFlags, reporting each problem
// through bad.
func (c *Config) validateSymbols(bad func(name, format string, args ...any)) {
	if c.MaxSymbols == 0 || c.MaxSymbols < -1 {
		bad("max_symbols", "must be > 0, or -1 for no cap")
	}
	if c.Feed == "simulator" && c.MaxSymbols > 0 && c.SimulatorSymbols > c.MaxSymbols {
		bad("simulator_symbols", "must not exceed max_symbols (%d)", c.MaxSymbols)
	}
	if c.SymbolIdleAfter < time.Minute {
		bad("symbol_idle_after", "must be at least 1m (25h keeps every revived symbol's statistics exact)")
	}
}
