package config

import (
	"time"

	"github.com/spf13/pflag"
)

// maxLogPartitions bounds --log-partitions: every worker keeps a lease, a
// persister and an alert evaluator per owned partition, and the live feed
// scans every partition's position at start (docs/security.md).
const maxLogPartitions = 1024

// partitionFlags registers the partitioned-work settings (decision 0042).
func partitionFlags(fs *pflag.FlagSet) {
	fs.Int("log-partitions", 0, "split the tick log into this many partitions by symbol, each persisted and evaluated by the one worker holding its lease (0 = one unpartitioned log, every worker reads it all; change it only with a drained log, docs/operations.md)")
	fs.Int("log-partitions-from", -1, "change the tick log's partition layout: when the log is split into this many partitions (0 = unpartitioned), split it into --log-partitions from now on; without it an instance whose --log-partitions differs from the log's refuses to start (-1 = no change; only with a drained log, docs/operations.md)")
	fs.Duration("lease-ttl", 6*time.Second, "a partition lease lives this long without renewal (renewed every third of it): a killed worker's partitions move after at most this long plus a third of it")
}

// validatePartitions checks the values of partitionFlags, reporting each
// problem through bad.
func (c *Config) validatePartitions(bad func(name, format string, args ...any)) {
	if c.LogPartitions < 0 || c.LogPartitions > maxLogPartitions {
		bad("log_partitions", "must be between 0 and %d", maxLogPartitions)
	}
	if c.LogPartitionsFrom < -1 || c.LogPartitionsFrom > maxLogPartitions {
		bad("log_partitions_from", "must be -1 (no change) or between 0 and %d", maxLogPartitions)
	}
	if c.LeaseTTL < time.Second || c.LeaseTTL > 5*time.Minute {
		bad("lease_ttl", "must be between 1s (the server's expiry granularity) and 5m")
	}
}
