package config

import "github.com/spf13/pflag"

// archiveFlags registers where ticks past the retention are archived
// (decision 0027): on disk by default, so retention never deletes market
// data silently.
func archiveFlags(fs *pflag.FlagSet) {
	fs.String("archive", "disk", "where ticks past --tick-retention go before they are deleted: disk (Parquet under the data dir's archive/), s3 (the --s3-bucket, under ticks/) or off (deleted unarchived)")
}

// validateArchive checks archiveFlags' values.
func (c *Config) validateArchive(bad func(name, format string, args ...any)) {
	switch c.Archive {
	case "off", "disk":
	case "s3":
		if c.S3Endpoint == "" || c.S3Bucket == "" {
			bad("archive", "s3 needs s3_endpoint and s3_bucket")
		}
	default:
		bad("archive", "must be off, disk or s3")
	}
}
