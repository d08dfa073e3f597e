package config

import (
	"time"

	"github.com/spf13/pflag"
)

// maxPersistLinger bounds --persist-linger: the store (GET /api/v1/ticks,
// candles of ranges memory does not hold, the API's closed-range cache,
// reports' wait) lags the log by up to this long at low rates.
const maxPersistLinger = 10 * time.Second

// persistFlags registers the persister's settings (decision 0071).
func persistFlags(fs *pflag.FlagSet) {
	fs.Duration("persist-linger", time.Second, "at low rates (a batch under 1,000 ticks 100ms after its first), how long after its first tick the persister writes a batch of on-time ticks: fewer, fuller transactions; the store lags the log by up to this long (100ms = no linger); set the same on every instance: api instances derive their closed-range grace from it")
}

// validatePersist checks the values of persistFlags, reporting each
// problem through bad.
func (c *Config) validatePersist(bad func(name, format string, args ...any)) {
	if c.PersistLinger < 100*time.Millisecond || c.PersistLinger > maxPersistLinger {
		bad("persist_linger", "must be between 100ms (no linger) and %s", maxPersistLinger)
	}
}
