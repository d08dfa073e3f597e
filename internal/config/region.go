package config

import (
	"regexp"
	"slices"
	"time"

	"github.com/spf13/pflag"
)

// regionFlags registers the multi-region settings (decision 0036).
func regionFlags(fs *pflag.FlagSet) {
	fs.String("region", "", "name of this instance's region, added to every log line (multi-region); empty = a single region")
	fs.String("stream-mirror-domain", "", "JetStream domain of the primary region: this region's tick log mirrors that region's over the NATS leafnode link, and ticks ingested here are stored there; empty = this region holds the log")
	fs.Duration("region-stale-after", 3*time.Second, "in a mirror region, how long the primary region's log may go unheard (it sends a heartbeat every second) before WebSocket clients are told their data is stale")
}

// domainName is what NATS accepts as a JetStream domain.
var domainName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// validateRegion checks the values of regionFlags, reporting each problem
// through bad.
func (c *Config) validateRegion(bad func(name, format string, args ...any)) {
	if c.Region != "" && !domainName.MatchString(c.Region) {
		bad("region", "must be 1-64 characters of A-Z a-z 0-9 _ -")
	}
	if c.StreamMirrorDomain == "" {
		return
	}
	if !domainName.MatchString(c.StreamMirrorDomain) {
		bad("stream_mirror_domain", "must be 1-64 characters of A-Z a-z 0-9 _ - (a JetStream domain)")
	}
	if c.NATSURL == "" {
		bad("stream_mirror_domain", "needs nats_url: the embedded NATS server has no link to another region")
	}
	// The worker (persister, alert evaluator) runs in the primary region
	// only: a second one would evaluate every alert twice.
	if slices.Contains(c.Roles, "all") || slices.Contains(c.Roles, "worker") {
		bad("stream_mirror_domain", "a mirror region runs ingest, gateway and api; the worker runs in the primary region (set roles)")
	}
	if c.RegionStaleAfter < 1500*time.Millisecond || c.RegionStaleAfter > time.Minute {
		bad("region_stale_after", "must be between 1.5s (the primary's heartbeat is every second) and 1m")
	}
}
